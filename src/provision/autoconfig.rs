//! The Thunderbird autoconfig document (clientConfig version 1.1), served
//! at `/.well-known/autoconfig/mail/config-v1.1.xml` and
//! `/mail/config-v1.1.xml?emailaddress=...`. Format:
//! <https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat>.

use super::settings::{our_address, AddressError, ClientSettings, Protocol, Security, ServerEntry};
use super::xml::escape;
use crate::config::Config;
use std::fmt::Write;

/// The autoconfig document for `email` (or, without one, for every
/// domain in `domains`, the store's domains). An address outside
/// `domains` is refused. Only the services that are on are listed.
pub fn thunderbird(
    cfg: &Config,
    domains: &[String],
    email: Option<&str>,
) -> Result<String, AddressError> {
    let listed: Vec<String> = match email {
        Some(e) => {
            let address = our_address(domains, e)?;
            let domain = address.rsplit_once('@').map(|(_, d)| d.to_string());
            domain.into_iter().collect()
        }
        None => domains.to_vec(),
    };
    let settings = ClientSettings::new(cfg);
    let id = listed
        .first()
        .cloned()
        .unwrap_or_else(|| cfg.server.hostname.0.clone());
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<clientConfig version=\"1.1\">\n");
    let _ = writeln!(out, "  <emailProvider id=\"{}\">", escape(&id));
    for d in &listed {
        let _ = writeln!(out, "    <domain>{}</domain>", escape(d));
    }
    let _ = writeln!(out, "    <displayName>{}</displayName>", escape(&id));
    let _ = writeln!(
        out,
        "    <displayShortName>{}</displayShortName>",
        escape(&id)
    );
    for s in &settings.incoming {
        server(&mut out, "incomingServer", s);
    }
    for s in &settings.outgoing {
        server(&mut out, "outgoingServer", s);
    }
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    Ok(out)
}

/// One `incomingServer` or `outgoingServer` element.
fn server(out: &mut String, element: &str, s: &ServerEntry) {
    let kind = match s.protocol {
        Protocol::Imap => "imap",
        Protocol::Pop3 => "pop3",
        Protocol::Smtp => "smtp",
    };
    let socket = match s.security {
        Security::Tls => "SSL",
        Security::StartTls => "STARTTLS",
    };
    let _ = write!(
        out,
        "    <{element} type=\"{kind}\">\n\
         \x20     <hostname>{}</hostname>\n\
         \x20     <port>{}</port>\n\
         \x20     <socketType>{socket}</socketType>\n\
         \x20     <username>%EMAILADDRESS%</username>\n\
         \x20     <authentication>password-cleartext</authentication>\n\
         \x20   </{element}>\n",
        escape(&s.host),
        s.port
    );
}

#[cfg(test)]
mod tests {
    use super::super::settings::tests::{config, domains, ALL_ON};
    use super::super::xml::{parse, Element};
    use super::*;

    /// (element, type, hostname, port, socketType) of a server entry.
    type Entry = (String, String, String, u16, String);

    /// The provider element and each server entry, after checking the
    /// fields every entry must have.
    fn entries(doc: &str) -> (Element, Vec<Entry>) {
        let root = parse(doc.as_bytes()).expect("well-formed");
        assert_eq!(root.name, "clientConfig");
        assert_eq!(root.attr("version"), Some("1.1"));
        let provider = root.child("emailProvider").expect("emailProvider");
        let mut out = Vec::new();
        for e in &provider.children {
            if !e.name.ends_with("Server") {
                continue;
            }
            assert_eq!(e.text_at(&["username"]), Some("%EMAILADDRESS%"));
            assert_eq!(e.text_at(&["authentication"]), Some("password-cleartext"));
            out.push((
                e.name.clone(),
                e.attr("type").unwrap_or_default().to_string(),
                e.text_at(&["hostname"]).unwrap_or_default().to_string(),
                e.text_at(&["port"])
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0),
                e.text_at(&["socketType"]).unwrap_or_default().to_string(),
            ));
        }
        (provider.clone(), out)
    }

    #[test]
    fn every_service_that_is_on() {
        let cfg = config(ALL_ON);
        let doc = thunderbird(&cfg, &domains(), Some("ann@Example.com")).expect("ours");
        let (provider, list) = entries(&doc);
        assert_eq!(provider.attr("id"), Some("example.com"));
        let domains: Vec<&str> = provider
            .children_named("domain")
            .map(|d| d.text.as_str())
            .collect();
        assert_eq!(domains, ["example.com"]);
        let h = "mail.example.com";
        let want = [
            ("incomingServer", "imap", h, 2993, "SSL"),
            ("incomingServer", "imap", h, 2143, "STARTTLS"),
            ("incomingServer", "pop3", h, 2995, "SSL"),
            ("incomingServer", "pop3", h, 2110, "STARTTLS"),
            ("outgoingServer", "smtp", h, 2465, "SSL"),
            ("outgoingServer", "smtp", h, 2587, "STARTTLS"),
        ];
        let want: Vec<Entry> = want
            .iter()
            .map(|(a, b, c, d, e)| {
                (
                    a.to_string(),
                    b.to_string(),
                    c.to_string(),
                    *d,
                    e.to_string(),
                )
            })
            .collect();
        assert_eq!(list, want);
    }

    #[test]
    fn services_that_are_off_are_left_out() {
        let cfg = config("imap = []\npop3 = []\npop3s = []\nsubmission = []\n");
        let doc = thunderbird(&cfg, &domains(), None).expect("no address");
        let (provider, list) = entries(&doc);
        let domains: Vec<&str> = provider
            .children_named("domain")
            .map(|d| d.text.as_str())
            .collect();
        assert_eq!(domains, ["example.com", "example.org"]);
        let kinds: Vec<(&str, u16)> = list.iter().map(|e| (e.1.as_str(), e.3)).collect();
        assert_eq!(kinds, [("imap", 993), ("smtp", 465)]);
    }

    #[test]
    fn foreign_and_bad_addresses_are_refused() {
        let cfg = config(ALL_ON);
        assert_eq!(
            thunderbird(&cfg, &domains(), Some("ann@example.net")),
            Err(AddressError::NotOurs("example.net".into()))
        );
        assert!(thunderbird(&cfg, &domains(), Some("<script>@example.com")).is_err());
        assert!(thunderbird(&cfg, &domains(), Some("x\"@example.com")).is_err());
    }
}
