//! The `facteur` command: the server and its admin commands.

mod backup_cli;
mod console_cli;
mod import_cli;
mod spam_cli;

use facteur::admin::{self, Admin, Notify, Request, Response};
use facteur::antispam::bayes::{self, Bayes};
use facteur::auth::dkim::{key, Algorithm};
use facteur::auth::records;
use facteur::auth::spf;
use facteur::config::{Config, Hostname};
use facteur::config_edit::{self, Edit, Source};
use facteur::net::dns::StubResolver;
use facteur::setup::code::SetupCode;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// One command's usage: its words, its text in the usage (two-space
/// indented lines, as in `facteur help`), and the options it takes besides
/// `--config`.
struct Usage {
    words: &'static str,
    text: &'static str,
    options: &'static [&'static str],
}

const COMMANDS: &[Usage] = &[
    Usage {
        words: "run",
        text: "  run                          start every service (also with no COMMAND)",
        options: &[],
    },
    Usage {
        words: "check-config",
        text: "  check-config                 validate the configuration",
        options: &[],
    },
    Usage {
        words: "domain add",
        text: "  domain add NAME              add a mail domain (and its DKIM key)",
        options: &[],
    },
    Usage {
        words: "domain list",
        text: "  domain list",
        options: &[],
    },
    Usage {
        words: "domain remove",
        text: "  domain remove NAME           remove a domain with no users or aliases",
        options: &[],
    },
    Usage {
        words: "user add",
        text: "  user add ADDRESS [--password-stdin] [--admin]
                               a password of at least 10 characters, not the
                               address or its local part; without
                               --password-stdin, one is generated and printed;
                               --admin: the account may administer the box",
        options: &["--password-stdin", "--admin"],
    },
    Usage {
        words: "user passwd",
        text: "  user passwd ADDRESS [--password-stdin]
                               change a password (same rules as user add)",
        options: &["--password-stdin"],
    },
    Usage {
        words: "user list",
        text: "  user list",
        options: &[],
    },
    Usage {
        words: "user admin",
        text: "  user admin ADDRESS on|off    whether the account may administer the box
                               (the last admin keeps the flag)",
        options: &[],
    },
    Usage {
        words: "user remove",
        text: "  user remove ADDRESS          (deletes the user's mail)",
        options: &[],
    },
    Usage {
        words: "setup",
        text: "  setup FILE                   set up an unclaimed box from a first-boot
                               profile (TOML: hostname, domains, admin,
                               [[staff]], [relay]); all of it or nothing",
        options: &[],
    },
    Usage {
        words: "console",
        text: "  console [--device PATH] [--baud N] [--service UNIT]
                               menus for a terminal or a serial line (default
                               115200 8N1): status, first-boot setup, users,
                               aliases, domains, DNS records, queue, reload,
                               log; --service: the systemd unit its \"start
                               the server\" starts (else `facteur run`)",
        options: &["--device", "--baud", "--service"],
    },
    Usage {
        words: "alias add",
        text: "  alias add ALIAS TARGET[,TARGET...]   (@domain as ALIAS: catch-all)",
        options: &[],
    },
    Usage {
        words: "alias list",
        text: "  alias list",
        options: &[],
    },
    Usage {
        words: "alias remove",
        text: "  alias remove ALIAS",
        options: &[],
    },
    Usage {
        words: "queue list",
        text: "  queue list",
        options: &[],
    },
    Usage {
        words: "queue retry",
        text: "  queue retry ID|all",
        options: &[],
    },
    Usage {
        words: "queue remove",
        text: "  queue remove ID",
        options: &[],
    },
    Usage {
        words: "status",
        text: "  status                       the running server's services, uptime,
                               memory, disk, queue and today's mail",
        options: &[],
    },
    Usage {
        words: "log",
        text: "  log [N]                      the running server's last N log lines
                               (default 50, at most 500)",
        options: &[],
    },
    Usage {
        words: "config get",
        text: "  config get KEY               the value of a setting, default included
                               (KEY as table.name; a table alone: all of it)",
        options: &[],
    },
    Usage {
        words: "config set",
        text: "  config set KEY VALUE [KEY VALUE]...
                               change settings in the config file (VALUE as
                               in TOML; a bare word is a string), all or none,
                               each change validated like the whole file; the
                               previous file is kept as FILE.bak, comments
                               stay; a running server applies it at once",
        options: &[],
    },
    Usage {
        words: "config unset",
        text: "  config unset KEY...          set back to the default (removes the line)",
        options: &[],
    },
    Usage {
        words: "reload",
        text: "  reload                       re-read the config file and apply it without
                               dropping connections (SIGHUP does the same)",
        options: &[],
    },
    Usage {
        words: "memory",
        text: "  memory                       the running server's memory: resident set,
                               malloc arenas and what they hold",
        options: &[],
    },
    Usage {
        words: "dkim generate",
        text: "  dkim generate DOMAIN [--algorithm rsa|ed25519] [--selector S]
                               make a DKIM signing key, print its DNS record;
                               keys are files in DATA_DIR/dkim/DOMAIN/SELECTOR.pem,
                               the newest of each algorithm signs; the default
                               selector is rsa-YYYYMMDD or ed25519-YYYYMMDD",
        options: &["--algorithm", "--selector"],
    },
    Usage {
        words: "dns-records",
        text: "  dns-records DOMAIN           print the MX, SPF, DKIM and DMARC records to
                               publish for DOMAIN, and the SRV, autoconfig and
                               autodiscover records mail clients find the
                               server by (zone file syntax)",
        options: &[],
    },
    Usage {
        words: "dns-check",
        text: "  dns-check DOMAIN [--dns IP[:PORT]]
                               look up DOMAIN's published records (MX, SPF,
                               DKIM, DMARC, autoconfig) and the PTR of this
                               host's addresses, and compare them with what
                               dns-records prints; fails if one is wrong",
        options: &["--dns"],
    },
    Usage {
        words: "relay test",
        text: "  relay test                   connect to the configured smarthost, start
                               TLS and authenticate, then QUIT (no mail is
                               sent); prints the server's answers",
        options: &[],
    },
    Usage {
        words: "tls show",
        text: "  tls show                     the server certificate: subject, names,
                               issuer, validity and days left",
        options: &[],
    },
    Usage {
        words: "tls install",
        text: "  tls install CERT KEY         check a PEM chain and key (they match, not
                               expired) and put them where the server reads
                               them; the old pair is kept as .bak",
        options: &[],
    },
    Usage {
        words: "check spf",
        text: "  check spf --ip IP --helo NAME [--mail-from ADDRESS] [--dns IP[:PORT]]
                               SPF result for a client, as received mail
                               would get it (no --mail-from: null sender)",
        options: &["--ip", "--helo", "--mail-from", "--dns"],
    },
    Usage {
        words: "check message",
        text: "  check message FILE --ip IP --helo NAME --mail-from ADDRESS
        [--rcpt ADDRESS]... [--dns IP[:PORT]]
                               run the inbound checks on a stored message:
                               prints Authentication-Results, every rule
                               that fired with its score, and the action",
        options: &["--ip", "--helo", "--mail-from", "--rcpt", "--dns"],
    },
    Usage {
        words: "spam train",
        text: "  spam train --spam|--ham DIR_OR_MBOX USER
                               train USER's Bayes filter from message files
                               (one per file, Maildir cur/new too) or an mbox",
        options: &["--spam", "--ham"],
    },
    Usage {
        words: "spam stats",
        text: "  spam stats USER              trained messages and tokens of USER and of
                               the global pool",
        options: &[],
    },
    Usage {
        words: "backup",
        text: "  backup DEST [--keep N] | backup --stdout
                               a snapshot of the data dir (index at one point
                               in time, bodies, keys) in DEST/facteur-DATE/,
                               bodies of the previous snapshot hard-linked,
                               the newest N kept (default backup.keep); or
                               one tar stream on stdout; the server may run",
        options: &["--stdout", "--keep"],
    },
    Usage {
        words: "backup verify",
        text: "  backup verify PATH           check every body's hash and the index copy
                               of a snapshot, or of each snapshot in PATH",
        options: &[],
    },
    Usage {
        words: "restore",
        text: "  restore SRC                  fill the empty data dir from a snapshot, a
                               backup dir (its newest snapshot) or a tar
                               stream (a file, or - for stdin)",
        options: &["-"],
    },
    Usage {
        words: "import",
        text: "  import USER SOURCE [--folder-map OLD=NEW]... [--ca FILE] [--insecure]
                               copy mail into USER's folders from an mbox
                               file, a Maildir (Dovecot's layout) or an IMAP
                               account imaps://LOGIN@HOST[:PORT] (password on
                               stdin; --ca: a CA to trust besides the system's,
                               --insecure: any certificate); flags and dates
                               kept, Sent Items, Deleted Items, Junk E-mail and
                               [Gmail]/... go to our folders, OLD=NEW moves
                               another (OLD=: skip it); messages already
                               there are skipped, so running it again resumes",
        options: &["--folder-map", "--ca", "--insecure"],
    },
    Usage {
        words: "export",
        text: "  export USER DIR              write USER's mail to a new Maildir (folders as
                               Maildir++ .Sub.Folder, standard flag letters),
                               for Dovecot, mutt or another import",
        options: &[],
    },
    Usage {
        words: "help",
        text: "  help [COMMAND]               this text, or COMMAND's usage alone
                               (so does COMMAND --help)",
        options: &[],
    },
    Usage {
        words: "--version",
        text: "  --version                    version, git revision and target",
        options: &[],
    },
];

const USAGE_NOTES: &str = "Every command takes --config FILE. Without it, the embedded default is
used: data in ./data and every listener on 127.0.0.1 (SMTP 2525,
submission 2587, submissions 2465, POP3 2110, POP3S 2995, IMAP 2143,
IMAPS 2993, web 8080); the first `config set` writes it, changed, to
./data/facteur.toml, which is used from then on.";

/// The whole usage, every command.
fn usage() -> String {
    let mut out = String::from("usage: facteur COMMAND [--config FILE]\n\n");
    for c in COMMANDS {
        out.push_str(c.text);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(USAGE_NOTES);
    out
}

/// The usage of the commands `words` names (`user add`, or `user` for
/// every user command), or `None` when it names none.
fn command_usage(words: &[&str]) -> Option<String> {
    let wanted = words.join(" ");
    let exact: Vec<&Usage> = COMMANDS.iter().filter(|c| c.words == wanted).collect();
    let chosen = if exact.is_empty() {
        let group = format!("{} ", words.first()?);
        COMMANDS
            .iter()
            .filter(|c| words.len() == 1 && c.words.starts_with(&group))
            .collect()
    } else {
        exact
    };
    if chosen.is_empty() {
        return None;
    }
    let mut out = String::from("usage: facteur");
    for (i, c) in chosen.iter().enumerate() {
        let text = c.text.strip_prefix("  ").unwrap_or(c.text);
        if i > 0 {
            out.push_str("\n      facteur");
        }
        out.push(' ');
        out.push_str(text);
    }
    out.push_str("\n\nEvery command takes --config FILE (default: the embedded config).");
    Some(out)
}

/// The words that may name a command: the first two before any option.
fn leading_words(args: &[String]) -> Vec<&str> {
    args.iter()
        .take_while(|a| !a.starts_with('-'))
        .take(2)
        .map(String::as_str)
        .collect()
}

/// The command `args` names: its first two words, or its first.
fn command_of(args: &[String]) -> Option<&'static Usage> {
    let words = leading_words(args);
    let one = words.first().copied().unwrap_or("run");
    let two = words.join(" ");
    COMMANDS
        .iter()
        .find(|c| c.words == two)
        .or_else(|| COMMANDS.iter().find(|c| c.words == one))
}

/// `help ...`, `... --help` and `-h`: the usage asked for, or `None` when
/// help was not asked for.
fn help(args: &[String]) -> Option<ExitCode> {
    let rest = match args.first().map(String::as_str) {
        Some("help") => args.get(1..).unwrap_or_default(),
        _ if args.iter().any(|a| a == "--help" || a == "-h") => args,
        _ => return None,
    };
    let words = leading_words(rest);
    if words.is_empty() {
        println!("{}", usage());
        return Some(ExitCode::SUCCESS);
    }
    let text = command_usage(&words).or_else(|| command_usage(words.get(..1)?));
    Some(match text {
        Some(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        None => usage_error(&format!("no command {:?}", words.join(" "))),
    })
}

/// An option the command does not take, named with the command's usage.
fn unknown_option(args: &[String]) -> Option<ExitCode> {
    let command = command_of(args)?;
    // Only the name: a value may be a secret typed in the wrong place.
    let unknown = args
        .iter()
        .map(|a| a.split('=').next().unwrap_or(a))
        .find(|name| name.starts_with('-') && !command.options.contains(name))?;
    let words: Vec<&str> = command.words.split(' ').collect();
    let text = command_usage(&words).unwrap_or_else(usage);
    eprintln!(
        "facteur: {}: unknown option {unknown}\n\n{text}",
        command.words
    );
    Some(ExitCode::from(2))
}

/// A command used wrongly: the reason and that command's usage.
fn command_error(words: &str, msg: &str) -> ExitCode {
    let words: Vec<&str> = words.split(' ').collect();
    let text = command_usage(&words).unwrap_or_else(usage);
    eprintln!("facteur: {msg}\n\n{text}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // Before any thread exists: arenas made earlier would stay.
    facteur::malloc::cap_arenas();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let config_path = match take_option(&mut args, "--config") {
        Ok(p) => p.map(PathBuf::from),
        Err(e) => return usage_error(&e),
    };
    if let [flag] = args.as_slice() {
        if matches!(flag.as_str(), "--version" | "version" | "-V") {
            println!(
                "facteur {} (git {}, {})",
                env!("CARGO_PKG_VERSION"),
                env!("FACTEUR_GIT_REV"),
                env!("FACTEUR_TARGET")
            );
            return ExitCode::SUCCESS;
        }
    }
    if let Some(code) = help(&args).or_else(|| unknown_option(&args)) {
        return code;
    }
    let password_stdin = take_flag(&mut args, "--password-stdin");
    let admin_flag = take_flag(&mut args, "--admin");
    let (algorithm, selector) = match (
        take_option(&mut args, "--algorithm"),
        take_option(&mut args, "--selector"),
    ) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(e), _) | (_, Err(e)) => return command_error("dkim generate", &e),
    };
    if args.first().map(String::as_str) == Some("console") {
        let opts = (|| -> Result<_, String> {
            Ok(console_cli::Options {
                device: take_option(&mut args, "--device")?,
                baud: take_option(&mut args, "--baud")?,
                service: take_option(&mut args, "--service")?,
            })
        })();
        return match (opts, args.len()) {
            (Ok(opts), 1) => console_cli::run(opts, &config_path),
            (Err(e), _) => command_error("console", &e),
            (Ok(_), _) => command_error("console", "console takes no arguments"),
        };
    }
    let is_generate = args.first().map(String::as_str) == Some("dkim");
    if (algorithm.is_some() || selector.is_some()) && !is_generate {
        return usage_error("--algorithm and --selector go with `dkim generate`");
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["run"] | [] => {
            let cfg = match load(&config_path) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match facteur::app::run(cfg, Source::new(config_path)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        ["check-config"] => match load(&config_path) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} domain(s), data in {})",
                    Source::new(config_path).name(),
                    cfg.server.domains.len(),
                    cfg.server.data_dir.display()
                );
                check_profile(&cfg.setup.profile)
            }
            Err(code) => code,
        },
        ["dkim", "generate", domain] => {
            let algorithm = match algorithm.as_deref().map(Algorithm::parse) {
                None => Algorithm::RsaSha256,
                Some(Some(a)) => a,
                Some(None) => {
                    return command_error("dkim generate", "--algorithm is rsa or ed25519")
                }
            };
            match load(&config_path) {
                Ok(cfg) => dkim_generate(&cfg, domain, algorithm, selector.as_deref()),
                Err(code) => code,
            }
        }
        ["dns-records", domain] => match load(&config_path) {
            Ok(cfg) => dns_records(&cfg, domain),
            Err(code) => code,
        },
        ["dns-check", ..] => dns_check(args.get(1..).unwrap_or_default(), &config_path),
        ["relay", "test"] => match load(&config_path) {
            Ok(cfg) => {
                let resolver = StubResolver::from_config(&cfg.dns);
                let report = smol::block_on(facteur::net::relay_test::relay_test(
                    &cfg.relay,
                    &cfg.server.hostname.0,
                    &resolver,
                ));
                for line in &report.transcript {
                    println!("{line}");
                }
                if report.ok {
                    println!("the relay works");
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(code) => code,
        },
        ["tls", "show"] => match load(&config_path) {
            Ok(cfg) => tls_show(&cfg),
            Err(code) => code,
        },
        ["tls", "install", cert, key] => match load(&config_path) {
            Ok(cfg) => tls_install(&cfg, cert, key),
            Err(code) => code,
        },
        ["check", "spf", ..] => check_spf(args.get(2..).unwrap_or_default(), &config_path),
        ["check", "message", ..] => check_message(args.get(2..).unwrap_or_default(), &config_path),
        ["spam", "train", ..] => spam_train(args.get(2..).unwrap_or_default(), &config_path),
        ["backup", ..] | ["restore", ..] => match load(&config_path) {
            Ok(cfg) => backup_cli::run(&cfg, &mut args),
            Err(code) => code,
        },
        ["import", ..] | ["export", ..] => match load(&config_path) {
            Ok(cfg) => import_cli::run(&cfg, &mut args),
            Err(code) => code,
        },
        ["spam", "stats", user] => match load(&config_path) {
            Ok(cfg) => spam_stats(&cfg, user),
            Err(code) => code,
        },
        ["config", "get", key] => match load(&config_path) {
            Ok(cfg) => print_lines(config_edit::get(&cfg, key)),
            Err(code) => code,
        },
        ["config", "set", pairs @ ..] if !pairs.is_empty() && pairs.len() % 2 == 0 => {
            let edits = pairs
                .chunks(2)
                .map(|p| Edit::Set(p[0].to_string(), p[1].to_string()))
                .collect();
            config_change(&config_path, edits)
        }
        ["config", "set", ..] => command_error("config set", "config set needs KEY VALUE pairs"),
        ["config", "unset", keys @ ..] if !keys.is_empty() => {
            let edits = keys.iter().map(|k| Edit::Unset(k.to_string())).collect();
            config_change(&config_path, edits)
        }
        // A bad file is refused here already: the server keeps its config.
        ["reload"] => match Source::new(config_path).load() {
            Err(e) => fail(&format!("config error: {e}; nothing changed")),
            Ok(cfg) => match admin::call(&cfg.admin_socket(), &Request::Reload) {
                Ok(Some(resp)) => print_response(resp),
                Ok(None) => fail(&format!(
                    "no server is running (no answer on {})",
                    cfg.admin_socket().display()
                )),
                Err(e) => fail(&format!(
                    "cannot talk to the server on {}: {e}",
                    cfg.admin_socket().display()
                )),
            },
        },
        words => {
            let req = match admin_request(words, password_stdin, admin_flag) {
                Ok(r) => r,
                Err(e) => return usage_error(&e),
            };
            let cfg = match load(&config_path) {
                Ok(c) => c,
                Err(code) => return code,
            };
            admin_command(&cfg, Some(Source::new(config_path.clone()).file()), req)
        }
    }
}

/// `facteur dkim generate`: works on the key files directly, server
/// running or not (the server reads the keys of a domain for each message).
fn dkim_generate(
    cfg: &Config,
    domain: &str,
    algorithm: Algorithm,
    selector: Option<&str>,
) -> ExitCode {
    if let Err(e) = facteur::app::prepare_data_dir(&cfg.server.data_dir) {
        return fail(&e);
    }
    let now = facteur::time::unix_now();
    match key::generate(&cfg.server.data_dir, domain, algorithm, selector, now) {
        Ok(k) => {
            println!(
                "generated the {} key {} for {} (it signs from now on)",
                k.algorithm().key_type(),
                k.selector(),
                k.domain()
            );
            println!("publish this TXT record:");
            println!(
                "{}. IN TXT {}",
                k.record_name(),
                records::txt_rdata(&k.record())
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// `facteur dns-records`: the zone file text for a domain.
fn dns_records(cfg: &Config, domain: &str) -> ExitCode {
    if Hostname::parse(domain).is_none() {
        return command_error("dns-records", &format!("{domain:?} is not a domain name"));
    }
    match zone_text(cfg, domain) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// The records to publish for `domain`, in zone file syntax.
fn zone_text(cfg: &Config, domain: &str) -> Result<String, String> {
    let name = Hostname::parse(domain).ok_or_else(|| format!("{domain:?} is not a domain name"))?;
    let list = facteur::provision::records::domain_records(cfg, &name.0)?;
    Ok(records::zone_text(&name.0, &list))
}

/// `facteur dns-check`: each record as expected and as found.
fn dns_check(args: &[String], config_path: &Option<PathBuf>) -> ExitCode {
    let mut args = args.to_vec();
    let dns = match dns_option(&mut args) {
        Ok(d) => d,
        Err(e) => return command_error("dns-check", &e),
    };
    let [domain] = args.as_slice() else {
        return command_error("dns-check", "dns-check needs one DOMAIN");
    };
    let Some(name) = Hostname::parse(domain) else {
        return command_error("dns-check", &format!("{domain:?} is not a domain name"));
    };
    let cfg = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let expected = match facteur::provision::records::domain_records(&cfg, &name.0) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let resolver = match dns {
        Some(server) => StubResolver::new(vec![server], cfg.dns.timeout.0, cfg.dns.attempts, 256),
        None => StubResolver::from_config(&cfg.dns),
    };
    let checks = smol::block_on(facteur::provision::dns_check::dns_check(
        &resolver,
        &cfg.server.hostname.0,
        &expected,
    ));
    let mut failed = false;
    for c in &checks {
        failed |= !c.ok && !c.informational;
        println!("{:<6}{}", c.label(), c.record);
        println!("      expected: {}", c.expected);
        println!("      found:    {}", c.found);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints what a certificate says.
fn print_cert(info: &facteur::provision::cert::CertInfo) {
    let now = facteur::time::unix_now();
    println!("subject:    {}", info.subject);
    println!("names:      {}", info.names.join(", "));
    println!("issuer:     {}", info.issuer);
    println!("not before: {}", facteur::time::rfc3339(info.not_before));
    println!("not after:  {}", facteur::time::rfc3339(info.not_after));
    println!("days left:  {}", info.days_left(now));
}

/// `facteur tls show`.
fn tls_show(cfg: &Config) -> ExitCode {
    match facteur::provision::cert::current(cfg) {
        Ok(info) => {
            println!("certificate {}", cfg.cert_path().display());
            print_cert(&info);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `facteur tls install CERT KEY`: writes the files directly, then asks a
/// running server to reload, so that new connections get them.
fn tls_install(cfg: &Config, cert: &str, key: &str) -> ExitCode {
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}"));
    let (chain, key) = match (read(cert), read(key)) {
        (Ok(c), Ok(k)) => (c, k),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    let now = facteur::time::unix_now();
    match facteur::provision::cert::install(cfg, &chain, &key, now, &admin::NoNotify) {
        Ok(info) => {
            println!(
                "installed {} and {}",
                cfg.cert_path().display(),
                cfg.key_path().display()
            );
            print_cert(&info);
            // A running server offers the new pair once it reloads.
            match admin::call(&cfg.admin_socket(), &Request::Reload) {
                Ok(Some(resp)) => print_response(resp),
                Ok(None) => ExitCode::SUCCESS,
                Err(e) => fail(&format!(
                    "installed, but cannot ask the server on {} to reload: {e}",
                    cfg.admin_socket().display()
                )),
            }
        }
        Err(e) => fail(&e),
    }
}

fn admin_request(words: &[&str], password_stdin: bool, admin: bool) -> Result<Request, String> {
    let password = || -> Result<Option<String>, String> {
        if !password_stdin {
            return Ok(None);
        }
        stdin_password().map(Some)
    };
    let id = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{s:?} is not a queue id (see `facteur queue list`)"))
    };
    Ok(match words {
        ["domain", "add", name] => Request::DomainAdd(name.to_string()),
        ["domain", "list"] => Request::DomainList,
        ["domain", "remove", name] => Request::DomainRemove(name.to_string()),
        ["user", "add", address] => Request::UserAdd {
            address: address.to_string(),
            password: password()?,
            admin,
        },
        ["user", "admin", address, flag] => Request::UserAdmin {
            address: address.to_string(),
            on: match *flag {
                "on" => true,
                "off" => false,
                _ => return Err(format!("user admin: {flag:?} is neither on nor off")),
            },
        },
        ["user", "passwd", address] => Request::UserPasswd {
            address: address.to_string(),
            password: password()?,
        },
        ["user", "list"] => Request::UserList,
        ["setup", file] => Request::SetupApply(facteur::setup::plan::Plan::load(
            std::path::Path::new(file),
        )?),
        ["user", "remove", address] => Request::UserRemove(address.to_string()),
        ["alias", "add", alias, targets] => Request::AliasAdd {
            alias: alias.to_string(),
            targets: targets
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        },
        ["alias", "list"] => Request::AliasList,
        ["alias", "remove", alias] => Request::AliasRemove(alias.to_string()),
        ["status"] => Request::Status,
        ["log"] => Request::LogTail(50),
        ["log", n] => Request::LogTail(
            n.parse()
                .map_err(|_| format!("log: {n:?} is not a number of lines"))?,
        ),
        ["queue", "list"] => Request::QueueList,
        ["queue", "retry", "all"] => Request::QueueRetryAll,
        ["queue", "retry", n] => Request::QueueRetry(id(n)?),
        ["queue", "remove", n] => Request::QueueRemove(id(n)?),
        ["memory"] => Request::Memory,
        _ => return Err(format!("unknown command: {}", words.join(" "))),
    })
}

/// A password: the first line of stdin, not empty.
fn stdin_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err("the password read from stdin is empty".into());
    }
    Ok(pw)
}

/// Sends the request to the running server, or carries it out on the store
/// directly when no server is running.
fn admin_command(cfg: &Config, config_file: Option<PathBuf>, req: Request) -> ExitCode {
    print_lines(admin_answer(cfg, config_file, req))
}

/// The answer to an admin request, from the running server or, when none
/// runs, from the store opened here. Settings are changed in
/// `config_file` then (none: the request changes no setting).
fn admin_answer(
    cfg: &Config,
    config_file: Option<PathBuf>,
    req: Request,
) -> Result<Vec<String>, String> {
    let resp = match admin::call(&cfg.admin_socket(), &req) {
        Ok(Some(resp)) => resp,
        Ok(None) if req.needs_server() => {
            return Err(format!(
                "the server is not running (no admin socket at {})",
                cfg.admin_socket().display()
            ))
        }
        Ok(None) => {
            let store = Arc::new(facteur::app::open_store(cfg)?);
            let admin = Admin::new(
                store,
                Arc::new(CliNotify {
                    data_dir: cfg.server.data_dir.clone(),
                }),
            )
            .with_setup_code(SetupCode::offline(&cfg.server.data_dir))
            .with_max_message_size(cfg.limits.max_message_size.0)
            .with_import_progress(|line| eprintln!("{line}"));
            match config_file {
                Some(file) => admin.with_config_file(file),
                None => admin,
            }
            .handle(req)
        }
        Err(e) => {
            return Err(format!(
                "cannot talk to the server on {}: {e}",
                cfg.admin_socket().display()
            ))
        }
    };
    match resp {
        Response::Ok(lines) => Ok(lines),
        Response::Error(e) => Err(e),
    }
}

/// `facteur config set/unset`: through the running server, which writes
/// the file and applies it, or on the file directly when none runs.
fn config_change(config_path: &Option<PathBuf>, edits: Vec<Edit>) -> ExitCode {
    let source = Source::new(config_path.clone());
    let cfg = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match admin::call(&cfg.admin_socket(), &Request::ConfigSet(edits.clone())) {
        Ok(Some(resp)) => print_response(resp),
        Ok(None) => print_lines(config_edit::apply(&source.file(), &edits)),
        Err(e) => fail(&format!(
            "cannot talk to the server on {}: {e}",
            cfg.admin_socket().display()
        )),
    }
}

fn print_response(resp: Response) -> ExitCode {
    print_lines(match resp {
        Response::Ok(lines) => Ok(lines),
        Response::Error(e) => Err(e),
    })
}

fn print_lines(res: Result<Vec<String>, String>) -> ExitCode {
    match res {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Admin changes made by the CLI itself (no server running).
struct CliNotify {
    data_dir: PathBuf,
}

impl Notify for CliNotify {
    fn domain_added(&self, name: &str) -> Vec<String> {
        key::ensure_key_report(&self.data_dir, name)
    }
}

/// Longest a `check spf` may take: RFC 7208 §4.6.4 asks to allow at
/// least 20 seconds before giving temperror.
const SPF_DEADLINE: Duration = Duration::from_secs(20);

/// `facteur check spf`: runs the SPF check of a MAIL FROM (RFC 7208) with
/// the configured resolver, or the name server given with `--dns`, and
/// prints like spfquery: the result word, then the explanation of a fail
/// or the problem of an error. Needs no data directory or server.
fn check_spf(args: &[String], config_path: &Option<PathBuf>) -> ExitCode {
    let mut args = args.to_vec();
    let parsed = (|| -> Result<_, String> {
        let ip = take_option(&mut args, "--ip")?.ok_or("check spf needs --ip")?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let helo = take_option(&mut args, "--helo")?.ok_or("check spf needs --helo")?;
        let mail_from = take_option(&mut args, "--mail-from")?.unwrap_or_default();
        let dns = dns_option(&mut args)?;
        if let Some(extra) = args.first() {
            return Err(format!("check spf: unexpected argument {extra:?}"));
        }
        Ok((ip, helo, mail_from, dns))
    })();
    let (ip, helo, mail_from, dns) = match parsed {
        Ok(p) => p,
        Err(e) => return command_error("check spf", &e),
    };
    let cfg = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let resolver = match dns {
        Some(server) => StubResolver::new(vec![server], cfg.dns.timeout.0, cfg.dns.attempts, 256),
        None => StubResolver::from_config(&cfg.dns),
    };
    let now = facteur::time::unix_now();
    let receiver = &cfg.server.hostname.0;
    let check =
        async { Some(spf::check_mail_from(&resolver, ip, &mail_from, &helo, receiver, now).await) };
    let deadline = async {
        smol::Timer::after(SPF_DEADLINE).await;
        None
    };
    match smol::block_on(smol::future::or(check, deadline)) {
        Some(outcome) => {
            println!("{}", outcome.result);
            if let Some(line) = outcome.explanation.or(outcome.problem) {
                println!("{line}");
            }
        }
        None => println!("temperror\nno result within {SPF_DEADLINE:?}"),
    }
    ExitCode::SUCCESS
}

/// `--dns IP[:PORT]`.
fn dns_option(args: &mut Vec<String>) -> Result<Option<SocketAddr>, String> {
    match take_option(args, "--dns")? {
        None => Ok(None),
        Some(s) => s
            .parse::<SocketAddr>()
            .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map(Some)
            .map_err(|_| format!("--dns {s:?}: expected IP or IP:PORT")),
    }
}

/// `facteur check message`: the inbound pipeline on a message file (see
/// [`facteur::antispam::diagnose`]). The store is used when its data
/// directory exists and no server holds it: for the recipients' accounts
/// and their Bayes statistics.
fn check_message(args: &[String], config_path: &Option<PathBuf>) -> ExitCode {
    use facteur::antispam::{diagnose, setup, Recipient};
    let mut args = args.to_vec();
    let parsed = (|| -> Result<_, String> {
        let ip = take_option(&mut args, "--ip")?.ok_or("check message needs --ip")?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let helo = take_option(&mut args, "--helo")?.ok_or("check message needs --helo")?;
        let mail_from = take_option(&mut args, "--mail-from")?.unwrap_or_default();
        let mut rcpts = Vec::new();
        while let Some(r) = take_option(&mut args, "--rcpt")? {
            rcpts.push(r);
        }
        let dns = dns_option(&mut args)?;
        let file = match args.as_slice() {
            [file] => PathBuf::from(file),
            [] => return Err("check message needs a FILE".into()),
            [_, extra, ..] => return Err(format!("check message: unexpected argument {extra:?}")),
        };
        Ok((file, ip, helo, mail_from, rcpts, dns))
    })();
    let (file, ip, helo, mail_from, rcpts, dns) = match parsed {
        Ok(p) => p,
        Err(e) => return command_error("check message", &e),
    };
    let cfg = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let resolver: Arc<dyn facteur::dns::Resolver> = Arc::new(match dns {
        Some(server) => StubResolver::new(vec![server], cfg.dns.timeout.0, cfg.dns.attempts, 256),
        None => StubResolver::from_config(&cfg.dns),
    });
    let store = if cfg.server.data_dir.join("index").exists() {
        match facteur::store::Store::open(&cfg.server.data_dir, cfg.store.cache_capacity.0) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                eprintln!("facteur: store not used ({e}): no per-user results");
                None
            }
        }
    } else {
        None
    };
    let mut local_domains: Vec<String> = cfg.server.domains.iter().map(|d| d.0.clone()).collect();
    let mut recipients = Vec::new();
    for address in rcpts {
        let accounts = store
            .as_ref()
            .and_then(|st| facteur::delivery::resolve(st, &address).ok())
            .map(|r| r.accounts.into_iter().collect())
            .unwrap_or_default();
        recipients.push(Recipient {
            address: address.to_ascii_lowercase(),
            accounts,
        });
    }
    if let Some(st) = &store {
        if let Ok(list) = st.domains() {
            for d in list {
                if !local_domains.contains(&d.name) {
                    local_domains.push(d.name);
                }
            }
        }
    }
    let pipeline = match setup::pipeline(&cfg, store.as_ref(), resolver, setup::Use::Diagnosis) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("facteur: {e}");
            return ExitCode::FAILURE;
        }
    };
    let envelope = diagnose::Envelope {
        ip,
        helo,
        mail_from,
        recipients,
    };
    let now = u64::try_from(facteur::time::unix_now()).unwrap_or(0);
    match smol::block_on(diagnose::check_message(
        pipeline,
        &file,
        &envelope,
        local_domains,
        now,
    )) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("facteur: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the Bayes filter of the store, for the `spam` commands.
fn open_bayes(cfg: &Config) -> Result<(Arc<facteur::store::Store>, Bayes), String> {
    // The spam commands open the store themselves: a running server holds
    // it, and must be stopped first.
    let store = Arc::new(
        facteur::app::open_store(cfg)
            .map_err(|e| format!("{e} (the spam commands need the server stopped)"))?,
    );
    let settings = bayes::Settings::from_config(&cfg.antispam);
    let bayes = Bayes::open(&store, settings).map_err(|e| e.to_string())?;
    Ok((store, bayes))
}

/// `facteur spam train`: trains a user's filter from message files or an
/// mbox, with the server stopped (the store is opened directly).
fn spam_train(args: &[String], config_path: &Option<PathBuf>) -> ExitCode {
    let mut args = args.to_vec();
    let spam = take_flag(&mut args, "--spam");
    let ham = take_flag(&mut args, "--ham");
    let (source, user) = match (spam != ham, args.as_slice()) {
        (true, [source, user]) => (PathBuf::from(source), user.to_ascii_lowercase()),
        _ => {
            return command_error(
                "spam train",
                "spam train needs --spam or --ham, a path and a user",
            )
        }
    };
    let cfg = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (store, bayes) = match open_bayes(&cfg) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    match store.account(&user) {
        Ok(Some(_)) => {}
        Ok(None) => return fail(&format!("no such user: {user}")),
        Err(e) => return fail(&e.to_string()),
    }
    let now = u64::try_from(facteur::time::unix_now()).unwrap_or(0);
    let started = std::time::Instant::now();
    let mut counts = spam_cli::Counts::default();
    let res = spam_cli::each_message(&source, &mut |read| {
        let (tokens, id) = match bayes::tokenise_unparsed(read) {
            Ok(t) => t,
            Err(_) => {
                counts.unreadable += 1;
                return Ok(());
            }
        };
        match bayes
            .train(&user, &id, &tokens, spam, now)
            .map_err(|e| e.to_string())?
        {
            bayes::Trained::New => counts.new += 1,
            bayes::Trained::Reversed => counts.reversed += 1,
            bayes::Trained::Already => counts.already += 1,
        }
        Ok(())
    });
    if let Err(e) = res.and_then(|()| store.flush().map_err(|e| e.to_string())) {
        return fail(&e);
    }
    let secs = started.elapsed().as_secs_f64();
    let total = counts.new + counts.reversed + counts.already + counts.unreadable;
    println!(
        "{user}: {} trained as {}, {} reversed, {} already trained, {} unreadable ({total} messages in {secs:.2}s, {:.0}/s)",
        counts.new,
        if spam { "spam" } else { "ham" },
        counts.reversed,
        counts.already,
        counts.unreadable,
        total as f64 / secs.max(1e-9),
    );
    ExitCode::SUCCESS
}

/// `facteur spam stats`: a user's trained counts and tokens, and the
/// global pool's.
fn spam_stats(cfg: &Config, user: &str) -> ExitCode {
    let (_store, bayes) = match open_bayes(cfg) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let user = user.to_ascii_lowercase();
    match (bayes.stats(&user), bayes.global_stats()) {
        (Ok(u), Ok(g)) => {
            println!(
                "{user}: {} spam, {} ham, {} tokens, {} messages remembered",
                u.spam, u.ham, u.tokens, u.records
            );
            println!(
                "global: {} spam, {} ham, {} tokens",
                g.spam, g.ham, g.tokens
            );
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => fail(&e.to_string()),
    }
}

/// `check-config` also checks the first-boot profile when there is one,
/// with the errors a start would log.
fn check_profile(path: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) if path.as_os_str().is_empty() || !path.exists() => return ExitCode::SUCCESS,
        Err(e) => return fail(&format!("cannot read {}: {e}", path.display())),
    };
    match facteur::setup::profile::check(&text, &path.display().to_string()) {
        Ok(plan) => {
            println!(
                "{}: ok (first-boot profile for {}, {} staff account(s))",
                path.display(),
                plan.hostname,
                plan.staff.len()
            );
            ExitCode::SUCCESS
        }
        Err(lines) => {
            for line in lines {
                eprintln!("facteur: profile error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Option<PathBuf>) -> Result<Config, ExitCode> {
    Source::new(path.clone()).load().map_err(|e| {
        eprintln!("facteur: config error: {e}");
        ExitCode::FAILURE
    })
}

fn take_option(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    let Some(i) = args
        .iter()
        .position(|a| a == name || a.starts_with(&format!("{name}=")))
    else {
        return Ok(None);
    };
    let a = args.remove(i);
    if let Some(v) = a.strip_prefix(&format!("{name}=")) {
        return Ok(Some(v.to_string()));
    }
    if i < args.len() {
        Ok(Some(args.remove(i)))
    } else {
        Err(format!("{name} needs a value"))
    }
}

fn take_flag(args: &mut Vec<String>, name: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != name);
    args.len() != before
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("facteur: {msg}");
    ExitCode::FAILURE
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("facteur: {msg}\n\n{}", usage());
    ExitCode::from(2)
}
