//! The first-boot plan: what the setup wizard asks for (host name, mail
//! domains, the admin account, the first staff accounts, an optional
//! smarthost), checked field by field, and applied by
//! [`crate::admin::Admin::apply_plan`] all at once or not at all.
//!
//! The plan knows nothing of HTTP: the web wizard, the serial console and
//! a first-boot profile file (TOML, see [`Plan::from_toml`]) build the
//! same value.

use crate::config::{ConfigError, Hostname};
use crate::config_edit::Edit;
use crate::store::normalise_address;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Most staff accounts in one plan (each costs a password hash).
pub const MAX_STAFF: usize = 100;

/// Most domains in one plan.
pub const MAX_DOMAINS: usize = 20;

/// Everything the wizard sets up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The box's host name (`server.hostname`): the MX target and the
    /// name in the certificate.
    pub hostname: String,
    /// The mail domains (`server.domains`).
    pub domains: Vec<String>,
    /// The first admin account.
    pub admin: Account,
    /// The first staff accounts.
    #[serde(default)]
    pub staff: Vec<Staff>,
    /// A smarthost for outbound mail (`[relay]`), if any.
    #[serde(default)]
    pub relay: Option<Relay>,
    /// Antispam choices (`[antispam]`); what is not given keeps the
    /// config's value.
    #[serde(default)]
    pub antispam: Option<Antispam>,
}

/// The antispam choices a wizard offers: each is a switch of
/// `[antispam]`, left as configured when not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Antispam {
    /// Run the inbound checks at all (`antispam.enabled`).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Greylist unknown senders (`antispam.greylisting`).
    #[serde(default)]
    pub greylisting: Option<bool>,
    /// Query the built-in DNS block lists (`antispam.dnsbl`; off: none).
    #[serde(default)]
    pub dnsbl: Option<bool>,
    /// The per-user Bayes filter (`antispam.bayes`).
    #[serde(default)]
    pub bayes: Option<bool>,
}

/// An account with its password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// `local@domain`.
    pub address: String,
    /// The password (see [`crate::password::check_strength`]), or its
    /// argon2id hash (see [`crate::password::is_hash`]).
    pub password: String,
}

/// A staff account; without a password, one is generated and shown once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staff {
    /// `local@domain`.
    pub address: String,
    /// The password or its argon2id hash, or none to generate one.
    #[serde(default)]
    pub password: Option<String>,
}

/// The smarthost settings (`[relay]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// Host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for implicit TLS).
    #[serde(default = "default_relay_port")]
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    #[serde(default = "default_relay_tls")]
    pub tls: String,
    /// AUTH user name (empty: no AUTH).
    #[serde(default)]
    pub username: String,
    /// AUTH password.
    #[serde(default)]
    pub password: String,
}

fn default_relay_port() -> u16 {
    587
}

fn default_relay_tls() -> String {
    "starttls".into()
}

/// A field of the plan that failed its check, named as a form names it
/// (`hostname`, `domains`, `admin.address`, `staff.2.password`,
/// `relay.host`...), and why.
pub type FieldError = (String, String);

impl Plan {
    /// Reads a plan from a first-boot profile file in TOML.
    pub fn from_toml(text: &str) -> Result<Plan, String> {
        Plan::parse(text, "profile").map_err(|e| e.to_string())
    }

    /// Reads a plan from the TOML text of `source`, with the errors
    /// `check-config` gives (file, line, key, what is expected).
    pub fn parse(text: &str, source: &str) -> Result<Plan, ConfigError> {
        crate::config::parse_toml(text, source)
    }

    /// Reads [`Plan::from_toml`] from a file.
    pub fn load(path: &Path) -> Result<Plan, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Plan::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
    }

    /// The host name and domains lower-cased and trimmed, as they will be
    /// stored.
    pub fn normalised(mut self) -> Plan {
        self.hostname = self
            .hostname
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.domains = self
            .domains
            .iter()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        self.admin.address = self.admin.address.trim().to_string();
        for s in &mut self.staff {
            s.address = s.address.trim().to_string();
        }
        self
    }

    /// Checks every field; an empty list means the plan can be applied.
    /// Each error names its field, so that a form shows it beside it.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err = |field: &str, msg: String| errors.push((field.to_string(), msg));
        if !is_domain_name(&self.hostname) {
            err(
                "hostname",
                format!(
                    "{:?} is not a host name (expected e.g. mail.example.com)",
                    self.hostname
                ),
            );
        }
        if self.domains.is_empty() {
            err("domains", "at least one mail domain is needed".into());
        } else if self.domains.len() > MAX_DOMAINS {
            err("domains", format!("at most {MAX_DOMAINS} domains at once"));
        }
        for d in &self.domains {
            if !is_domain_name(d) {
                err(
                    "domains",
                    format!("{d:?} is not a domain name (expected e.g. example.com)"),
                );
            }
        }
        let mut seen: Vec<String> = Vec::new();
        let mut check_address = |field: &str, address: &str, err: &mut dyn FnMut(&str, String)| {
            let Ok(a) = normalise_address(&crate::mail::idna::address_to_ascii(address)) else {
                err(
                    field,
                    format!("{address:?} is not a mail address (expected name@domain)"),
                );
                return;
            };
            let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            if !self.domains.iter().any(|d| d == domain) {
                err(field, format!("{domain} is not one of the mail domains"));
            } else if seen.contains(&a) {
                err(field, format!("{a} is given twice"));
            }
            seen.push(a);
        };
        check_address("admin.address", &self.admin.address, &mut err);
        if let Err(e) = check_password(&self.admin.address, &self.admin.password) {
            err("admin.password", e);
        }
        if self.staff.len() > MAX_STAFF {
            err(
                "staff",
                format!("at most {MAX_STAFF} staff accounts at once"),
            );
        }
        for (i, s) in self.staff.iter().enumerate() {
            check_address(&format!("staff.{i}.address"), &s.address, &mut err);
            if let Some(pw) = &s.password {
                if let Err(e) = check_password(&s.address, pw) {
                    err(&format!("staff.{i}.password"), e);
                }
            }
        }
        if let Some(r) = &self.relay {
            if !is_domain_name(&r.host) && r.host.parse::<std::net::IpAddr>().is_err() {
                err(
                    "relay.host",
                    format!(
                        "{:?} is not a host name (expected e.g. smtp.provider.com)",
                        r.host
                    ),
                );
            }
            if r.port == 0 {
                err("relay.port", "the port must be between 1 and 65535".into());
            }
            if !matches!(r.tls.as_str(), "starttls" | "tls" | "none") {
                err(
                    "relay.tls",
                    format!("{:?}: expected starttls, tls or none", r.tls),
                );
            }
            if r.username.is_empty() != r.password.is_empty() {
                let field = if r.username.is_empty() {
                    "relay.username"
                } else {
                    "relay.password"
                };
                err(
                    field,
                    "give both a user name and a password, or neither".into(),
                );
            }
        }
        errors
    }
}

/// A new account's password: strong enough, or a usable argon2id hash
/// (whose password cannot be judged).
pub fn check_password(address: &str, given: &str) -> Result<(), String> {
    if crate::password::is_hash(given) {
        crate::password::check_hash(given)
    } else {
        crate::password::check_strength(address, given)
    }
}

/// A DNS name with at least two labels.
fn is_domain_name(name: &str) -> bool {
    Hostname::parse(name).is_some_and(|h| h.0.contains('.'))
}

impl Plan {
    /// The settings the plan writes into the config file: the host name,
    /// the domains, and the smarthost when one is given.
    pub fn config_edits(&self) -> Vec<Edit> {
        let domains: Vec<String> = self
            .domains
            .iter()
            .map(|d| crate::config_edit::toml_string(d))
            .collect();
        let mut edits = vec![
            Edit::Set(
                "server.hostname".into(),
                crate::config_edit::toml_string(&self.hostname),
            ),
            Edit::Set("server.domains".into(), format!("[{}]", domains.join(", "))),
        ];
        if let Some(r) = &self.relay {
            edits.extend([
                Edit::Set(
                    "relay.host".into(),
                    crate::config_edit::toml_string(&r.host),
                ),
                Edit::Set("relay.port".into(), r.port.to_string()),
                Edit::Set("relay.tls".into(), crate::config_edit::toml_string(&r.tls)),
                Edit::Set(
                    "relay.username".into(),
                    crate::config_edit::toml_string(&r.username),
                ),
                Edit::Set(
                    "relay.password".into(),
                    crate::config_edit::toml_string(&r.password),
                ),
            ]);
        }
        if let Some(a) = &self.antispam {
            let switches = [
                ("antispam.enabled", a.enabled),
                ("antispam.greylisting", a.greylisting),
                ("antispam.bayes", a.bayes),
            ];
            for (key, on) in switches {
                if let Some(on) = on {
                    edits.push(Edit::Set(key.into(), on.to_string()));
                }
            }
            match a.dnsbl {
                // The built-in lists are the default of `antispam.dnsbl`.
                Some(true) => edits.push(Edit::Unset("antispam.dnsbl".into())),
                Some(false) => edits.push(Edit::Set("antispam.dnsbl".into(), "[]".into())),
                None => {}
            }
        }
        edits
    }
}

/// The plan field a config setting comes from (`server.hostname` is the
/// field `hostname`), for errors shown beside their field.
pub fn field_of(key: &str) -> &str {
    key.strip_prefix("server.").unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "a long password";

    pub(crate) fn good() -> Plan {
        Plan {
            hostname: "mail.example.test".into(),
            domains: vec!["example.test".into()],
            admin: Account {
                address: "boss@example.test".into(),
                password: PW.into(),
            },
            staff: vec![
                Staff {
                    address: "ann@example.test".into(),
                    password: None,
                },
                Staff {
                    address: "bob@example.test".into(),
                    password: Some(PW.into()),
                },
            ],
            relay: None,
            antispam: None,
        }
    }

    fn fields(p: &Plan) -> Vec<String> {
        p.validate().into_iter().map(|(f, _)| f).collect::<Vec<_>>()
    }

    #[test]
    fn a_good_plan_has_no_errors() {
        assert_eq!(good().validate(), []);
        let mut p = good();
        p.relay = Some(Relay {
            host: "smtp.provider.test".into(),
            port: 587,
            tls: "starttls".into(),
            username: "u".into(),
            password: "p".into(),
        });
        assert_eq!(p.validate(), []);
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut p = good();
        p.hostname = "not a host".into();
        p.staff[1].address = "bob@elsewhere.test".into();
        p.staff[0].password = Some("short".into());
        assert_eq!(
            fields(&p),
            ["hostname", "staff.0.password", "staff.1.address"]
        );
        let mut p = good();
        p.domains.clear();
        assert_eq!(
            fields(&p),
            [
                "domains",
                "admin.address",
                "staff.0.address",
                "staff.1.address"
            ]
        );
        let mut p = good();
        p.admin.password = "boss".into();
        p.staff[0].address = "Boss@example.test".into();
        assert_eq!(fields(&p), ["admin.password", "staff.0.address"]);
        let mut p = good();
        p.staff[1].address = "no at sign".into();
        p.relay = Some(Relay {
            host: String::new(),
            port: 0,
            tls: "ssl".into(),
            username: "u".into(),
            password: String::new(),
        });
        assert_eq!(
            fields(&p),
            [
                "staff.1.address",
                "relay.host",
                "relay.port",
                "relay.tls",
                "relay.password"
            ]
        );
    }

    #[test]
    fn a_profile_file_gives_the_same_plan() {
        let text = r#"
            hostname = "mail.example.test"
            domains = ["example.test"]
            admin = { address = "boss@example.test", password = "a long password" }
            [[staff]]
            address = "ann@example.test"
            [[staff]]
            address = "bob@example.test"
            password = "a long password"
        "#;
        assert_eq!(Plan::from_toml(text).unwrap(), good());
        let relay = format!("{text}\n[relay]\nhost = \"smtp.provider.test\"\n");
        let p = Plan::from_toml(&relay).unwrap();
        assert_eq!(
            p.relay.map(|r| (r.port, r.tls)),
            Some((587, "starttls".into()))
        );
        assert!(Plan::from_toml("hostname = 1").is_err());
        assert!(Plan::from_toml(&format!("{text}\nextra = 1")).is_err());
    }

    #[test]
    fn the_config_edits_are_valid_toml_for_any_text() {
        let mut p = good();
        p.relay = Some(Relay {
            host: "smtp.provider.test".into(),
            port: 465,
            tls: "tls".into(),
            username: "me".into(),
            password: "a \"quoted\" \\ pass\u{1}word".into(),
        });
        let edits = p.config_edits();
        let (text, _) =
            crate::config_edit::edit_text(crate::config::EMBEDDED_DEFAULT, &edits).unwrap();
        let cfg = crate::config::Config::parse(&text, "test").unwrap();
        assert_eq!(cfg.server.hostname.0, "mail.example.test");
        assert_eq!(cfg.server.domains[0].0, "example.test");
        assert_eq!(cfg.relay.port, 465);
        assert_eq!(cfg.relay.password, "a \"quoted\" \\ pass\u{1}word");
    }

    #[test]
    fn a_password_may_be_given_as_its_argon2id_hash() {
        let mut p = good();
        p.admin.password = crate::password::hash("any password at all").unwrap();
        assert_eq!(p.validate(), []);
        // A hash is not judged by its length, but it must be usable.
        p.admin.password = "$argon2id$v=19$m=8192,t=3,p=1$c2FsdA".into();
        p.staff[1].password = Some(DUMMY_ARGON2I.into());
        let errors = p.validate();
        assert_eq!(fields(&p), ["admin.password", "staff.1.password"]);
        assert!(errors[1].1.contains("expected argon2id"), "{errors:?}");
    }

    const DUMMY_ARGON2I: &str =
        "$argon2i$v=19$m=8192,t=3,p=1$D3T2pD7qwJc1DjZu1MLeEg$v2OoymNRHxy4GLTTn9psnfOXMbPBmKVlE7AOuCE7Htc";

    #[test]
    fn antispam_choices_become_settings() {
        let text = r#"
            hostname = "mail.example.test"
            domains = ["example.test"]
            admin = { address = "boss@example.test", password = "a long password" }
            [antispam]
            greylisting = false
            dnsbl = true
        "#;
        let p = Plan::from_toml(text).unwrap();
        let base = "[server]\nhostname = \"m.example.test\"\n[antispam]\ndnsbl = []\n";
        let (out, _) = crate::config_edit::edit_text(base, &p.config_edits()).unwrap();
        let cfg = crate::config::Config::parse(&out, "t").unwrap();
        assert!(!cfg.antispam.greylisting);
        assert!(cfg.antispam.enabled, "not given: as configured");
        assert_eq!(cfg.antispam.dnsbl.len(), 4, "the built-in lists");
        let off = format!("{text}\nbayes = false\nenabled = false\n")
            .replace("dnsbl = true", "dnsbl = false");
        let p = Plan::from_toml(&off).unwrap();
        let (out, _) = crate::config_edit::edit_text(&out, &p.config_edits()).unwrap();
        let cfg = crate::config::Config::parse(&out, "t").unwrap();
        assert!(!cfg.antispam.enabled && !cfg.antispam.bayes);
        assert!(cfg.antispam.dnsbl.is_empty());
        assert!(Plan::from_toml(&format!("{text}\nspf = true\n")).is_err());
    }

    #[test]
    fn normalising_lowers_names() {
        let mut p = good();
        p.hostname = " Mail.Example.TEST. ".into();
        p.domains = vec!["Example.Test".into(), " ".into()];
        let p = p.normalised();
        assert_eq!(p.hostname, "mail.example.test");
        assert_eq!(p.domains, ["example.test"]);
    }
}
