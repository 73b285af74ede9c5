//! Typed configuration, read from TOML.
//!
//! Every key has a default fit for production, so a config file only names
//! what differs. `facteur run` with no `--config` uses [`EMBEDDED_DEFAULT`],
//! which needs no root and no setup (data in `./data`, loopback listeners on
//! high ports). Errors name the file, the line, the key and what is expected.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration used when `--config` is not given.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity and data location.
    pub server: Server,
    /// Listening addresses per service.
    #[serde(default)]
    pub listen: Listen,
    /// Certificate and TLS policy.
    #[serde(default)]
    pub tls: Tls,
    /// Index store tuning.
    #[serde(default)]
    pub store: Store,
    /// Connection, size and rate limits.
    #[serde(default)]
    pub limits: Limits,
    /// Protocol timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// DNS resolver.
    #[serde(default)]
    pub dns: Dns,
    /// Outbound delivery.
    #[serde(default)]
    pub outbound: Outbound,
    /// Optional smarthost for all remote mail.
    #[serde(default)]
    pub relay: Relay,
    /// The first-boot profile file.
    #[serde(default)]
    pub setup: Setup,
    /// IMAP presentation.
    #[serde(default)]
    pub imap: Imap,
    /// MTA and submission policy.
    #[serde(default)]
    pub mta: Mta,
    /// Spam filtering thresholds.
    #[serde(default)]
    pub antispam: Antispam,
    /// Logging.
    #[serde(default)]
    pub log: Log,
    /// Scheduled backups.
    #[serde(default)]
    pub backup: Backup,
    /// The web pages: sessions and HTTP timeouts.
    #[serde(default)]
    pub web: Web,
    /// The serial console (`facteur console`).
    #[serde(default)]
    pub console: Console,
}

/// `[console]`: the serial console.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// Whether "reset an admin password" is offered without a login:
    /// whoever holds the serial cable can take the SD card anyway.
    pub allow_reset: bool,
    /// A session with no key pressed this long is logged out.
    pub idle_timeout: Dur,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            allow_reset: true,
            idle_timeout: Dur(Duration::from_secs(600)),
        }
    }
}

/// `[backup]`: scheduled snapshots of the data dir (`facteur backup`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    /// Where snapshots go (a USB stick, a network share); none: no
    /// scheduled backups.
    pub dir: Option<PathBuf>,
    /// Time between two snapshots, e.g. `"1d"`.
    pub every: Dur,
    /// Snapshots kept, the newest; 0 keeps all. Also the default of
    /// `facteur backup DEST`.
    pub keep: u32,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            dir: None,
            every: Dur(Duration::from_secs(86_400)),
            keep: 7,
        }
    }
}

/// `[setup]`: setting up a new box from a file (see
/// [`crate::setup::profile`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Setup {
    /// The first-boot profile applied at start when it exists; empty:
    /// none is looked for.
    pub profile: PathBuf,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            profile: PathBuf::from("/boot/firmware/facteur-setup.toml"),
        }
    }
}

/// `[server]`: who we are and where data lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The host name announced in greetings and Received headers.
    pub hostname: Hostname,
    /// Directory holding the index, message bodies, certificate and admin socket.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Domains added to the store at start when missing.
    #[serde(default)]
    pub domains: Vec<Hostname>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/facteur")
}

/// `[listen]`: the addresses each service listens on. An empty list disables it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// SMTP for incoming mail (port 25).
    pub smtp: Addrs,
    /// Submission with STARTTLS (port 587, RFC 6409).
    pub submission: Addrs,
    /// Submission over implicit TLS (port 465, RFC 8314).
    pub submissions: Addrs,
    /// POP3 with STLS (port 110).
    pub pop3: Addrs,
    /// POP3 over implicit TLS (port 995).
    pub pop3s: Addrs,
    /// IMAP with STARTTLS (port 143).
    pub imap: Addrs,
    /// IMAP over implicit TLS (port 993).
    pub imaps: Addrs,
    /// The web pages over HTTPS, with the box's certificate.
    pub web: Addrs,
    /// The web pages over plain HTTP: loopback addresses only (tests, a
    /// reverse proxy on the same host).
    pub web_plain: Addrs,
}

impl Default for Listen {
    fn default() -> Self {
        let any = |port| Addrs(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
        Listen {
            smtp: any(25),
            submission: any(587),
            submissions: any(465),
            pop3: any(110),
            pop3s: any(995),
            imap: any(143),
            imaps: any(993),
            web: any(443),
            web_plain: Addrs(Vec::new()),
        }
    }
}

/// `[tls]`: certificate paths and plaintext policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain. Default: `<data_dir>/tls/cert.pem`, generated
    /// (self-signed) on first start when absent.
    pub cert: Option<PathBuf>,
    /// PEM private key. Default: `<data_dir>/tls/key.pem`.
    pub key: Option<PathBuf>,
    /// Allow passwords over connections without TLS (tests, trusted LANs).
    pub allow_plaintext_auth: bool,
}

/// `[store]`: index tuning and the disk reserve.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// sled page cache size. Not a hard cap on memory, but the main knob.
    pub cache_capacity: Size,
    /// Free space below which new mail is refused (as Postfix's
    /// `queue_minfree`), so that the index can still be written and users
    /// can delete. Default: 2% of the file system or 64 MiB, the larger.
    pub min_free: Option<Size>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            cache_capacity: Size(4 << 20),
            min_free: None,
        }
    }
}

/// `[limits]`: every bound a peer could otherwise push.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Open connections over all services, shared out among them
    /// (`crate::net::limits`).
    pub max_connections: u32,
    /// Open connections from one client address (IPv6 grouped by /64).
    pub max_connections_per_ip: u32,
    /// Largest message accepted (SMTP SIZE, IMAP APPENDLIMIT).
    pub max_message_size: Size,
    /// Recipients per SMTP transaction.
    pub max_recipients: u32,
    /// Longest command line (SMTP, POP3, IMAP), CRLF included.
    pub max_command_line: u32,
    /// Longest text line inside a message before it is refused.
    pub max_text_line: Size,
    /// Protocol errors tolerated before a connection is closed.
    pub max_bad_commands: u32,
    /// Failed logins from one address, or against one account, before
    /// replies slow down.
    pub auth_failures_before_delay: u32,
    /// Failed logins from one address, or against one account, before
    /// logins from it, or to it, are refused.
    pub auth_failures_before_refusal: u32,
    /// How long refused logins stay refused.
    pub auth_refusal_period: Dur,
    /// Per-user storage quota (0: none).
    pub mailbox_quota: Size,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            max_connections_per_ip: 20,
            max_message_size: Size(25 << 20),
            max_recipients: 100,
            max_command_line: 2048,
            max_text_line: Size(256 << 10),
            max_bad_commands: 10,
            auth_failures_before_delay: 3,
            auth_failures_before_refusal: 10,
            auth_refusal_period: Dur(Duration::from_secs(15 * 60)),
            mailbox_quota: Size(0),
        }
    }
}

/// `[timeouts]`: RFC 5321 §4.5.3.2, RFC 1939 §3 and RFC 9051 §5.4 defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Waiting for the next SMTP command (RFC 5321 §4.5.3.2.7: 5 minutes).
    pub smtp_command: Dur,
    /// Waiting for the next block of message data (§4.5.3.2.6: 3 minutes).
    pub smtp_data_block: Dur,
    /// An SMTP session with no message, chunk, login or TLS (NOOP, RSET...).
    pub smtp_no_progress: Dur,
    /// POP3 inactivity (RFC 1939 §3: at least 10 minutes).
    pub pop3_idle: Dur,
    /// IMAP inactivity, IDLE included (RFC 9051 §5.4: at least 30 minutes).
    pub imap_idle: Dur,
    /// An IMAP client must log in within this time of connecting.
    pub imap_login: Dur,
    /// Longest run of one IMAP command (SEARCH) before `NO [LIMIT]`.
    pub imap_command: Dur,
    /// A TLS handshake.
    pub tls_handshake: Dur,
}

impl Default for Timeouts {
    fn default() -> Self {
        let min = |m: u64| Dur(Duration::from_secs(m * 60));
        Timeouts {
            smtp_command: min(5),
            smtp_data_block: min(3),
            smtp_no_progress: min(10),
            pop3_idle: min(10),
            imap_idle: min(30),
            imap_login: Dur(Duration::from_secs(60)),
            imap_command: Dur(Duration::from_secs(30)),
            tls_handshake: Dur(Duration::from_secs(30)),
        }
    }
}

/// `[dns]`: the stub resolver.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Name servers as `IP` or `IP:PORT`; empty: those of /etc/resolv.conf.
    pub nameservers: Vec<NameServer>,
    /// Time to wait for one answer.
    pub timeout: Dur,
    /// Tries per name server.
    pub attempts: u32,
    /// Cached answers kept.
    pub cache_entries: u32,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            nameservers: Vec::new(),
            timeout: Dur(Duration::from_secs(5)),
            attempts: 2,
            cache_entries: 1024,
        }
    }
}

/// `[outbound]`: the delivery queue.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    /// Destination port for direct MX delivery (25; tests use others).
    pub port: u16,
    /// How long a message may stay queued before it bounces.
    pub max_lifetime: Dur,
    /// Send a delay warning after this long (0: never).
    pub delay_warning: Dur,
    /// Deliveries in progress at once.
    pub max_concurrent: u32,
    /// Deliveries in progress at once to one domain.
    pub max_per_domain: u32,
    /// Longest wait for a remote server at any step (connect, TLS, each
    /// reply). The RFC 5321 §4.5.3.2 timeouts (5 to 10 minutes) apply
    /// below it.
    pub timeout: Dur,
    /// How long a connection to a next hop stays open, idle, after a
    /// delivery, for the next message there (0: one connection per
    /// delivery). Postfix's `smtp_connection_cache_time_limit`.
    pub connection_idle: Dur,
    /// Messages (transactions) sent over one connection, at most.
    /// Postfix's `smtp_connection_reuse_count_limit`.
    pub messages_per_connection: u32,
    /// No new message over a connection older than this. Postfix's
    /// `smtp_connection_reuse_time_limit`.
    pub connection_max_age: Dur,
    /// Idle connections kept open at once, over all next hops (0: none).
    /// Each holds a socket and, under TLS, some 30 KiB of state.
    pub idle_connections: u32,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            port: 25,
            max_lifetime: Dur(Duration::from_secs(5 * 86400)),
            delay_warning: Dur(Duration::from_secs(4 * 3600)),
            max_concurrent: 8,
            max_per_domain: 2,
            timeout: Dur(Duration::from_secs(600)),
            connection_idle: Dur(Duration::from_secs(2)),
            messages_per_connection: 100,
            connection_max_age: Dur(Duration::from_secs(300)),
            idle_connections: 8,
        }
    }
}

/// How to reach the smarthost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTls {
    /// STARTTLS, required.
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// No TLS (only for a relay on a trusted network).
    None,
}

/// `[relay]`: send every remote message through one provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Relay {
    /// Smarthost name; empty: deliver directly to each domain's MX.
    pub host: String,
    /// Smarthost port.
    pub port: u16,
    /// TLS mode.
    pub tls: RelayTls,
    /// AUTH user name (empty: no AUTH).
    pub username: String,
    /// AUTH password.
    pub password: String,
    /// Verify the smarthost certificate against the system roots.
    pub verify_certificate: bool,
    /// A PEM file of extra CA certificates to trust for the smarthost (a
    /// relay with a private CA); empty for the system roots only.
    pub ca_file: String,
}

impl Default for Relay {
    fn default() -> Self {
        Relay {
            host: String::new(),
            port: 587,
            tls: RelayTls::Starttls,
            username: String::new(),
            password: String::new(),
            verify_certificate: true,
            ca_file: String::new(),
        }
    }
}

/// `[imap]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imap {
    /// The hierarchy separator clients see: `/` or `.` (RFC 9051 §5.1).
    pub separator: char,
}

impl Default for Imap {
    fn default() -> Self {
        Imap { separator: '/' }
    }
}

/// `[mta]`: the MTA and submission policy (`crate::mta`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mta {
    /// Where `postmaster@` of a local domain goes when no account or alias
    /// has that address (RFC 5321 §4.5.1). Empty: the oldest account.
    pub postmaster: Vec<String>,
    /// Messages one account may submit per hour (0: no limit).
    pub max_messages_per_hour: u32,
    /// Recipients one account may submit to per hour (0: no limit).
    pub max_recipients_per_hour: u32,
}

impl Default for Mta {
    fn default() -> Self {
        Mta {
            postmaster: Vec::new(),
            max_messages_per_hour: 100,
            max_recipients_per_hour: 500,
        }
    }
}

/// `[antispam]`: what scores mean, and the settings of the checks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Antispam {
    /// Run the inbound checks at all.
    pub enabled: bool,
    /// Score from which mail goes to the recipient's Junk folder.
    pub junk_score: f32,
    /// Score from which mail is refused at DATA (550 5.7.1).
    pub reject_score: f32,
    /// How long the DNS lookups of one SMTP stage may take.
    pub dns_deadline: Dur,
    /// Answer 451 (try later) when SPF or DMARC hit a temporary DNS error.
    pub tempfail_on_dns_error: bool,
    /// File SPF softfails in Junk.
    pub spf_softfail_to_junk: bool,
    /// Refuse (550 5.7.1) mail failing DMARC whose domain asks p=reject.
    pub dmarc_reject: bool,
    /// File in Junk mail failing DMARC whose domain asks p=quarantine
    /// (and p=reject when `dmarc_reject` is off).
    pub dmarc_quarantine: bool,
    /// Greylist unknown senders.
    pub greylisting: bool,
    /// How long a new triplet must wait before a retry is accepted.
    pub greylist_delay: Dur,
    /// How long a retry may come after the first attempt.
    pub greylist_window: Dur,
    /// How long a triplet that passed (and its client network, for the
    /// sender's domain) stays whitelisted after its last use.
    pub greylist_pass_lifetime: Dur,
    /// Accepted messages that passed SPF or aligned DKIM after which a
    /// sender domain with SPF pass skips greylisting.
    pub greylist_trusted_after: u32,
    /// Most greylisting entries kept on disk; the oldest go first.
    pub greylist_max_entries: u32,
    /// DNS block and allow lists.
    pub dnsbl: Vec<DnsList>,
    /// Query the `ip` lists for loopback and private clients too (tests
    /// with a local DNS server; public lists know nothing of them).
    pub dnsbl_check_private: bool,
    /// New connections from one client address (IPv6 by /64) per minute
    /// before connections are refused with 421 (0: no limit).
    pub max_connections_per_minute: u32,
    /// Messages (MAIL FROM) from one client address per hour before
    /// further ones get 450 (0: no limit).
    pub max_messages_per_hour: u32,
    /// Refused recipients (unknown users) from one client address within
    /// `failed_rcpts_window` before the session is closed with 421
    /// (directory harvesting; 0: no limit).
    pub max_failed_rcpts: u32,
    /// The window of `max_failed_rcpts`.
    pub failed_rcpts_window: Dur,
    /// Apply the rate limits to loopback clients too.
    pub rate_limit_loopback: bool,
    /// Clients that skip greylisting, the DNS block lists and the rate
    /// limits (never a licence to relay).
    pub trusted_networks: Vec<crate::antispam::trusted::Network>,

    // The Bayes filter.
    /// Score messages with the per-user Bayes filter, and train it from
    /// IMAP moves into and out of Junk.
    pub bayes: bool,
    /// Spam and ham messages each a user (or the global pool) needs
    /// trained before the filter gives a verdict.
    pub bayes_min_trained: u32,
    /// Most tokens kept per user and in the global pool (~40 bytes each
    /// on disk); over it, the stalest are pruned.
    pub bayes_max_tokens: u64,
    /// Most trained messages remembered per user (~50 bytes each on
    /// disk), so that a message is not counted twice; over it, those
    /// trained longest ago are forgotten.
    pub bayes_max_trained: u64,
    /// Tokens seen in a single message go after this many days unseen.
    pub bayes_prune_days: u32,
    /// Indicator (0 ham .. 1 spam) at or below which mail is ham.
    pub bayes_ham_cutoff: f32,
    /// Indicator at or above which mail is spam; between the two cutoffs
    /// the filter is unsure and scores nothing.
    pub bayes_spam_cutoff: f32,
    /// Score at an indicator of 0.99 (BAYES_SPAM; a sixth of it at the
    /// spam cutoff).
    pub bayes_spam_score: f32,
    /// Score of ham (BAYES_HAM).
    pub bayes_ham_score: f32,
}

impl Default for Antispam {
    fn default() -> Self {
        let list = |zone: &str, weight, kind| DnsList {
            zone: Hostname(zone.into()),
            weight,
            kind,
            codes: BTreeMap::new(),
        };
        let mut zen = list("zen.spamhaus.org", 3.5, DnsListKind::Ip);
        // Spamhaus's PBL (127.0.0.10, .11) lists address space meant for
        // end users, not listed for spam: mail straight from it is
        // suspect, no more.
        zen.codes = [
            (Ipv4Addr::new(127, 0, 0, 10), 1.5),
            (Ipv4Addr::new(127, 0, 0, 11), 1.5),
        ]
        .into();
        Antispam {
            enabled: true,
            junk_score: 5.0,
            reject_score: 12.0,
            dns_deadline: Dur(Duration::from_secs(20)),
            tempfail_on_dns_error: false,
            spf_softfail_to_junk: true,
            dmarc_reject: true,
            dmarc_quarantine: true,
            greylisting: true,
            greylist_delay: Dur(Duration::from_secs(5 * 60)),
            greylist_window: Dur(Duration::from_secs(86400)),
            greylist_pass_lifetime: Dur(Duration::from_secs(36 * 86400)),
            greylist_trusted_after: 2,
            greylist_max_entries: 50_000,
            dnsbl: vec![
                zen,
                list("bl.spamcop.net", 2.0, DnsListKind::Ip),
                list("list.dnswl.org", -1.5, DnsListKind::Ip),
                list("dbl.spamhaus.org", 3.0, DnsListKind::Domain),
            ],
            dnsbl_check_private: false,
            max_connections_per_minute: 30,
            max_messages_per_hour: 120,
            max_failed_rcpts: 10,
            failed_rcpts_window: Dur(Duration::from_secs(3600)),
            rate_limit_loopback: false,
            trusted_networks: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),

            bayes: true,
            bayes_min_trained: 20,
            bayes_max_tokens: 150_000,
            bayes_max_trained: 20_000,
            bayes_prune_days: 30,
            bayes_ham_cutoff: 0.2,
            bayes_spam_cutoff: 0.8,
            bayes_spam_score: 6.0,
            bayes_ham_score: -1.5,
        }
    }
}

/// One DNS block list (or allow list, with a negative weight), RFC 5782.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsList {
    /// The list's zone, like `zen.spamhaus.org`.
    pub zone: Hostname,
    /// Score added when listed; negative for an allow list (DNSWL).
    pub weight: f32,
    /// What is looked up in it; `ip` when not given.
    #[serde(default)]
    pub kind: DnsListKind,
    /// Weights of particular return codes (RFC 5782 §2.1: lists say what
    /// a listing means by its address), overriding `weight`; 0 ignores
    /// a code.
    #[serde(default)]
    pub codes: BTreeMap<Ipv4Addr, f32>,
}

impl DnsList {
    /// The score of a listing with these return codes: the weight of the
    /// code that weighs most (by absolute value), each code weighing
    /// `codes[code]` or else `weight`.
    pub fn weight_of(&self, returned: &[Ipv4Addr]) -> f32 {
        returned
            .iter()
            .map(|c| self.codes.get(c).copied().unwrap_or(self.weight))
            .fold(
                0.0,
                |best: f32, w| if w.abs() > best.abs() { w } else { best },
            )
    }
}

/// What a DNS list is queried with (RFC 5782 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsListKind {
    /// The client's address, at connection (§2.1, §2.4).
    #[default]
    Ip,
    /// The From and envelope sender domains, at the end of DATA (§2.3).
    Domain,
}

/// `[web]`: the web pages' sessions and HTTP timeouts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Most signed-in sessions at once; a login past it ends the oldest.
    /// Each costs about 200 bytes.
    pub max_sessions: u32,
    /// A session unused this long is signed out.
    pub session_idle: Dur,
    /// A session ends this long after its login, used or not.
    pub session_lifetime: Dur,
    /// A client must send a request's headers within this time.
    pub header_timeout: Dur,
    /// A connection with no request in progress is closed after this time.
    pub idle_timeout: Dur,
    /// The bearer token that opens `GET /metrics` to clients off loopback
    /// (empty: loopback only).
    pub metrics_token: String,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            max_sessions: 64,
            session_idle: Dur(Duration::from_secs(30 * 60)),
            session_lifetime: Dur(Duration::from_secs(12 * 3600)),
            header_timeout: Dur(Duration::from_secs(10)),
            idle_timeout: Dur(Duration::from_secs(60)),
            metrics_token: String::new(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` overrides it.
    pub level: Level,
}

impl Default for Log {
    fn default() -> Self {
        Log { level: Level::Info }
    }
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation.
    Info,
    /// Per-connection detail.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    /// The `log` crate's filter for this level.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
            Level::Trace => log::LevelFilter::Trace,
        }
    }
}

/// A byte count, written as an integer or with a unit: `"25 MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes, or with a unit (KiB, MiB, GiB) such as \"25 MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size as the config writes it: bytes, or a number with a unit
/// (`25 MiB`, `1G`).
pub fn parse_size(s: &str) -> Option<Size> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "k" | "KB" | "kB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        "G" | "GiB" | "GB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).map(Size)
}

/// A duration, written as `"30s"`, `"5m"`, `"2h"` or `"5d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\", \"2h\" or \"5d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(V)
    }
}

fn parse_duration(s: &str) -> Option<Dur> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => return Some(Dur(Duration::from_millis(n))),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(secs).map(|s| Dur(Duration::from_secs(s)))
}

/// Listening addresses: one `"IP:PORT"` string, a list of them, or `""`/`[]`
/// to disable the service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addrs(pub Vec<SocketAddr>);

impl<'de> Deserialize<'de> for Addrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Addrs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an address such as \"0.0.0.0:25\" or \"[::]:25\", a list of them, or \"\" to disable",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Addrs, E> {
                if v.trim().is_empty() {
                    return Ok(Addrs(Vec::new()));
                }
                v.trim()
                    .parse()
                    .map(|a| Addrs(vec![a]))
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Addrs, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    let a = s
                        .trim()
                        .parse()
                        .map_err(|_| de::Error::invalid_value(de::Unexpected::Str(&s), &self))?;
                    out.push(a);
                }
                Ok(Addrs(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A DNS name server address; port 53 when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServer(pub SocketAddr);

impl<'de> Deserialize<'de> for NameServer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(NameServer(a));
        }
        s.parse::<std::net::IpAddr>()
            .map(|ip| NameServer(SocketAddr::new(ip, 53)))
            .map_err(|_| {
                de::Error::invalid_value(
                    de::Unexpected::Str(&s),
                    &"an IP address, optionally with a port (\"192.0.2.1\", \"127.0.0.1:5353\")",
                )
            })
    }
}

/// A DNS host or domain name, lower-cased, checked for RFC 1035 syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(pub String);

impl Hostname {
    /// Checks and normalises a name; U-labels become A-labels (IDNA).
    pub fn parse(s: &str) -> Option<Hostname> {
        let s = crate::mail::idna::to_ascii(s.trim())?;
        let s = s.trim_end_matches('.').to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        ok.then_some(Hostname(s))
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hostname {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hostname::parse(&s).ok_or_else(|| {
            de::Error::invalid_value(
                de::Unexpected::Str(&s),
                &"a DNS name such as \"mail.example.com\"",
            )
        })
    }
}

/// A configuration error, rendered as `FILE:LINE: KEY: what is expected`.
#[derive(Debug)]
pub struct ConfigError {
    /// Where the config came from.
    pub source: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, when known.
    pub key: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses a config text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let cfg: Config = parse_toml(text, source)?;
        cfg.validate().map_err(|(key, message)| ConfigError {
            source: source.to_string(),
            line: find_key_line(text, &key),
            key: Some(key),
            message,
        })?;
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source: path.display().to_string(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The embedded default configuration.
    pub fn embedded() -> Config {
        // The embedded text is tested to parse (see tests below).
        match Config::parse(EMBEDDED_DEFAULT, "embedded default") {
            Ok(c) => c,
            Err(e) => panic!("the embedded default config is invalid: {e}"),
        }
    }

    /// Checks that span several keys.
    fn validate(&self) -> Result<(), (String, String)> {
        if !matches!(self.imap.separator, '/' | '.') {
            return Err(("imap.separator".into(), "expected \"/\" or \".\"".into()));
        }
        let l = &self.limits;
        if l.max_connections == 0 {
            return Err((
                "limits.max_connections".into(),
                "expected at least 1".into(),
            ));
        }
        if l.max_connections_per_ip == 0 || l.max_connections_per_ip > l.max_connections {
            return Err((
                "limits.max_connections_per_ip".into(),
                "expected between 1 and limits.max_connections".into(),
            ));
        }
        if l.max_command_line < 512 {
            return Err((
                "limits.max_command_line".into(),
                "expected at least 512 (RFC 5321 §4.5.3.1.4)".into(),
            ));
        }
        if l.max_text_line.0 < 1000 {
            return Err((
                "limits.max_text_line".into(),
                "expected at least 1000 (RFC 5321 §4.5.3.1.6)".into(),
            ));
        }
        if l.max_message_size.0 < 1024 {
            return Err((
                "limits.max_message_size".into(),
                "expected at least 1 KiB".into(),
            ));
        }
        if l.auth_failures_before_refusal < l.auth_failures_before_delay {
            return Err((
                "limits.auth_failures_before_refusal".into(),
                "expected at least limits.auth_failures_before_delay".into(),
            ));
        }
        if self.store.cache_capacity.0 < 64 << 10 {
            return Err((
                "store.cache_capacity".into(),
                "expected at least 64 KiB".into(),
            ));
        }
        if self.antispam.reject_score < self.antispam.junk_score {
            return Err((
                "antispam.reject_score".into(),
                "expected at least antispam.junk_score".into(),
            ));
        }
        let a = &self.antispam;
        if a.greylist_window.0 <= a.greylist_delay.0 {
            return Err((
                "antispam.greylist_window".into(),
                "expected longer than antispam.greylist_delay".into(),
            ));
        }
        if a.greylist_max_entries < 100 {
            return Err((
                "antispam.greylist_max_entries".into(),
                "expected at least 100".into(),
            ));
        }
        if let Some(l) = a
            .dnsbl
            .iter()
            .find(|l| !l.weight.is_finite() || l.codes.values().any(|w| !w.is_finite()))
        {
            return Err((
                "antispam.dnsbl".into(),
                format!("expected finite weights for {}", l.zone),
            ));
        }
        for l in &a.dnsbl {
            if let Some(c) = l.codes.keys().find(|c| c.octets()[0] != 127) {
                return Err((
                    "antispam.dnsbl".into(),
                    format!(
                        "{} codes: expected addresses in 127.0.0.0/8, found {c}",
                        l.zone
                    ),
                ));
            }
        }
        if a.max_failed_rcpts > 0 && a.failed_rcpts_window.0.as_secs() == 0 {
            return Err((
                "antispam.failed_rcpts_window".into(),
                "expected at least 1s".into(),
            ));
        }
        if !self.relay.host.is_empty() && Hostname::parse(&self.relay.host).is_none() {
            return Err((
                "relay.host".into(),
                "expected a host name such as \"smtp.provider.example\"".into(),
            ));
        }
        if self.relay.username.is_empty() != self.relay.password.is_empty() {
            return Err((
                "relay.password".into(),
                "expected relay.username and relay.password to be set together".into(),
            ));
        }
        // Passwords and session cookies cross a plain-HTTP listener in
        // clear: only this host may reach one.
        if let Some(a) = self
            .listen
            .web_plain
            .0
            .iter()
            .find(|a| !a.ip().is_loopback())
        {
            return Err((
                "listen.web_plain".into(),
                format!(
                    "{a} is not a loopback address: plain HTTP is only allowed on \
                     127.0.0.1 or ::1; use listen.web for HTTPS"
                ),
            ));
        }
        if self.web.max_sessions == 0 {
            return Err(("web.max_sessions".into(), "expected at least 1".into()));
        }
        for (key, d) in [
            ("session_idle", self.web.session_idle),
            ("session_lifetime", self.web.session_lifetime),
            ("header_timeout", self.web.header_timeout),
            ("idle_timeout", self.web.idle_timeout),
        ] {
            if d.0.is_zero() {
                return Err((format!("web.{key}"), "expected at least 1s".into()));
            }
        }
        let o = &self.outbound;
        if o.messages_per_connection == 0 {
            return Err((
                "outbound.messages_per_connection".into(),
                "expected at least 1".into(),
            ));
        }
        // RFC 5321 §4.5.3.2.7: a server may close a session idle for 5
        // minutes; waiting that long for the next message is waste.
        if o.connection_idle.0 >= Duration::from_secs(300) {
            return Err((
                "outbound.connection_idle".into(),
                "expected less than 5m (a few seconds is usual)".into(),
            ));
        }
        if self.console.idle_timeout.0.as_secs() == 0 {
            return Err(("console.idle_timeout".into(), "expected at least 1s".into()));
        }
        if self.dns.attempts == 0 {
            return Err(("dns.attempts".into(), "expected at least 1".into()));
        }
        let t = &self.timeouts;
        // RFC 9051 §5.4: the autologout timer is at least 30 minutes.
        for (key, d, min) in [
            ("smtp_command", t.smtp_command, "1s"),
            ("smtp_data_block", t.smtp_data_block, "1s"),
            ("pop3_idle", t.pop3_idle, "1s"),
            ("imap_idle", t.imap_idle, "30m"),
            ("imap_login", t.imap_login, "1s"),
            ("imap_command", t.imap_command, "1s"),
            ("tls_handshake", t.tls_handshake, "1s"),
        ] {
            if parse_duration(min).is_some_and(|m| d.0 < m.0) {
                return Err((
                    format!("timeouts.{key}"),
                    format!("expected at least {min}"),
                ));
            }
        }
        Ok(())
    }

    /// Path of the TLS certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.tls
            .cert
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("tls/cert.pem"))
    }

    /// Path of the TLS private key.
    pub fn key_path(&self) -> PathBuf {
        self.tls
            .key
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("tls/key.pem"))
    }

    /// Path of the admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.server.data_dir.join("admin.sock")
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads TOML into `T` with the errors `check-config` gives: the source,
/// the line, the dotted key and what is expected. Used for the config and
/// for files of the same kind (a first-boot profile).
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    source: &str,
) -> Result<T, ConfigError> {
    let fail = |line, key, message| ConfigError {
        source: source.to_string(),
        line,
        key,
        message,
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        fail(line, None, e.message().to_string())
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.span().map(|s| line_of(text, s.start));
        let mut message = inner.message().to_string();
        // A missing field is reported on its table; name the full key.
        let mut key = (path != ".").then_some(path);
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            let full = match &key {
                Some(k) => format!("{k}.{field}"),
                None => field.to_string(),
            };
            message = format!("missing required key `{full}`");
            key = Some(full);
        }
        fail(line, key, message)
    })
}

/// Best effort: the line where `table.key` is set, for cross-key errors.
fn find_key_line(text: &str, path: &str) -> Option<usize> {
    let (table, key) = path.rsplit_once('.')?;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = h.trim().to_string();
        } else if current == table {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim() == key {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "f.toml").unwrap_err().to_string()
    }

    #[test]
    fn embedded_default_is_loopback_and_local() {
        let c = Config::embedded();
        assert_eq!(c.server.hostname.0, "mail.example.test");
        assert_eq!(c.server.data_dir, PathBuf::from("./data"));
        assert_eq!(c.server.domains, vec![Hostname("example.test".into())]);
        let ports: Vec<u16> = [
            &c.listen.smtp,
            &c.listen.submission,
            &c.listen.submissions,
            &c.listen.pop3,
            &c.listen.pop3s,
            &c.listen.imap,
            &c.listen.imaps,
            &c.listen.web,
            &c.listen.web_plain,
        ]
        .iter()
        .map(|a| {
            assert!(a.0[0].ip().is_loopback());
            a.0[0].port()
        })
        .collect();
        assert_eq!(
            ports,
            [2525, 2587, 2465, 2110, 2995, 2143, 2993, 8443, 8080]
        );
        assert_eq!(c.store.cache_capacity, Size(4 << 20));
        assert_eq!(c.limits.max_message_size, Size(25 << 20));
        let trusted: Vec<String> = c
            .antispam
            .trusted_networks
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(trusted, ["127.0.0.0/8", "::1/128"]);
        let e =
            err("[server]\nhostname = \"m.example\"\n[antispam]\ntrusted_networks = [\"lan\"]\n");
        assert!(
            e.contains("antispam.trusted_networks") && e.contains("192.0.2.0/24"),
            "{e}"
        );
    }

    #[test]
    fn production_example_parses_with_standard_ports() {
        let text = include_str!("../config/facteur.toml");
        let c = Config::parse(text, "facteur.toml").unwrap();
        assert_eq!(c.listen.smtp.0[0].port(), 25);
        assert_eq!(c.listen.submission.0[0].port(), 587);
        assert_eq!(c.listen.submissions.0[0].port(), 465);
        assert_eq!(c.listen.pop3.0[0].port(), 110);
        assert_eq!(c.listen.pop3s.0[0].port(), 995);
        assert_eq!(c.listen.imap.0[0].port(), 143);
        assert_eq!(c.listen.imaps.0[0].port(), 993);
    }

    #[test]
    fn errors_name_file_line_key_and_expectation() {
        let e =
            err("[server]\nhostname = \"m.example\"\n[limits]\nmax_message_size = \"25 Mbit\"\n");
        assert!(
            e.starts_with("f.toml:4: key `limits.max_message_size`:"),
            "{e}"
        );
        assert!(e.contains("expected a size"), "{e}");

        let e = err("[server]\nhostname = \"m.example\"\n[listen]\nsmtp = \"nowhere\"\n");
        assert!(e.starts_with("f.toml:4: key `listen.smtp`:"), "{e}");
        assert!(e.contains("expected an address"), "{e}");

        let e = err("[server]\nhostname = \"m.example\"\nhostnmae = 1\n");
        assert!(e.starts_with("f.toml:3:"), "{e}");
        assert!(e.contains("unknown field `hostnmae`"), "{e}");

        let e = err("[server]\ndata_dir = \"/x\"\n");
        assert!(e.contains("key `server.hostname`"), "{e}");
        assert!(e.contains("missing required key"), "{e}");

        let e = err("[server\n");
        assert!(e.starts_with("f.toml:1:"), "{e}");

        let e = err("[server]\nhostname = \"m.example\"\n[imap]\nseparator = \"|\"\n");
        assert!(e.contains("imap.separator"), "{e}");

        let e = err("[server]\nhostname = \"m.example\"\n[timeouts]\nsmtp_command = 5\n");
        assert!(
            e.starts_with("f.toml:4: key `timeouts.smtp_command`:"),
            "{e}"
        );
        assert!(e.contains("expected a duration"), "{e}");

        let e = err("[server]\nhostname = \"m.example\"\n[limits]\nmax_connections = 10\nmax_connections_per_ip = 50\n");
        assert!(
            e.starts_with("f.toml:5: key `limits.max_connections_per_ip`:"),
            "{e}"
        );

        // Zero timeouts and an autologout under 30 minutes are refused.
        let e = err("[server]\nhostname = \"m.example\"\n[timeouts]\nsmtp_command = \"0s\"\n");
        assert!(
            e.contains("timeouts.smtp_command") && e.contains("at least 1s"),
            "{e}"
        );
        let e = err("[server]\nhostname = \"m.example\"\n[timeouts]\nimap_idle = \"1s\"\n");
        assert!(
            e.contains("timeouts.imap_idle") && e.contains("at least 30m"),
            "{e}"
        );

        let e = err("[server]\nhostname = \"bad name!\"\n");
        assert!(e.starts_with("f.toml:2: key `server.hostname`:"), "{e}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("25 MiB"), Some(Size(25 << 20)));
        assert_eq!(parse_size("512KiB"), Some(Size(512 << 10)));
        assert_eq!(parse_size("1000"), Some(Size(1000)));
        assert_eq!(parse_size("1 TiB"), None);
        assert_eq!(parse_size("99999999999999 GiB"), None);
        assert_eq!(parse_duration("5m"), Some(Dur(Duration::from_secs(300))));
        assert_eq!(
            parse_duration("250ms"),
            Some(Dur(Duration::from_millis(250)))
        );
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
    }

    #[test]
    fn dns_list_return_codes() {
        let c = Config::parse(
            "[server]\nhostname = \"m.example\"\n[antispam]\n\
             dnsbl = [{ zone = \"zen.example\", weight = 3.5, codes = { \"127.0.0.10\" = 1.5, \"127.0.0.11\" = 0 } }]\n",
            "t",
        )
        .unwrap();
        let l = &c.antispam.dnsbl[0];
        assert_eq!(l.codes.len(), 2);
        let code = |d| Ipv4Addr::new(127, 0, 0, d);
        assert_eq!(l.weight_of(&[code(10)]), 1.5);
        assert_eq!(l.weight_of(&[code(11)]), 0.0);
        assert_eq!(l.weight_of(&[code(10), code(2)]), 3.5);
        // The shipped default weighs Spamhaus's PBL codes lower.
        let zen = &Antispam::default().dnsbl[0];
        assert_eq!(zen.weight_of(&[code(10)]), 1.5);
        assert_eq!(zen.weight_of(&[code(4)]), 3.5);
        let e = err("[server]\nhostname = \"m.example\"\n[antispam]\n\
             dnsbl = [{ zone = \"zen.example\", weight = 3.5, codes = { \"10.0.0.1\" = 1 } }]\n");
        assert!(e.contains("127.0.0.0/8"), "{e}");
        let e = err(
            "[server]\nhostname = \"m.example\"\n[antispam]\n\
             dnsbl = [{ zone = \"zen.example\", weight = 3.5, codes = { \"127.0.0.2\" = \"x\" } }]\n",
        );
        assert!(e.contains("antispam"), "{e}");
    }

    #[test]
    fn dns_lists_as_tables_with_default_kind() {
        let c = Config::parse(
            "[server]\nhostname = \"m.example\"\n[antispam]\n\
             dnsbl = [{ zone = \"BL.Example.\", weight = 2.5 },\n\
             { zone = \"dbl.example\", weight = 3, kind = \"domain\" },\n\
             { zone = \"wl.example\", weight = -1.5, kind = \"ip\" }]\n\
             dnsbl_check_private = true\nmax_connections_per_minute = 0\n",
            "t",
        )
        .unwrap();
        let a = &c.antispam;
        assert_eq!(a.dnsbl.len(), 3);
        assert_eq!(a.dnsbl[0].zone.0, "bl.example");
        assert_eq!(a.dnsbl[0].kind, DnsListKind::Ip);
        assert_eq!(a.dnsbl[1].kind, DnsListKind::Domain);
        assert_eq!(a.dnsbl[1].weight, 3.0);
        assert_eq!(a.dnsbl[2].weight, -1.5);
        assert!(a.dnsbl_check_private);
        assert_eq!(a.max_connections_per_minute, 0);
        // Untouched keys keep their defaults.
        assert_eq!(a.max_failed_rcpts, 10);
        assert_eq!(
            a.greylist_pass_lifetime,
            Dur(Duration::from_secs(36 * 86400))
        );

        // An empty list switches them off (the test configs do this).
        let c = Config::parse(
            "[server]\nhostname = \"m.example\"\n[antispam]\ndnsbl = []\n",
            "t",
        )
        .unwrap();
        assert!(c.antispam.dnsbl.is_empty());

        let e = err("[server]\nhostname = \"m.example\"\n[antispam]\ndnsbl = [{ zone = \"x.example\", weight = 1, kind = \"asn\" }]\n");
        assert!(e.contains("antispam.dnsbl"), "{e}");
        let e = err(
            "[server]\nhostname = \"m.example\"\n[antispam]\ndnsbl = [{ zone = \"x.example\" }]\n",
        );
        assert!(e.contains("weight"), "{e}");
        let e = err("[server]\nhostname = \"m.example\"\n[antispam]\ngreylist_delay = \"2d\"\n");
        assert!(e.contains("antispam.greylist_window"), "{e}");
    }

    #[test]
    fn default_dns_lists() {
        let a = Antispam::default();
        let zones: Vec<(&str, f32, DnsListKind)> = a
            .dnsbl
            .iter()
            .map(|l| (l.zone.0.as_str(), l.weight, l.kind))
            .collect();
        assert_eq!(
            zones,
            [
                ("zen.spamhaus.org", 3.5, DnsListKind::Ip),
                ("bl.spamcop.net", 2.0, DnsListKind::Ip),
                ("list.dnswl.org", -1.5, DnsListKind::Ip),
                ("dbl.spamhaus.org", 3.0, DnsListKind::Domain),
            ]
        );
        // The production example documents the same lists.
        let c = Config::parse(include_str!("../config/facteur.toml"), "facteur.toml").unwrap();
        assert_eq!(c.antispam.dnsbl, a.dnsbl);
        assert!(Config::embedded().antispam.dnsbl.is_empty());
    }

    #[test]
    fn listeners_can_be_lists_or_disabled() {
        let c = Config::parse(
            "[server]\nhostname = \"m.example\"\n[listen]\nsmtp = [\"127.0.0.1:25\", \"[::1]:25\"]\nimap = \"\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.listen.smtp.0.len(), 2);
        assert!(c.listen.imap.0.is_empty());
        assert_eq!(c.listen.pop3.0[0].port(), 110);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let e = err("[server]\nhostname = \"m.example\"\n[listen]\nweb_plain = \"0.0.0.0:80\"\n");
        assert!(e.contains("listen.web_plain"), "{e}");
        assert!(e.contains("0.0.0.0:80 is not a loopback address"), "{e}");
        let c = Config::parse(
            "[server]\nhostname = \"m.example\"\n[listen]\nweb_plain = [\"127.0.0.1:8080\", \"[::1]:8080\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.listen.web_plain.0.len(), 2);
        assert_eq!(c.listen.web.0[0].port(), 443);
    }

    #[test]
    fn connection_reuse_limits_are_checked() {
        let c = Config::parse("[server]\nhostname = \"m.example\"\n", "f.toml").unwrap();
        assert_eq!(c.outbound.connection_idle.0, Duration::from_secs(2));
        assert_eq!(c.outbound.messages_per_connection, 100);
        let e =
            err("[server]\nhostname = \"m.example\"\n[outbound]\nmessages_per_connection = 0\n");
        assert!(e.contains("outbound.messages_per_connection"), "{e}");
        let e = err("[server]\nhostname = \"m.example\"\n[outbound]\nconnection_idle = \"10m\"\n");
        assert!(e.contains("outbound.connection_idle"), "{e}");
        assert!(e.contains("less than 5m"), "{e}");
    }

    #[test]
    fn console_keys_have_defaults_and_are_checked() {
        let c = Config::parse("[server]\nhostname = \"m.example\"\n", "t").unwrap();
        assert!(c.console.allow_reset);
        assert_eq!(c.console.idle_timeout.0.as_secs(), 600);
        let c = Config::parse(
            "[server]\nhostname = \"m.example\"\n[console]\nallow_reset = false\nidle_timeout = \"2m\"\n",
            "t",
        )
        .unwrap();
        assert!(!c.console.allow_reset);
        assert_eq!(c.console.idle_timeout.0.as_secs(), 120);
        let e = err("[server]\nhostname = \"m.example\"\n[console]\nidle_timeout = \"0s\"\n");
        assert!(e.contains("console.idle_timeout"), "{e}");
        let e = err("[server]\nhostname = \"m.example\"\n[console]\nbaud = 9600\n");
        assert!(e.contains("baud"), "{e}");
    }
}
