//! Mutation fuzzing of every parser that a peer or a file feeds.
//!
//! Each target starts from its seed corpus (`fuzz/corpus/TARGET/*`),
//! first runs every seed as it is (so a crash once found stays a
//! regression test), then mutates seeds with a small deterministic
//! mutator: bit flips, byte insertion and deletion, splices between
//! seeds, protocol tokens (CRLF, dot lines, IMAP literal markers, macro
//! and encoded-word openers), and length extremes. A panic is a crash:
//! the input is written to `fuzz/crashes/TARGET/` and the test fails.
//!
//! By default every target runs a fixed number of inputs from a fixed
//! seed, which takes seconds. `FACTEUR_FUZZ_SECONDS` runs for that long
//! instead, `FACTEUR_FUZZ_SEED` picks the random seed, and
//! `FACTEUR_FUZZ_ITERATIONS` the count, and `FACTEUR_FUZZ_TRACE` keeps
//! the last input for a process that dies (see `scripts/fuzz.sh`).

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use facteur::auth::dkim::verify::parse_tag_list;
use facteur::auth::{dmarc, spf};
use facteur::dns::message::read_reply;
use facteur::dns::RecordType;
use facteur::mail::{address, header, mime};
use facteur::proto::imap::{self, Event, Limits, Reader};
use facteur::proto::pop3::{self, Action, AuthResult, Maildrop, MaildropMessage, Retrieved};
use facteur::proto::smtp::{self, data};

/// Inputs per target in the default (CI) run.
const DEFAULT_ITERATIONS: u64 = 20_000;
/// Largest input handed to a target: long enough to pass every line and
/// command bound the parsers have.
const MAX_INPUT: usize = 96 * 1024;

/// Tokens that reach the parsers' interesting states.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n.\r\n",
    b"\n.\n",
    b"\r\n..",
    b".\r\n",
    b"{0}\r\n",
    b"{5}\r\n",
    b"{4+}\r\n",
    b"{4-}\r\n",
    b"~{3}\r\n",
    b"{4294967296}\r\n",
    b"{18446744073709551615}\r\n",
    b"{99999999999999999999999}\r\n",
    b"\"",
    b"\\",
    b"(",
    b")",
    b"<",
    b">",
    b"@",
    b":",
    b";",
    b",",
    b"=",
    b" ",
    b"\t",
    b"[",
    b"]",
    b"*",
    b"%",
    b"%{",
    b"%{d}",
    b"%{ir-.}",
    b"%{l9r}",
    b"%_",
    b"%-",
    b"=?",
    b"?=",
    b"=?utf-8?b?",
    b"=?iso-8859-1?q?",
    b"=0D=0A",
    b"=\r\n",
    b"--",
    b"boundary=",
    b"\r\n\r\n",
    b"\r\n ",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"\r\n--b\r\n",
    b"\r\n--b--\r\n",
    b"0",
    b"1",
    b"-1",
    b"4294967295",
    b"4294967296",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999",
    b"1:*",
    b"*:4294967295",
    b"+",
    b"/",
    b".",
    b"..",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"xn--",
    b"v=spf1 ",
    b"v=DMARC1; ",
    b"SIZE=",
    b"BODY=8BITMIME",
    b"NOTIFY=",
    b"ORCPT=rfc822;",
    b"+2B",
    b"BODY[",
    b"<0.4294967295>",
    b"UID ",
    b"\"\\\"",
    b"\x01\x00",
    b"\xc0\x0c",
    b"\xc0",
    b"\xff\xff",
    b"\x00\x10",
];

/// A xorshift generator: small, deterministic, good enough for mutation.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// One random change to `data`.
fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let len = data.len();
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.byte();
        }
        2 => {
            let i = rng.below(len + 1);
            let b = rng.byte();
            data.insert(i, b);
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            data.drain(i..i + n);
        }
        4..=6 => {
            let t = TOKENS[rng.below(TOKENS.len())];
            let i = rng.below(len + 1);
            data.splice(i..i, t.iter().copied());
        }
        7 if !corpus.is_empty() => {
            // Splice: our head with another seed's tail.
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        8 if len > 0 => {
            // Length extreme: repeat a piece many times.
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(8));
            let piece = data[i..i + n].to_vec();
            let times = [2, 16, 256, 4096, 70_000][rng.below(5)] / n + 1;
            let mut rep = Vec::with_capacity(piece.len() * times);
            for _ in 0..times {
                rep.extend_from_slice(&piece);
            }
            data.splice(i..i, rep);
        }
        9 if len > 0 => {
            data.truncate(rng.below(len));
        }
        10 if len > 1 => {
            // Duplicate a range in place.
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let piece = data[i..i + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, piece);
        }
        _ => {
            // Replace a digit run's neighbourhood with a large number.
            let t: &[u8] =
                [&b"4294967296"[..], b"18446744073709551616", b"0", b"65535"][rng.below(4)];
            let i = rng.below(len + 1);
            data.splice(i..i, t.iter().copied());
        }
    }
    data.truncate(MAX_INPUT);
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = if corpus.is_empty() {
        Vec::new()
    } else {
        corpus[rng.below(corpus.len())].clone()
    };
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate_once(rng, &mut data, corpus);
    }
    data
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn load_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = root().join("corpus").join(target);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
    )
}

/// FNV-1a, to name crash files by their content.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs `target` on its seeds, then on mutated inputs, and fails with
/// the crashing inputs (also written to `fuzz/crashes/TARGET/`).
fn fuzz(target: &str, f: impl Fn(&[u8])) {
    let corpus = load_corpus(target);
    let seed = env_u64("FACTEUR_FUZZ_SEED").unwrap_or(0x5eed);
    let deadline = env_u64("FACTEUR_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let iterations = env_u64("FACTEUR_FUZZ_ITERATIONS").unwrap_or(if deadline.is_some() {
        u64::MAX
    } else {
        DEFAULT_ITERATIONS
    });
    let mut rng = Rng::new(seed);
    let mut crashes: Vec<PathBuf> = Vec::new();
    let started = Instant::now();
    let mut execs = 0u64;
    // Aborts, hangs and memory exhaustion cannot be caught: with
    // FACTEUR_FUZZ_TRACE set, each input is first written to
    // `fuzz/crashes/TARGET/last`, where it stays if the process dies.
    let trace = std::env::var_os("FACTEUR_FUZZ_TRACE").map(|_| {
        let dir = root().join("crashes").join(target);
        let _ = std::fs::create_dir_all(&dir);
        dir.join("last")
    });
    let mut run = |input: &[u8], crashes: &mut Vec<PathBuf>| {
        execs += 1;
        if let Some(path) = &trace {
            let _ = std::fs::write(path, input);
        }
        if panic::catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            let dir = root().join("crashes").join(target);
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{:016x}", fnv(input)));
            let _ = std::fs::write(&path, input);
            eprintln!(
                "{target}: crash on {:?} (written to {})",
                String::from_utf8_lossy(&input[..input.len().min(300)]),
                path.display()
            );
            crashes.push(path);
        }
    };
    for input in &corpus {
        run(input, &mut crashes);
    }
    let mut i = 0u64;
    while i < iterations && deadline.is_none_or(|d| !i.is_multiple_of(64) || Instant::now() < d) {
        let input = mutate(&mut rng, &corpus);
        run(&input, &mut crashes);
        i += 1;
        if crashes.len() >= 20 {
            break;
        }
    }
    eprintln!(
        "{target}: {execs} inputs in {:.1} s from seed {seed}, {} crashes",
        started.elapsed().as_secs_f64(),
        crashes.len()
    );
    assert!(crashes.is_empty(), "{target}: crashing inputs: {crashes:?}");
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

#[test]
fn smtp_command() {
    fuzz("smtp_command", |input| {
        for line in input.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let _ = smtp::command::parse(line, false);
            let _ = smtp::command::parse(line, true);
        }
        let _ = smtp::command::xtext_decode(&text(input));
    });
}

#[test]
fn smtp_address() {
    fuzz("smtp_address", |input| {
        let _ = smtp::address::parse_reverse_path(input, false);
        let _ = smtp::address::parse_reverse_path(input, true);
        let _ = smtp::address::parse_forward_path(input, true);
        let _ = smtp::address::parse_mailbox(&text(input), true);
    });
}

#[test]
fn smtp_data() {
    fuzz("smtp_data", |input| {
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
    });
}

#[test]
fn pop3_session() {
    // Plaintext logins allowed, so that inputs reach the TRANSACTION
    // state without STLS first.
    let cfg = Arc::new(pop3::Config {
        stls_available: true,
        allow_plaintext_auth: true,
        ..pop3::Config::new("mail.example")
    });
    fuzz("pop3_session", |input| {
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
    });
}

#[test]
fn imap_reader() {
    fuzz("imap_reader", |input| {
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
    });
}

#[test]
fn imap_command() {
    fuzz("imap_command", |input| {
        for line in input.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Err(e) = imap::parse_command(line) {
                let _ = e.response();
            }
        }
        if let Err(e) = imap::parse_command(input) {
            let _ = e.response();
        }
    });
}

#[test]
fn mime() {
    fuzz("mime", |input| {
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
    });
}

#[test]
fn mail_header() {
    fuzz("mail_header", |input| {
        let _ = header::parse_content_type(input);
        let _ = header::parse_disposition(input);
        let _ = header::parse_params(input);
        let _ = header::parse_token_field(input);
        let _ = header::parse_language(input);
        let _ = header::decode_words(input);
        let _ = facteur::mail::date::DateTime::parse(input);
    });
}

#[test]
fn mail_address() {
    fuzz("mail_address", |input| {
        let _ = address::parse_list(input);
        let _ = dmarc::from_domains(&[input]);
    });
}

#[test]
fn dns_message() {
    fuzz("dns_message", |input| {
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
    });
}

#[test]
fn spf_record() {
    fuzz("spf_record", |input| {
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
    });
}

#[test]
fn dkim_tags() {
    fuzz("dkim_tags", |input| {
        let _ = parse_tag_list(&text(input));
    });
}

#[test]
fn dmarc_record() {
    fuzz("dmarc_record", |input| {
        let _ = dmarc::parse_record(&text(input));
        let _ = dmarc::organizational_domain(&text(input));
    });
}

#[test]
fn config() {
    fuzz("config", |input| {
        let _ = facteur::config::Config::parse(&text(input), "fuzz.toml");
    });
}
