//! The Apple configuration profile (`.mobileconfig`) that sets up one
//! mail account on an iPhone, iPad or Mac: a property list (XML plist)
//! with one `com.apple.mail.managed` payload (Apple's "Configuration
//! Profile Reference", Mail payload). Unsigned: the device shows it as
//! not verified, and the user confirms it.

use super::settings::{our_address, AddressError, ClientSettings, Protocol, Security};
use super::xml::escape;
use crate::config::Config;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt::Write;

/// The profile for `email`, whose domain must be one of `domains`. The
/// account uses IMAP when it is on, else POP3, and the preferred
/// submission server; the password is asked on the device.
pub fn mobileconfig(cfg: &Config, domains: &[String], email: &str) -> Result<String, AddressError> {
    let address = our_address(domains, email)?;
    let s = ClientSettings::new(cfg);
    let host = &cfg.server.hostname.0;
    // The reverse-DNS identifiers Apple asks for, unique per account.
    let base: String = host.split('.').rev().collect::<Vec<_>>().join(".");
    let id = format!("{base}.mail.{}", identifier_part(&address));
    let mut p = Plist::default();
    p.open_dict();
    p.entry("PayloadContent");
    p.raw("<array>");
    p.open_dict();
    let kind = match s.preferred_incoming().map(|e| e.protocol) {
        Some(Protocol::Pop3) => "EmailTypePOP",
        _ => "EmailTypeIMAP",
    };
    p.string("EmailAccountType", kind);
    p.string("EmailAccountDescription", &address);
    p.string("EmailAddress", &address);
    if let Some(e) = s.preferred_incoming() {
        p.string("IncomingMailServerAuthentication", "EmailAuthPassword");
        p.string("IncomingMailServerHostName", &e.host);
        p.integer("IncomingMailServerPortNumber", e.port);
        // "Use SSL" on a plain port means STARTTLS to Apple Mail.
        p.boolean(
            "IncomingMailServerUseSSL",
            matches!(e.security, Security::Tls | Security::StartTls),
        );
        p.string("IncomingMailServerUsername", &address);
    }
    if let Some(e) = s.outgoing() {
        p.string("OutgoingMailServerAuthentication", "EmailAuthPassword");
        p.string("OutgoingMailServerHostName", &e.host);
        p.integer("OutgoingMailServerPortNumber", e.port);
        p.boolean("OutgoingMailServerUseSSL", true);
        p.string("OutgoingMailServerUsername", &address);
        p.boolean("OutgoingPasswordSameAsIncomingPassword", true);
    }
    p.string("PayloadDisplayName", &format!("Mail: {address}"));
    p.string("PayloadIdentifier", &format!("{id}.account"));
    p.string("PayloadType", "com.apple.mail.managed");
    p.string("PayloadUUID", &uuid());
    p.integer("PayloadVersion", 1);
    p.close_dict();
    p.raw("</array>");
    p.string("PayloadDisplayName", &format!("Mail for {address}"));
    p.string(
        "PayloadDescription",
        &format!("Sets up the mail account {address} on {host}."),
    );
    p.string("PayloadIdentifier", &id);
    p.string("PayloadOrganization", host);
    p.boolean("PayloadRemovalDisallowed", false);
    p.string("PayloadType", "Configuration");
    p.string("PayloadUUID", &uuid());
    p.integer("PayloadVersion", 1);
    p.close_dict();
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n{}</plist>\n",
        p.out
    ))
}

/// A random (version 4) UUID, RFC 9562 §5.4, in upper case as Apple
/// writes them.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    // SystemRandom reads the OS's generator; should that ever fail, a
    // time-less fallback keeps the profile usable (UUIDs only need to
    // differ between profiles the device holds).
    if SystemRandom::new().fill(&mut b).is_err() {
        b = *b"facteur-profile!";
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An address as an identifier part: letters, digits, `-` and `.`.
fn identifier_part(address: &str) -> String {
    address
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '.' => c,
            _ => '-',
        })
        .collect()
}

/// Writes plist XML with indentation.
#[derive(Default)]
struct Plist {
    out: String,
    depth: usize,
}

impl Plist {
    fn raw(&mut self, s: &str) {
        if s.starts_with("</") {
            self.depth = self.depth.saturating_sub(1);
        }
        let _ = writeln!(self.out, "{}{s}", "  ".repeat(self.depth));
        if !s.starts_with("</") && !s.ends_with("/>") && !s.contains("</") {
            self.depth += 1;
        }
    }
    fn open_dict(&mut self) {
        self.raw("<dict>");
    }
    fn close_dict(&mut self) {
        self.raw("</dict>");
    }
    fn entry(&mut self, key: &str) {
        self.raw(&format!("<key>{}</key>", escape(key)));
    }
    fn string(&mut self, key: &str, value: &str) {
        self.entry(key);
        self.raw(&format!("<string>{}</string>", escape(value)));
    }
    fn integer(&mut self, key: &str, value: u16) {
        self.entry(key);
        self.raw(&format!("<integer>{value}</integer>"));
    }
    fn boolean(&mut self, key: &str, value: bool) {
        self.entry(key);
        self.raw(if value { "<true/>" } else { "<false/>" });
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::tests::{config, domains, ALL_ON};
    use super::super::xml::{parse, Element};
    use super::*;

    /// The value element after `<key>key</key>` in a plist dict.
    fn get<'a>(dict: &'a Element, key: &str) -> &'a Element {
        assert_eq!(dict.name, "dict");
        let at = dict
            .children
            .iter()
            .position(|c| c.name == "key" && c.text == key)
            .unwrap_or_else(|| panic!("no key {key}"));
        assert_eq!(
            dict.children
                .iter()
                .filter(|c| c.name == "key" && c.text == key)
                .count(),
            1,
            "{key} twice"
        );
        &dict.children[at + 1]
    }

    fn string<'a>(dict: &'a Element, key: &str) -> &'a str {
        let v = get(dict, key);
        assert_eq!(v.name, "string", "{key}");
        &v.text
    }

    fn integer(dict: &Element, key: &str) -> u16 {
        let v = get(dict, key);
        assert_eq!(v.name, "integer", "{key}");
        v.text.parse().expect("integer")
    }

    fn is_uuid(s: &str) -> bool {
        let parts: Vec<usize> = s.split('-').map(str::len).collect();
        parts == [8, 4, 4, 4, 12]
            && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
            && s.as_bytes()[14] == b'4'
    }

    #[test]
    fn one_imap_account() {
        let cfg = config(ALL_ON);
        let doc = mobileconfig(&cfg, &domains(), "ann@example.com").expect("ours");
        let root = parse(doc.as_bytes()).expect("well-formed");
        assert_eq!(root.name, "plist");
        let top = root.child("dict").expect("dict");
        assert_eq!(string(top, "PayloadType"), "Configuration");
        assert_eq!(integer(top, "PayloadVersion"), 1);
        assert_eq!(
            string(top, "PayloadIdentifier"),
            "com.example.mail.mail.ann-example.com"
        );
        let content = get(top, "PayloadContent");
        assert_eq!(content.name, "array");
        assert_eq!(content.children.len(), 1);
        let mail = &content.children[0];
        assert_eq!(string(mail, "PayloadType"), "com.apple.mail.managed");
        assert_eq!(string(mail, "EmailAccountType"), "EmailTypeIMAP");
        assert_eq!(string(mail, "EmailAddress"), "ann@example.com");
        assert_eq!(
            string(mail, "IncomingMailServerHostName"),
            "mail.example.com"
        );
        assert_eq!(integer(mail, "IncomingMailServerPortNumber"), 2993);
        assert_eq!(get(mail, "IncomingMailServerUseSSL").name, "true");
        assert_eq!(
            string(mail, "IncomingMailServerUsername"),
            "ann@example.com"
        );
        assert_eq!(
            string(mail, "OutgoingMailServerHostName"),
            "mail.example.com"
        );
        assert_eq!(integer(mail, "OutgoingMailServerPortNumber"), 2465);
        assert_eq!(get(mail, "OutgoingMailServerUseSSL").name, "true");
        assert_eq!(
            string(mail, "OutgoingMailServerUsername"),
            "ann@example.com"
        );
        let (u1, u2) = (string(top, "PayloadUUID"), string(mail, "PayloadUUID"));
        assert!(is_uuid(u1) && is_uuid(u2) && u1 != u2, "{u1} {u2}");
        let again = mobileconfig(&cfg, &domains(), "ann@example.com").expect("ours");
        assert!(!again.contains(u1), "a new UUID each time");
    }

    #[test]
    fn pop3_and_starttls_when_only_those_are_on() {
        let cfg = config("imap = []\nimaps = []\npop3s = []\nsubmissions = []\n");
        let doc = mobileconfig(&cfg, &domains(), "bob@example.org").expect("ours");
        let root = parse(doc.as_bytes()).expect("well-formed");
        let mail = &get(root.child("dict").expect("dict"), "PayloadContent").children[0];
        assert_eq!(string(mail, "EmailAccountType"), "EmailTypePOP");
        assert_eq!(integer(mail, "IncomingMailServerPortNumber"), 110);
        assert_eq!(integer(mail, "OutgoingMailServerPortNumber"), 587);
    }

    #[test]
    fn foreign_addresses_are_refused_and_values_escaped() {
        let cfg = config(ALL_ON);
        assert!(mobileconfig(&cfg, &domains(), "ann@example.net").is_err());
        let doc = mobileconfig(&cfg, &domains(), "\"<a>&\"@example.com").expect("ours");
        let root = parse(doc.as_bytes()).expect("well-formed");
        let mail = &get(root.child("dict").expect("dict"), "PayloadContent").children[0];
        assert_eq!(string(mail, "EmailAddress"), "\"<a>&\"@example.com");
    }
}
