//! The settings a mail client needs for this server: host name, port and
//! security of each service that is on (its listen addresses not empty),
//! and whose address it is for.

use crate::config::{Config, Hostname};
use crate::proto::smtp::address::{parse_mailbox, Domain};
use std::fmt;

/// A protocol a client speaks to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// IMAP4rev1 (RFC 3501).
    Imap,
    /// POP3 (RFC 1939).
    Pop3,
    /// Message submission (RFC 6409).
    Smtp,
}

impl Protocol {
    /// The name clients' documents use (`"IMAP"`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
        }
    }
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (RFC 8314 §3, preferred).
    Tls,
    /// Plain connection upgraded with STARTTLS/STLS (RFC 3207, RFC 2595).
    StartTls,
}

impl Security {
    /// A short label for people (`"SSL/TLS"`, `"STARTTLS"`).
    pub fn label(self) -> &'static str {
        match self {
            Security::Tls => "SSL/TLS",
            Security::StartTls => "STARTTLS",
        }
    }
}

/// One server a client may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// What it speaks.
    pub protocol: Protocol,
    /// Our host name (`server.hostname`).
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    /// How it is secured.
    pub security: Security,
}

/// The client settings of this server, for one address or for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// The address (and login name) the settings are for, if one.
    pub address: Option<String>,
    /// IMAP then POP3 servers, implicit TLS first within each.
    pub incoming: Vec<ServerEntry>,
    /// Submission servers, implicit TLS first.
    pub outgoing: Vec<ServerEntry>,
}

/// Why settings cannot be given for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Not an email address.
    Invalid(String),
    /// An address in a domain this server does not serve.
    NotOurs(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Invalid(a) => write!(f, "{a:?} is not an email address"),
            AddressError::NotOurs(d) => write!(f, "{d} is not a domain of this server"),
        }
    }
}

impl std::error::Error for AddressError {}

impl ClientSettings {
    /// The settings of the services `cfg` turns on, for no address in
    /// particular.
    pub fn new(cfg: &Config) -> ClientSettings {
        let host = cfg.server.hostname.0.clone();
        let l = &cfg.listen;
        let entry = |protocol, addrs: &crate::config::Addrs, security| {
            addrs.0.first().map(|a| ServerEntry {
                protocol,
                host: host.clone(),
                port: a.port(),
                security,
            })
        };
        let incoming = [
            entry(Protocol::Imap, &l.imaps, Security::Tls),
            entry(Protocol::Imap, &l.imap, Security::StartTls),
            entry(Protocol::Pop3, &l.pop3s, Security::Tls),
            entry(Protocol::Pop3, &l.pop3, Security::StartTls),
        ];
        let outgoing = [
            entry(Protocol::Smtp, &l.submissions, Security::Tls),
            entry(Protocol::Smtp, &l.submission, Security::StartTls),
        ];
        ClientSettings {
            address: None,
            incoming: incoming.into_iter().flatten().collect(),
            outgoing: outgoing.into_iter().flatten().collect(),
        }
    }

    /// The settings for `email`, whose domain must be one of `domains`
    /// (the store's domains). The address is normalised: its domain in
    /// lowercase A-labels, as logins use it.
    pub fn for_address(
        cfg: &Config,
        domains: &[String],
        email: &str,
    ) -> Result<ClientSettings, AddressError> {
        let address = our_address(domains, email)?;
        Ok(ClientSettings {
            address: Some(address),
            ..ClientSettings::new(cfg)
        })
    }

    /// The preferred incoming server for `protocol`.
    pub fn incoming(&self, protocol: Protocol) -> Option<&ServerEntry> {
        self.incoming.iter().find(|s| s.protocol == protocol)
    }

    /// The preferred submission server.
    pub fn outgoing(&self) -> Option<&ServerEntry> {
        self.outgoing.first()
    }

    /// The preferred incoming server: IMAP, else POP3.
    pub fn preferred_incoming(&self) -> Option<&ServerEntry> {
        self.incoming.first()
    }
}

/// Checks `email` is an address in one of `domains` and returns it with
/// its domain in lowercase A-labels.
pub fn our_address(domains: &[String], email: &str) -> Result<String, AddressError> {
    let invalid = || AddressError::Invalid(email.to_string());
    let mailbox = parse_mailbox(email.trim(), true).map_err(|_| invalid())?;
    let Domain::Name(name) = &mailbox.domain else {
        return Err(invalid());
    };
    let domain = Hostname::parse(name).ok_or_else(invalid)?;
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(&domain.0)) {
        return Err(AddressError::NotOurs(domain.0));
    }
    let local = mailbox.to_string();
    let local = local.rsplit_once('@').map_or(local.as_str(), |(l, _)| l);
    Ok(format!("{local}@{}", domain.0))
}

/// Checks `domain` is one of `domains`; returns it normalised.
pub fn our_domain(domains: &[String], domain: &str) -> Result<String, AddressError> {
    let d = Hostname::parse(domain).ok_or_else(|| AddressError::Invalid(domain.to_string()))?;
    if domains.iter().any(|x| x.eq_ignore_ascii_case(&d.0)) {
        Ok(d.0)
    } else {
        Err(AddressError::NotOurs(d.0))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every client service on, on non-standard ports.
    pub(crate) const ALL_ON: &str = "smtp = []\nsubmission = [\"0.0.0.0:2587\"]\n\
        submissions = [\"0.0.0.0:2465\"]\npop3 = [\"0.0.0.0:2110\"]\n\
        pop3s = [\"0.0.0.0:2995\"]\nimap = [\"0.0.0.0:2143\"]\n\
        imaps = [\"[::]:2993\", \"0.0.0.0:2993\"]\n";

    /// A config for `mail.example.com` with these `[listen]` lines.
    pub(crate) fn config(listen: &str) -> Config {
        let text = format!("[server]\nhostname = \"mail.example.com\"\n[listen]\n{listen}");
        Config::parse(&text, "test").expect("test config")
    }

    pub(crate) fn domains() -> Vec<String> {
        vec!["example.com".into(), "example.org".into()]
    }

    #[test]
    fn services_that_are_on() {
        let s = ClientSettings::new(&config(ALL_ON));
        let list: Vec<(Protocol, u16, Security)> = s
            .incoming
            .iter()
            .chain(&s.outgoing)
            .map(|e| (e.protocol, e.port, e.security))
            .collect();
        assert_eq!(
            list,
            [
                (Protocol::Imap, 2993, Security::Tls),
                (Protocol::Imap, 2143, Security::StartTls),
                (Protocol::Pop3, 2995, Security::Tls),
                (Protocol::Pop3, 2110, Security::StartTls),
                (Protocol::Smtp, 2465, Security::Tls),
                (Protocol::Smtp, 2587, Security::StartTls),
            ]
        );
        assert!(s.incoming.iter().all(|e| e.host == "mail.example.com"));
        let s = ClientSettings::new(&config(
            "imap = []\nimaps = []\npop3s = []\nsubmissions = []\n",
        ));
        assert_eq!(s.incoming.len(), 1);
        assert_eq!(s.incoming[0].protocol, Protocol::Pop3);
        assert_eq!(s.incoming[0].port, 110);
        assert_eq!(s.outgoing.len(), 1);
        assert_eq!(s.outgoing().map(|o| o.security), Some(Security::StartTls));
        assert!(s.incoming(Protocol::Imap).is_none());
    }

    #[test]
    fn addresses_must_be_ours() {
        let d = domains();
        assert_eq!(
            our_address(&d, "Ann@Example.COM"),
            Ok("Ann@example.com".into())
        );
        assert_eq!(
            our_address(&d, " bob@example.org "),
            Ok("bob@example.org".into())
        );
        assert_eq!(
            our_address(&d, "ann@example.net"),
            Err(AddressError::NotOurs("example.net".into()))
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@[127.0.0.1]",
            "a b@example.com",
        ] {
            assert!(
                matches!(our_address(&d, bad), Err(AddressError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(our_domain(&d, "EXAMPLE.org."), Ok("example.org".into()));
        assert!(our_domain(&d, "other.test").is_err());
    }
}
