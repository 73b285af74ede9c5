//! Which of our folders an old folder's mail goes to: `--folder-map`
//! first, then the RFC 6154 special use the source gives, then the names
//! other providers use for their special folders ("Sent Items", "Deleted
//! Items", "Junk E-mail", `[Gmail]/...`), then the same name.

use crate::store::records::SpecialUse;

/// Where a folder's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Our mailbox with this special use.
    Special(SpecialUse),
    /// A mailbox by name.
    Named(String),
}

/// Names of special folders at other providers and in other servers'
/// defaults, compared without regard to case.
const KNOWN: &[(&str, SpecialUse)] = &[
    ("Sent", SpecialUse::Sent),
    ("Sent Items", SpecialUse::Sent),
    ("Sent Messages", SpecialUse::Sent),
    ("Sent Mail", SpecialUse::Sent),
    ("[Gmail]/Sent Mail", SpecialUse::Sent),
    ("[Google Mail]/Sent Mail", SpecialUse::Sent),
    ("Drafts", SpecialUse::Drafts),
    ("[Gmail]/Drafts", SpecialUse::Drafts),
    ("[Google Mail]/Drafts", SpecialUse::Drafts),
    ("Trash", SpecialUse::Trash),
    ("Deleted Items", SpecialUse::Trash),
    ("Deleted Messages", SpecialUse::Trash),
    ("Bin", SpecialUse::Trash),
    ("[Gmail]/Trash", SpecialUse::Trash),
    ("[Gmail]/Bin", SpecialUse::Trash),
    ("[Google Mail]/Trash", SpecialUse::Trash),
    ("[Google Mail]/Bin", SpecialUse::Trash),
    ("Junk", SpecialUse::Junk),
    ("Junk E-mail", SpecialUse::Junk),
    ("Junk Email", SpecialUse::Junk),
    ("Spam", SpecialUse::Junk),
    ("Bulk Mail", SpecialUse::Junk),
    ("[Gmail]/Spam", SpecialUse::Junk),
    ("[Google Mail]/Spam", SpecialUse::Junk),
    ("Archive", SpecialUse::Archive),
    ("Archives", SpecialUse::Archive),
    // Gmail keeps mail without a label only here.
    ("[Gmail]/All Mail", SpecialUse::Archive),
    ("[Google Mail]/All Mail", SpecialUse::Archive),
];

/// Gmail's views of mail that is also in a real folder: importing them
/// would only make copies.
const VIEWS: &[&str] = &[
    "[Gmail]/Starred",
    "[Gmail]/Important",
    "[Google Mail]/Starred",
    "[Google Mail]/Important",
];

/// Our folder for `source` (its levels separated by `/`), given the
/// special-use attribute the source server listed for it (`\Sent`...)
/// and the `--folder-map` pairs. `None`: the folder is skipped.
pub fn map(source: &str, special: Option<&str>, folder_map: &[(String, String)]) -> Option<Target> {
    if let Some((_, new)) = folder_map.iter().find(|(old, _)| same(old, source)) {
        return (!new.is_empty()).then(|| Target::Named(inbox_case(new)));
    }
    if let Some(use_) = special.and_then(special_use) {
        return Some(Target::Special(use_));
    }
    if special.is_some_and(|a| a.eq_ignore_ascii_case("\\Flagged"))
        || VIEWS.iter().any(|v| same(v, source))
    {
        return None;
    }
    if let Some((_, use_)) = KNOWN.iter().find(|(n, _)| same(n, source)) {
        return Some(Target::Special(*use_));
    }
    Some(Target::Named(inbox_case(source)))
}

/// The name a special use has in a new account.
pub fn default_name(use_: SpecialUse) -> &'static str {
    crate::store::DEFAULT_MAILBOXES
        .iter()
        .find(|(_, u)| *u == Some(use_))
        .map_or("INBOX", |(n, _)| n)
}

/// The special use of an RFC 6154 attribute; `\All` is mail kept in no
/// other folder only at Gmail, where it is the archive.
fn special_use(attr: &str) -> Option<SpecialUse> {
    Some(match attr.to_ascii_lowercase().as_str() {
        "\\sent" => SpecialUse::Sent,
        "\\drafts" => SpecialUse::Drafts,
        "\\junk" => SpecialUse::Junk,
        "\\trash" => SpecialUse::Trash,
        "\\archive" | "\\all" => SpecialUse::Archive,
        _ => return None,
    })
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// INBOX is INBOX in any case (RFC 9051 §5.1).
fn inbox_case(name: &str) -> String {
    match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(s: &str) -> Option<Target> {
        Some(Target::Named(s.to_string()))
    }

    #[test]
    fn other_providers_special_folders_go_to_ours() {
        let none: &[(String, String)] = &[];
        for (name, want) in [
            ("Sent Items", SpecialUse::Sent),
            ("Deleted Items", SpecialUse::Trash),
            ("Junk E-mail", SpecialUse::Junk),
            ("[Gmail]/Sent Mail", SpecialUse::Sent),
            ("[Gmail]/Spam", SpecialUse::Junk),
            ("[gmail]/trash", SpecialUse::Trash),
            ("[Gmail]/All Mail", SpecialUse::Archive),
        ] {
            assert_eq!(map(name, None, none), Some(Target::Special(want)), "{name}");
        }
        assert_eq!(map("[Gmail]/Starred", None, none), None);
        assert_eq!(map("inbox", None, none), named("INBOX"));
        assert_eq!(map("Inbox/Sub", None, none), named("INBOX/Sub"));
        assert_eq!(map("Projects/2024", None, none), named("Projects/2024"));
    }

    #[test]
    fn special_use_attributes_win_over_names_and_the_map_over_both() {
        let none: &[(String, String)] = &[];
        assert_eq!(
            map("Gesendet", Some("\\Sent"), none),
            Some(Target::Special(SpecialUse::Sent))
        );
        assert_eq!(map("Markiert", Some("\\Flagged"), none), None);
        let m = vec![
            ("Sent Items".to_string(), "Old sent".to_string()),
            ("Noise".to_string(), String::new()),
        ];
        assert_eq!(map("sent items", Some("\\Sent"), &m), named("Old sent"));
        assert_eq!(map("Noise", None, &m), None);
        assert_eq!(default_name(SpecialUse::Junk), "Junk");
    }
}
