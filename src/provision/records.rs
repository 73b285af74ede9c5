//! The DNS records that let mail clients find this server by themselves:
//! RFC 6186 SRV records (and RFC 8314 §5.1 `_submissions`) and the
//! `autoconfig`/`autodiscover` names that Thunderbird and Outlook ask.

use super::settings::{ClientSettings, Protocol, Security};
use crate::auth::dkim::key;
use crate::auth::records::{auth_records, DkimRecord, DomainSetup, Kind, Record};
use crate::config::{Config, Hostname};

/// Every record `domain` should publish: MX, SPF, DKIM (its keys under
/// the data directory), DMARC, then the client discovery records. This is
/// what `facteur dns-records` prints and the domains page shows.
pub fn domain_records(cfg: &Config, domain: &str) -> Result<Vec<Record>, String> {
    let name = Hostname::parse(domain).ok_or_else(|| format!("{domain:?} is not a domain name"))?;
    let keys = key::load_all(&cfg.server.data_dir, &name.0).map_err(|e| e.to_string())?;
    let dkim: Vec<DkimRecord> = keys
        .iter()
        .map(|k| DkimRecord {
            selector: k.selector().to_string(),
            text: k.record(),
        })
        .collect();
    let host = &cfg.server.hostname.0;
    let relay = (!cfg.relay.host.is_empty()).then_some(cfg.relay.host.as_str());
    let mut out = auth_records(&DomainSetup {
        domain: &name.0,
        mx_host: host,
        relay_host: relay,
        dkim: &dkim,
    });
    out.extend(client_records(&name.0, host, &ClientSettings::new(cfg)));
    Ok(out)
}

/// The SRV services of RFC 6186 §3.1-3.3 and RFC 8314 §5.1, with the
/// priority we give each: implicit TLS before STARTTLS (RFC 8314 §5.1),
/// IMAP before POP3 (RFC 6186 §3.4 lets the priorities say which access
/// protocol is preferred).
const SERVICES: &[(&str, Protocol, Security, u16)] = &[
    ("_imaps._tcp", Protocol::Imap, Security::Tls, 0),
    ("_imap._tcp", Protocol::Imap, Security::StartTls, 10),
    ("_pop3s._tcp", Protocol::Pop3, Security::Tls, 20),
    ("_pop3._tcp", Protocol::Pop3, Security::StartTls, 30),
    ("_submissions._tcp", Protocol::Smtp, Security::Tls, 0),
    ("_submission._tcp", Protocol::Smtp, Security::StartTls, 10),
];

/// The client discovery records of `domain` for the services `settings`
/// lists. A service that is off is published with the target "." (RFC
/// 6186 §3, RFC 2782: "the service is decidedly not available at this
/// domain"), so that clients do not try it.
pub fn client_records(domain: &str, host: &str, settings: &ClientSettings) -> Vec<Record> {
    let d = domain.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    let mut out = Vec::new();
    for &(service, protocol, security, priority) in SERVICES {
        let entry = settings
            .incoming
            .iter()
            .chain(&settings.outgoing)
            .find(|e| e.protocol == protocol && e.security == security);
        let value = match entry {
            Some(e) => format!("{priority} 1 {} {host}.", e.port),
            None => "0 0 0 .".to_string(),
        };
        out.push(Record {
            name: format!("{service}.{d}"),
            kind: Kind::Srv,
            value,
            purpose: "SRV (RFC 6186, RFC 8314): where mail clients find the IMAP, POP3 \
                      and submission services; target \".\" for a service that is off."
                .into(),
            template: false,
        });
    }
    for name in ["autoconfig", "autodiscover"] {
        out.push(Record {
            name: format!("{name}.{d}"),
            kind: Kind::Cname,
            value: format!("{host}."),
            purpose: "Client autoconfiguration: Thunderbird asks autoconfig.DOMAIN and \
                      Outlook autodiscover.DOMAIN for their settings, served by this \
                      server's web listener."
                .into(),
            template: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::settings::tests::{config, ALL_ON};
    use super::*;

    fn lines(records: &[Record]) -> Vec<String> {
        records.iter().map(Record::zone_line).collect()
    }

    #[test]
    fn every_service_on() {
        let s = ClientSettings::new(&config(ALL_ON));
        let r = client_records("example.com.", "mail.example.com", &s);
        assert_eq!(
            lines(&r),
            [
                "_imaps._tcp.example.com. IN SRV 0 1 2993 mail.example.com.",
                "_imap._tcp.example.com. IN SRV 10 1 2143 mail.example.com.",
                "_pop3s._tcp.example.com. IN SRV 20 1 2995 mail.example.com.",
                "_pop3._tcp.example.com. IN SRV 30 1 2110 mail.example.com.",
                "_submissions._tcp.example.com. IN SRV 0 1 2465 mail.example.com.",
                "_submission._tcp.example.com. IN SRV 10 1 2587 mail.example.com.",
                "autoconfig.example.com. IN CNAME mail.example.com.",
                "autodiscover.example.com. IN CNAME mail.example.com.",
            ]
        );
    }

    #[test]
    fn services_that_are_off_point_at_the_root() {
        let s = ClientSettings::new(&config(
            "imap = []\npop3 = []\npop3s = []\nsubmission = []\n",
        ));
        let r = client_records("example.com", "mail.example.com", &s);
        let l = lines(&r);
        assert_eq!(
            l[0],
            "_imaps._tcp.example.com. IN SRV 0 1 993 mail.example.com."
        );
        for (i, name) in [
            (1, "_imap"),
            (2, "_pop3s"),
            (3, "_pop3"),
            (5, "_submission"),
        ] {
            assert_eq!(l[i], format!("{name}._tcp.example.com. IN SRV 0 0 0 ."));
        }
        assert_eq!(
            l[4],
            "_submissions._tcp.example.com. IN SRV 0 1 465 mail.example.com."
        );
    }
}
