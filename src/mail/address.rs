//! Address lists of header fields (RFC 5322 §3.4), parsed leniently into
//! the pieces IMAP's ENVELOPE reports (RFC 3501 §7.4.2): display name,
//! source route, mailbox and host, with group markers.
//!
//! The input is one unfolded field value, bounded by the caller.

use super::header::is_wsp;

/// Placed where an address has no local part, so that a client never takes
/// it for a group marker (which is the only address with a NIL host).
pub const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
/// Placed where an address has no domain.
pub const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

/// Most addresses kept from one field; a field listing more is cut there.
pub const MAX_ADDRESSES: usize = 500;

/// One item of an address list, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A mailbox (RFC 5322 §3.4 `mailbox`).
    Mailbox {
        /// Display name (quoted strings unquoted, words joined by one
        /// space; a trailing comment stands in when there is none).
        name: Option<Vec<u8>>,
        /// Obsolete source route (`@a,@b`), RFC 5322 §4.4.
        route: Option<Vec<u8>>,
        /// Local part.
        mailbox: Vec<u8>,
        /// Domain.
        host: Vec<u8>,
    },
    /// The start of a group (RFC 5322 §3.4 `group`), with its name.
    GroupStart(Vec<u8>),
    /// The end of a group.
    GroupEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An atom, quoted string or domain literal; `bool`: quoted.
    Word(Vec<u8>, bool),
    Comment(Vec<u8>),
    Special(u8),
}

fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            _ if is_wsp(b) || b == b'\r' || b == b'\n' => i += 1,
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while let Some(&c) = s.get(i) {
                    i += 1;
                    match c {
                        b'(' => {
                            if depth > 0 {
                                text.push(c);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        b'\\' => {
                            if let Some(&n) = s.get(i) {
                                text.push(n);
                                i += 1;
                            }
                        }
                        _ => text.push(c),
                    }
                }
                out.push(Tok::Comment(text));
            }
            b'"' => {
                i += 1;
                let mut text = Vec::new();
                while let Some(&c) = s.get(i) {
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            if let Some(&n) = s.get(i) {
                                text.push(n);
                                i += 1;
                            }
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(c),
                    }
                }
                out.push(Tok::Word(text, true));
            }
            b'[' => {
                let start = i;
                while let Some(&c) = s.get(i) {
                    i += 1;
                    if c == b']' {
                        break;
                    }
                }
                out.push(Tok::Word(
                    s.get(start..i).unwrap_or_default().to_vec(),
                    false,
                ));
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' => {
                out.push(Tok::Special(b));
                i += 1;
            }
            // A `)` with no comment open is not part of any token; the
            // word arm below would stop on it without moving on.
            b')' => i += 1,
            _ => {
                let start = i;
                while let Some(&c) = s.get(i) {
                    if is_wsp(c) || b"\r\n()\"[<>@,;:".contains(&c) {
                        break;
                    }
                    i += 1;
                }
                out.push(Tok::Word(
                    s.get(start..i).unwrap_or_default().to_vec(),
                    false,
                ));
            }
        }
    }
    out
}

/// Parses an address list (RFC 5322 §3.4 `address-list`), leniently as
/// mail in the wild demands: missing local parts or domains are filled with
/// [`MISSING_MAILBOX`] / [`MISSING_DOMAIN`], empty list items are skipped,
/// and an unclosed group is closed at the end.
pub fn parse_list(value: &[u8]) -> Vec<Address> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    let mut in_group = false;
    let mut i = 0;
    while i < toks.len() && out.len() < MAX_ADDRESSES {
        // Collect one item: up to `,` or `;` (or `:` for a group start),
        // with `<...>` taken whole.
        let mut phrase: Vec<&Tok> = Vec::new();
        let mut angle: Option<Vec<&Tok>> = None;
        let mut after_angle: Vec<&Tok> = Vec::new();
        let mut ended_by = None;
        while let Some(t) = toks.get(i) {
            i += 1;
            match t {
                Tok::Special(b',') => {
                    ended_by = Some(b',');
                    break;
                }
                Tok::Special(b';') => {
                    ended_by = Some(b';');
                    break;
                }
                Tok::Special(b':') if !in_group && angle.is_none() => {
                    ended_by = Some(b':');
                    break;
                }
                Tok::Special(b'<') if angle.is_none() => {
                    let mut inner = Vec::new();
                    while let Some(t) = toks.get(i) {
                        i += 1;
                        if *t == Tok::Special(b'>') {
                            break;
                        }
                        inner.push(t);
                    }
                    angle = Some(inner);
                }
                _ if angle.is_some() => after_angle.push(t),
                _ => phrase.push(t),
            }
        }
        if ended_by == Some(b':') {
            out.push(Address::GroupStart(
                join_phrase(&phrase).unwrap_or_default(),
            ));
            in_group = true;
            continue;
        }
        let item = match angle {
            Some(inner) => {
                let name = join_phrase(&phrase).or_else(|| last_comment(&after_angle));
                Some(mailbox_from(&inner, name))
            }
            None if phrase.iter().any(|t| matches!(t, Tok::Word(..))) => {
                let name = last_comment(&phrase);
                Some(mailbox_from(&phrase, name))
            }
            None => None,
        };
        if let Some(item) = item {
            out.push(item);
        }
        if ended_by == Some(b';') && in_group {
            out.push(Address::GroupEnd);
            in_group = false;
        }
    }
    if in_group {
        out.push(Address::GroupEnd);
    }
    out
}

/// The list as a client shows it: each mailbox as its display name with
/// RFC 2047 encoded words decoded, then `<local@domain>`, separated by
/// `, `; group names end with `:`. Used where a search matches an address
/// field against what the user sees (RFC 3501 §6.4.4 FROM, TO, CC, BCC).
pub fn display(list: &[Address]) -> String {
    let mut out = String::new();
    for a in list {
        if !out.is_empty() && !out.ends_with(": ") && *a != Address::GroupEnd {
            out.push_str(", ");
        }
        match a {
            Address::Mailbox {
                name,
                mailbox,
                host,
                ..
            } => {
                if let Some(n) = name {
                    out.push_str(&super::header::decode_words(n));
                    out.push(' ');
                }
                out.push('<');
                out.push_str(&String::from_utf8_lossy(mailbox));
                out.push('@');
                out.push_str(&String::from_utf8_lossy(host));
                out.push('>');
            }
            Address::GroupStart(name) => {
                out.push_str(&super::header::decode_words(name));
                out.push_str(": ");
            }
            Address::GroupEnd => out.push(';'),
        }
    }
    out
}

/// A display name: its words joined by single spaces.
fn join_phrase(toks: &[&Tok]) -> Option<Vec<u8>> {
    let mut name = Vec::new();
    let mut any = false;
    for t in toks {
        if let Tok::Word(w, _) = t {
            if any {
                name.push(b' ');
            }
            name.extend_from_slice(w);
            any = true;
        }
    }
    any.then_some(name)
}

fn last_comment(toks: &[&Tok]) -> Option<Vec<u8>> {
    toks.iter().rev().find_map(|t| match t {
        Tok::Comment(c) if !c.is_empty() => Some(c.clone()),
        _ => None,
    })
}

/// Builds a mailbox from `[route ":"] local "@" domain` tokens.
fn mailbox_from(toks: &[&Tok], name: Option<Vec<u8>>) -> Address {
    let mut toks: Vec<&Tok> = toks
        .iter()
        .copied()
        .filter(|t| !matches!(t, Tok::Comment(_)))
        .collect();
    // RFC 5322 §4.4 obs-route: `@a,@b:` before the address.
    let mut route = None;
    if toks.first() == Some(&&Tok::Special(b'@')) {
        if let Some(colon) = toks.iter().position(|t| **t == Tok::Special(b':')) {
            let mut r = Vec::new();
            for t in toks.get(..colon).unwrap_or_default() {
                match t {
                    Tok::Word(w, _) => r.extend_from_slice(w),
                    Tok::Special(c) => r.push(*c),
                    Tok::Comment(_) => {}
                }
            }
            route = Some(r);
            toks.drain(..=colon);
        }
    }
    let at = toks.iter().rposition(|t| **t == Tok::Special(b'@'));
    let (local, domain) = match at {
        Some(a) => (
            toks.get(..a).unwrap_or_default(),
            toks.get(a + 1..).unwrap_or_default(),
        ),
        None => (toks.as_slice(), &[][..]),
    };
    let concat = |ts: &[&Tok]| {
        let mut v = Vec::new();
        for t in ts {
            if let Tok::Word(w, _) = t {
                v.extend_from_slice(w);
            }
        }
        v
    };
    let mut mailbox = concat(local);
    let mut host = concat(domain);
    if mailbox.is_empty() {
        mailbox = MISSING_MAILBOX.to_vec();
    }
    if host.is_empty() {
        host = MISSING_DOMAIN.to_vec();
    }
    Address::Mailbox {
        name,
        route,
        mailbox,
        host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, mailbox: &str, host: &str) -> Address {
        Address::Mailbox {
            name: name.map(|n| n.as_bytes().to_vec()),
            route: None,
            mailbox: mailbox.into(),
            host: host.into(),
        }
    }

    #[test]
    fn plain_and_named_addresses() {
        assert_eq!(
            parse_list(b"user@example.com"),
            vec![mb(None, "user", "example.com")]
        );
        assert_eq!(
            parse_list(b"\"Joe Q. Public\" <john.q.public@example.com>"),
            vec![mb(Some("Joe Q. Public"), "john.q.public", "example.com")]
        );
        assert_eq!(
            parse_list(b"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            vec![
                mb(Some("Mary Smith"), "mary", "x.test"),
                mb(None, "jdoe", "example.org"),
                mb(Some("Who?"), "one", "y.test"),
            ]
        );
        assert_eq!(
            parse_list(b"=?utf-8?Q?J=C3=B6rg?= <j@x.test>"),
            vec![mb(Some("=?utf-8?Q?J=C3=B6rg?="), "j", "x.test")]
        );
    }

    #[test]
    fn comments_quotes_and_routes() {
        assert_eq!(
            parse_list(b"pete(his account)@silly.test(his host)"),
            vec![mb(Some("his host"), "pete", "silly.test")]
        );
        assert_eq!(
            parse_list(b"\"a\\\"b\"@x.test (Real Name)"),
            vec![mb(Some("Real Name"), "a\"b", "x.test")]
        );
        assert_eq!(
            parse_list(b"Jo <@a.test,@b.test:jo@c.test>"),
            vec![Address::Mailbox {
                name: Some(b"Jo".to_vec()),
                route: Some(b"@a.test,@b.test".to_vec()),
                mailbox: b"jo".to_vec(),
                host: b"c.test".to_vec(),
            }]
        );
        assert_eq!(
            parse_list(b"x@[192.0.2.1]"),
            vec![mb(None, "x", "[192.0.2.1]")]
        );
    }

    #[test]
    fn groups() {
        // RFC 5322 §A.1.3.
        assert_eq!(
            parse_list(
                b"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Undisclosed recipients:;"
            ),
            vec![
                Address::GroupStart(b"A Group".to_vec()),
                mb(Some("Ed Jones"), "c", "a.test"),
                mb(None, "joe", "where.test"),
                mb(Some("John"), "jdoe", "one.test"),
                Address::GroupEnd,
                Address::GroupStart(b"Undisclosed recipients".to_vec()),
                Address::GroupEnd,
            ]
        );
        // An unclosed group is closed.
        assert_eq!(
            parse_list(b"g: a@b"),
            vec![
                Address::GroupStart(b"g".to_vec()),
                mb(None, "a", "b"),
                Address::GroupEnd
            ]
        );
    }

    #[test]
    fn broken_addresses_are_filled() {
        assert_eq!(
            parse_list(b"user"),
            vec![mb(None, "user", "MISSING_DOMAIN")]
        );
        assert_eq!(
            parse_list(b"@host"),
            vec![mb(None, "MISSING_MAILBOX", "host")]
        );
        assert_eq!(parse_list(b" , ,a@b,,"), vec![mb(None, "a", "b")]);
        assert_eq!(parse_list(b""), vec![]);
        assert_eq!(parse_list(b"(just a comment)"), vec![]);
        assert_eq!(
            parse_list(b"<>"),
            vec![mb(None, "MISSING_MAILBOX", "MISSING_DOMAIN")]
        );
    }

    #[test]
    fn address_count_is_bounded() {
        let mut v = Vec::new();
        for i in 0..2000 {
            v.extend_from_slice(format!("u{i}@x,").as_bytes());
        }
        assert_eq!(parse_list(&v).len(), MAX_ADDRESSES);
    }

    #[test]
    fn stray_closing_parenthesis_is_skipped() {
        // A `)` outside a comment once stopped the tokenizer from moving
        // on, filling memory with empty words.
        assert_eq!(
            parse_list(b"Ann) <a@example.com>, b@example.com)"),
            vec![
                mb(Some("Ann"), "a", "example.com"),
                mb(None, "b", "example.com")
            ]
        );
    }

    #[test]
    fn display_decodes_names_and_drops_quotes_and_comments() {
        let shown = |v: &[u8]| display(&parse_list(v));
        assert_eq!(
            shown(b"\"=?utf-8?q?J=C3=B6rg?=\" <\"j\"@x.test>"),
            "J\u{f6}rg <j@x.test>"
        );
        assert_eq!(
            shown(b"user(c)@x.test (Name), b @ y.test"),
            "Name <user@x.test>, <b@y.test>"
        );
        assert_eq!(shown(b"team: a@x.test;"), "team: <a@x.test>;");
    }
}
