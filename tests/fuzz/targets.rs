//! The fuzz targets: each feeds one input to a parser that a peer or a
//! file feeds. Shared by the mutation fuzzer (`tests/fuzz.rs`) and the
//! coverage-guided harness (`fuzz/afl/`).

use std::sync::Arc;
use std::time::Instant;

use facteur::auth::dkim::verify::parse_tag_list;
use facteur::auth::{dmarc, spf};
use facteur::dns::message::read_reply;
use facteur::dns::RecordType;
use facteur::mail::{address, header, mime};
use facteur::proto::imap::{self, Event, Limits, Reader};
use facteur::proto::pop3::{self, Action, AuthResult, Maildrop, MaildropMessage, Retrieved};
use facteur::proto::smtp::{self, data};

/// FNV-1a: a stable hash of an input, for split points and file names.
pub fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Splits `input` at a point chosen from its own content, so that
/// incremental readers also see a chunk boundary in every run.
fn split(input: &[u8]) -> (&[u8], &[u8]) {
    let at = if input.is_empty() {
        0
    } else {
        (fnv(input) as usize) % (input.len() + 1)
    };
    input.split_at(at)
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

/// The `smtp_command` target.
pub fn smtp_command(input: &[u8]) {
    for line in input.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let _ = smtp::command::parse(line, false);
        let _ = smtp::command::parse(line, true);
    }
    let _ = smtp::command::xtext_decode(&text(input));
}

/// The `smtp_address` target.
pub fn smtp_address(input: &[u8]) {
    let _ = smtp::address::parse_reverse_path(input, false);
    let _ = smtp::address::parse_reverse_path(input, true);
    let _ = smtp::address::parse_forward_path(input, true);
    let _ = smtp::address::parse_mailbox(&text(input), true);
}

/// The `smtp_data` target.
pub fn smtp_data(input: &[u8]) {
    let (a, b) = split(input);
    // DATA: small chunk and line limits reach the bound paths.
    let mut rx = data::DataReceiver::new(4096, 100);
    let mut out = Vec::new();
    let mut scanner = data::HeaderScanner::default();
    for part in [a, b] {
        let mut rest = part;
        loop {
            let (n, progress) = rx.process(rest, &mut out, 512);
            scanner.push(&out);
            out.clear();
            rest = &rest[n..];
            if matches!(progress, data::DataProgress::End) || rest.is_empty() {
                break;
            }
        }
    }
    let _ = scanner.finish();
    let _ = (rx.size(), rx.too_big(), rx.line_too_long());
    // BDAT: the bare-LF normaliser.
    let mut lf = data::LfNormaliser::default();
    lf.push(a, &mut out);
    lf.push(b, &mut out);
    let _ = lf.longest_line();
    let mut list = Vec::new();
    let _ = data::address_list(&text(input), &mut list, 50);
}

/// The `pop3_session` target.
pub fn pop3_session(input: &[u8]) {
    // Plaintext logins allowed, so that inputs reach the TRANSACTION
    // state without STLS first.
    let cfg = Arc::new(pop3::Config {
        stls_available: true,
        allow_plaintext_auth: true,
        ..pop3::Config::new("mail.example")
    });
    let now = Instant::now();
    let mut s = pop3::Session::new(cfg.clone(), false, now);
    let (a, b) = split(input);
    let mut logins = 0;
    for part in [a, b] {
        let mut rest = part;
        for _ in 0..100_000 {
            let n = s.feed(rest);
            rest = &rest[n..];
            let mut polled = false;
            while let Some(action) = s.poll(now) {
                polled = true;
                match action {
                    Action::StartTls => s.tls_established(),
                    Action::Auth { .. } => {
                        logins += 1;
                        s.auth_result(if logins % 2 == 1 {
                            AuthResult::Ok(Maildrop {
                                messages: (1..=3)
                                    .map(|uid| MaildropMessage {
                                        uid,
                                        size: 100 * u64::from(uid),
                                        uidl: format!("u{uid}"),
                                    })
                                    .collect(),
                            })
                        } else {
                            AuthResult::Failed
                        });
                    }
                    Action::Retrieve { .. } => s.retrieve_done(Retrieved::Sent),
                    Action::Update { .. } => s.update_done(Ok(())),
                    Action::Write(_) | Action::Close => {}
                }
            }
            if rest.is_empty() || (n == 0 && !polled) {
                break;
            }
        }
    }
}

/// The `imap_reader` target.
pub fn imap_reader(input: &[u8]) {
    let mut limits = Limits::new(10_000);
    limits.literal_minus = input.len() % 2 == 1;
    let mut reader = Reader::new(limits);
    let (a, b) = split(input);
    let mut decisions = 0u32;
    for part in [a, b] {
        let mut rest = part;
        for _ in 0..100_000 {
            let (n, event) = reader.next(rest);
            let done = matches!(event, Event::Incomplete);
            match event {
                Event::LiteralRequest { .. } | Event::AppendBegin { .. } => {
                    decisions += 1;
                    if decisions.is_multiple_of(3) {
                        reader.reject_literal();
                    } else {
                        reader.accept_literal();
                    }
                }
                Event::AwaitingDecision => reader.accept_literal(),
                Event::Command(imap::Command { .. }) if decisions % 5 == 4 => {
                    reader.expect_line();
                }
                _ => {}
            }
            rest = &rest[n..];
            if done || (rest.is_empty() && n == 0) {
                break;
            }
        }
    }
    let _ = reader.buffered();
}

/// The `imap_command` target.
pub fn imap_command(input: &[u8]) {
    for line in input.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Err(e) = imap::parse_command(line) {
            let _ = e.response();
        }
    }
    if let Err(e) = imap::parse_command(input) {
        let _ = e.response();
    }
}

/// The `mime` target.
pub fn mime(input: &[u8]) {
    let whole = mime::parse(input);
    let mut p = mime::Parser::new();
    let (a, b) = split(input);
    p.feed(a);
    p.feed(b);
    let split = p.finish();
    assert_eq!(whole, split, "parsing whole and in two pieces differ");
    let encoded = mime::encode(&whole);
    assert_eq!(
        mime::decode(&encoded).as_ref(),
        Some(&whole),
        "encode/decode"
    );
    let _ = mime::decode(input);
    for path in [&[][..], &[1], &[1, 1], &[2, 3]] {
        let _ = mime::section::part(&whole, path);
        let range = mime::section::resolve(&whole, path, mime::section::Spec::Text);
        let _ = range.partial(u64::MAX - 1, u64::MAX).end();
    }
    let mut scan = mime::search::TextScan::new(&whole);
    let mut search = mime::search::MessageSearch::new(
        &whole,
        &[
            (mime::search::Scope::Text, "héllo"),
            (mime::search::Scope::Body, "x"),
        ],
    );
    search.feed(input);
    let _ = search.finish();
    struct Sink;
    impl mime::search::TextSink for Sink {
        fn text(&mut self, _kind: mime::search::TextKind, _text: &str) {}
        fn end(&mut self) {}
    }
    scan.feed(input, &mut Sink);
    scan.finish(&mut Sink);
}

/// The `mail_header` target.
pub fn mail_header(input: &[u8]) {
    let _ = header::parse_content_type(input);
    let _ = header::parse_disposition(input);
    let _ = header::parse_params(input);
    let _ = header::parse_token_field(input);
    let _ = header::parse_language(input);
    let _ = header::decode_words(input);
    let _ = facteur::mail::date::DateTime::parse(input);
}

/// The `mail_address` target.
pub fn mail_address(input: &[u8]) {
    let _ = address::parse_list(input);
    let _ = dmarc::from_domains(&[input]);
}

/// The `dns_message` target.
pub fn dns_message(input: &[u8]) {
    let id = match input {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    };
    for rtype in [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Mx,
        RecordType::Txt,
        RecordType::Ptr,
    ] {
        let _ = read_reply(input, id, "example.com", rtype);
    }
}

/// The `spf_record` target.
pub fn spf_record(input: &[u8]) {
    let _ = spf::is_spf_record(input);
    let _ = spf::parse_record(input);
    for place in [
        spf::Place::Domain,
        spf::Place::Explanation,
        spf::Place::Unknown,
    ] {
        if let Ok(m) = spf::MacroString::parse(&text(input), place) {
            let _ = m.expand(&spf::MacroValues {
                sender: "user.name@example.com",
                local: "user.name",
                sender_domain: "example.com",
                domain: "mail.example.com",
                ip: "2001:db8::1".parse().expect("address"),
                helo: "helo.example.org",
                receiver: "mx.example.net",
                now: 1_700_000_000,
                validated: Some("ptr.example.com"),
            });
        }
    }
}

/// The `dkim_tags` target.
pub fn dkim_tags(input: &[u8]) {
    let _ = parse_tag_list(&text(input));
}

/// The `dmarc_record` target.
pub fn dmarc_record(input: &[u8]) {
    let _ = dmarc::parse_record(&text(input));
    let _ = dmarc::organizational_domain(&text(input));
}

/// The `config` target.
pub fn config(input: &[u8]) {
    let _ = facteur::config::Config::parse(&text(input), "fuzz.toml");
}

/// A target: feeds one input to its parsers.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const ALL: &[(&str, Target)] = &[
    ("smtp_command", smtp_command),
    ("smtp_address", smtp_address),
    ("smtp_data", smtp_data),
    ("pop3_session", pop3_session),
    ("imap_reader", imap_reader),
    ("imap_command", imap_command),
    ("mime", mime),
    ("mail_header", mail_header),
    ("mail_address", mail_address),
    ("dns_message", dns_message),
    ("spf_record", spf_record),
    ("dkim_tags", dkim_tags),
    ("dmarc_record", dmarc_record),
    ("config", config),
];
