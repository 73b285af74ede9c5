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

#[path = "fuzz/targets.rs"]
mod targets;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
            let path = dir.join(format!("{:016x}", targets::fnv(input)));
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

#[test]
fn smtp_command() {
    fuzz("smtp_command", targets::smtp_command);
}

#[test]
fn smtp_address() {
    fuzz("smtp_address", targets::smtp_address);
}

#[test]
fn smtp_data() {
    fuzz("smtp_data", targets::smtp_data);
}

#[test]
fn pop3_session() {
    fuzz("pop3_session", targets::pop3_session);
}

#[test]
fn imap_reader() {
    fuzz("imap_reader", targets::imap_reader);
}

#[test]
fn imap_command() {
    fuzz("imap_command", targets::imap_command);
}

#[test]
fn mime() {
    fuzz("mime", targets::mime);
}

#[test]
fn mail_header() {
    fuzz("mail_header", targets::mail_header);
}

#[test]
fn mail_address() {
    fuzz("mail_address", targets::mail_address);
}

#[test]
fn dns_message() {
    fuzz("dns_message", targets::dns_message);
}

#[test]
fn spf_record() {
    fuzz("spf_record", targets::spf_record);
}

#[test]
fn dkim_tags() {
    fuzz("dkim_tags", targets::dkim_tags);
}

#[test]
fn dmarc_record() {
    fuzz("dmarc_record", targets::dmarc_record);
}

#[test]
fn config() {
    fuzz("config", targets::config);
}

/// Every seed corpus belongs to a target of the list that the
/// coverage-guided harness (`fuzz/afl/`) runs, and the other way round.
#[test]
fn every_corpus_has_a_target() {
    let mut corpora: Vec<String> = std::fs::read_dir(root().join("corpus"))
        .expect("the seed corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    corpora.sort();
    let mut names: Vec<String> = targets::ALL.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(corpora, names);
}
