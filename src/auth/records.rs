//! The DNS records a mail domain publishes: MX, SPF (RFC 7208), DKIM keys
//! (RFC 6376 §3.6) and DMARC (RFC 7489), as a typed list ([`Record`]) and
//! as zone file text. Pure; `facteur dns-records` gathers the inputs and
//! adds the client service records of [`crate::provision::records`].

/// Longest character-string in a TXT record (RFC 1035 §3.3).
pub const MAX_TXT_STRING: usize = 255;

/// One DKIM key record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    /// The selector (the record lives at `<selector>._domainkey.<domain>`).
    pub selector: String,
    /// The record text, `v=DKIM1; k=...; p=...`.
    pub text: String,
}

/// What the records of a domain depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSetup<'a> {
    /// The mail domain, e.g. `example.com`.
    pub domain: &'a str,
    /// This server's host name, the MX target (`server.hostname`).
    pub mx_host: &'a str,
    /// The smarthost all outbound mail goes through (`[relay] host`), if any.
    pub relay_host: Option<&'a str>,
    /// The domain's DKIM keys.
    pub dkim: &'a [DkimRecord],
}

/// The type of a record to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Mail exchanger (RFC 1035 §3.3.9).
    Mx,
    /// Text (RFC 1035 §3.3.14).
    Txt,
    /// Service location (RFC 2782).
    Srv,
    /// Canonical name (RFC 1035 §3.3.1).
    Cname,
}

impl Kind {
    /// The type's name in zone files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mx => "MX",
            Kind::Txt => "TXT",
            Kind::Srv => "SRV",
            Kind::Cname => "CNAME",
        }
    }
}

/// One record to publish, for a zone file or a web page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name, without the trailing dot.
    pub name: String,
    /// Its type.
    pub kind: Kind,
    /// The record data: for TXT the text itself (unquoted, unsplit); for
    /// the others the zone file form, names with their trailing dot
    /// (`10 mail.example.com.`).
    pub value: String,
    /// What it is for, in a sentence (shown before it).
    pub purpose: String,
    /// The value has a part the administrator must fill in (e.g. the
    /// relay provider's SPF include): shown, but commented out.
    pub template: bool,
}

impl Record {
    fn new(name: String, kind: Kind, value: String, purpose: &str) -> Record {
        Record {
            name,
            kind,
            value,
            purpose: purpose.to_string(),
            template: false,
        }
    }

    /// The record as one zone file line: `name. IN TYPE data`.
    pub fn zone_line(&self) -> String {
        let data = match self.kind {
            Kind::Txt => txt_rdata(&self.value),
            _ => self.value.clone(),
        };
        format!("{}. IN {} {data}", self.name, self.kind.name())
    }
}

/// The MX, SPF, DKIM and DMARC records of a domain.
pub fn auth_records(s: &DomainSetup<'_>) -> Vec<Record> {
    let d = s.domain.trim_end_matches('.');
    let mx = s.mx_host.trim_end_matches('.');
    let mut out = vec![Record::new(
        d.into(),
        Kind::Mx,
        format!("10 {mx}."),
        &format!(
            "MX: mail for the domain comes to this server ({mx} needs A and/or \
             AAAA records with this server's addresses)."
        ),
    )];
    match s.relay_host {
        None => out.push(Record::new(
            d.into(),
            Kind::Txt,
            "v=spf1 mx -all".into(),
            "SPF (RFC 7208): the domain's mail is sent by its MX host only.",
        )),
        Some(relay) => out.push(Record {
            template: true,
            ..Record::new(
                d.into(),
                Kind::Txt,
                "v=spf1 mx include:PROVIDER -all".into(),
                &format!(
                    "SPF (RFC 7208): mail leaves through the relay {relay}, so its \
                     servers must be allowed too: put the include: that the provider \
                     documents in place of PROVIDER."
                ),
            )
        }),
    }
    for k in s.dkim {
        out.push(Record::new(
            format!("{}._domainkey.{d}", k.selector),
            Kind::Txt,
            k.text.clone(),
            "DKIM (RFC 6376): the public key of each signing key.",
        ));
    }
    out.push(Record::new(
        format!("_dmarc.{d}"),
        Kind::Txt,
        format!("v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}"),
        &format!(
            "DMARC (RFC 7489): receivers quarantine mail that fails both SPF and \
             DKIM for {d}, and send daily reports to postmaster@{d}."
        ),
    ));
    out
}

/// The zone file text for the records of a domain: one record per line
/// (long TXT data split into strings of at most 255 bytes), each group
/// after its purpose as `;` comments. Templates are commented out. A
/// domain without DKIM keys gets a note saying how to make one.
pub fn zone_text(domain: &str, records: &[Record]) -> String {
    let d = domain.trim_end_matches('.');
    let mut out = format!("; DNS records for {d}: add them to the domain's zone.\n");
    let mut last_purpose = None;
    let comment = |out: &mut String, text: &str| {
        out.push_str(";\n");
        for line in wrap(text, 76) {
            out.push_str("; ");
            out.push_str(&line);
            out.push('\n');
        }
    };
    let has_dkim = records.iter().any(|r| r.name.contains("._domainkey."));
    for r in records {
        if r.name.starts_with("_dmarc.") && !has_dkim {
            comment(
                &mut out,
                &format!("DKIM: the domain has no key yet; run `facteur dkim generate {d}`."),
            );
        }
        if last_purpose != Some(&r.purpose) {
            comment(&mut out, &r.purpose);
            last_purpose = Some(&r.purpose);
        }
        if r.template {
            out.push_str("; ");
        }
        out.push_str(&r.zone_line());
        out.push('\n');
    }
    out
}

/// Splits text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// TXT record data in zone file syntax: one quoted string, or several in
/// parentheses when the text is longer than [`MAX_TXT_STRING`] bytes
/// (receivers join them, RFC 6376 §3.6.2.2). Quotes and backslashes are
/// escaped (RFC 1035 §5.1).
pub fn txt_rdata(text: &str) -> String {
    let parts = txt_strings(text);
    let quoted: Vec<String> = parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if quoted.len() == 1 {
        quoted.concat()
    } else {
        format!("( {} )", quoted.join(" "))
    }
}

/// Splits text into strings of at most [`MAX_TXT_STRING`] bytes, at
/// character boundaries.
pub fn txt_strings(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > MAX_TXT_STRING {
        let mut cut = MAX_TXT_STRING;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        parts.push(head);
        rest = tail;
    }
    parts.push(rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with(';')).collect()
    }

    #[test]
    fn direct_delivery_domain() {
        let key = format!("v=DKIM1; k=rsa; p={}", "A".repeat(392));
        let dkim = [
            DkimRecord {
                selector: "rsa-20261128".into(),
                text: key.clone(),
            },
            DkimRecord {
                selector: "ed25519-20261128".into(),
                text: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
            },
        ];
        let text = zone_text(
            "example.com",
            &auth_records(&DomainSetup {
                domain: "example.com",
                mx_host: "mail.example.com",
                relay_host: None,
                dkim: &dkim,
            }),
        );
        let r = records(&text);
        assert_eq!(r.len(), 5, "{text}");
        assert_eq!(r[0], "example.com. IN MX 10 mail.example.com.");
        assert_eq!(r[1], "example.com. IN TXT \"v=spf1 mx -all\"");
        let (first, second) = key.split_at(255);
        assert_eq!(
            r[2],
            format!("rsa-20261128._domainkey.example.com. IN TXT ( \"{first}\" \"{second}\" )")
        );
        assert_eq!(
            r[3],
            "ed25519-20261128._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\""
        );
        assert_eq!(
            r[4],
            "_dmarc.example.com. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com\""
        );
    }

    #[test]
    fn relayed_domain_without_keys() {
        let text = zone_text(
            "example.org.",
            &auth_records(&DomainSetup {
                domain: "example.org.",
                mx_host: "mx.example.net.",
                relay_host: Some("smtp.provider.test"),
                dkim: &[],
            }),
        );
        let r = records(&text);
        // The SPF record needs the provider's include, so it is only shown
        // as a comment to complete.
        assert_eq!(r.len(), 2, "{text}");
        assert_eq!(r[0], "example.org. IN MX 10 mx.example.net.");
        assert!(r[1].starts_with("_dmarc.example.org. IN TXT"));
        assert!(text.contains("relay smtp.provider.test"));
        assert!(text.contains("; example.org. IN TXT \"v=spf1 mx include:PROVIDER -all\""));
        assert!(text.contains("facteur dkim generate example.org"));
    }

    #[test]
    fn txt_splitting_and_escaping() {
        assert_eq!(txt_strings(""), [""]);
        assert_eq!(txt_strings(&"a".repeat(255)), ["a".repeat(255)]);
        let long = "b".repeat(600);
        let parts = txt_strings(&long);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(parts.concat(), long);
        // Never inside a character.
        let accented = "é".repeat(200);
        let parts = txt_strings(&accented);
        assert!(parts.iter().all(|p| p.len() <= 255));
        assert_eq!(parts.concat(), accented);
        assert_eq!(txt_rdata("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
