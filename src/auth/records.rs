//! The DNS records a mail domain publishes, as zone file text: MX, SPF
//! (RFC 7208), DKIM keys (RFC 6376 §3.6) and DMARC (RFC 7489). Pure text
//! building; `facteur dns-records` gathers the inputs.

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

/// The zone file text for a domain: one record per line (the DKIM ones
/// split into strings of at most 255 bytes), with `;` comments.
pub fn zone_text(s: &DomainSetup<'_>) -> String {
    let d = s.domain.trim_end_matches('.');
    let mx = s.mx_host.trim_end_matches('.');
    let mut out = String::new();
    let mut line = |l: &str| {
        out.push_str(l);
        out.push('\n');
    };
    line(&format!(
        "; DNS records for {d}: add them to the domain's zone."
    ));
    line(";");
    line("; MX: mail for the domain comes to this server.");
    line(&format!("{d}. IN MX 10 {mx}."));
    line(&format!(
        "; ({mx} needs A and/or AAAA records with this server's addresses.)"
    ));
    line(";");
    match s.relay_host {
        None => {
            line("; SPF (RFC 7208): the domain's mail is sent by its MX host only.");
            line(&format!("{d}. IN TXT \"v=spf1 mx -all\""));
        }
        Some(relay) => {
            line(&format!(
                "; SPF (RFC 7208): mail leaves through the relay {relay}, so its"
            ));
            line("; servers must be allowed too: put the include: that the provider");
            line("; documents in place of PROVIDER, then remove the leading \"; \".");
            line(&format!(
                "; {d}. IN TXT \"v=spf1 mx include:PROVIDER -all\""
            ));
        }
    }
    line(";");
    if s.dkim.is_empty() {
        line(&format!(
            "; DKIM: the domain has no key yet; run `facteur dkim generate {d}`."
        ));
    } else {
        line("; DKIM (RFC 6376): the public key of each signing key.");
        for k in s.dkim {
            line(&format!(
                "{}._domainkey.{d}. IN TXT {}",
                k.selector,
                txt_rdata(&k.text)
            ));
        }
    }
    line(";");
    line("; DMARC (RFC 7489): receivers quarantine mail that fails both SPF and");
    line(&format!(
        "; DKIM for {d}, and send daily reports to postmaster@{d}."
    ));
    line(&format!(
        "_dmarc.{d}. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}\""
    ));
    out
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
        let text = zone_text(&DomainSetup {
            domain: "example.com",
            mx_host: "mail.example.com",
            relay_host: None,
            dkim: &dkim,
        });
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
        let text = zone_text(&DomainSetup {
            domain: "example.org.",
            mx_host: "mx.example.net.",
            relay_host: Some("smtp.provider.test"),
            dkim: &[],
        });
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
