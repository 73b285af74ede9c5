//! DKIM canonicalisation (RFC 6376 §3.4), shared by the signer and the
//! verifier.
//!
//! Headers are canonicalised one field at a time ([`header`]). The body is
//! canonicalised as a stream ([`BodyCanon`], [`BodyHasher`]): it takes chunks
//! of any size, and its state is a few flags and a counter, whatever the
//! input. A bare LF is taken as a line end, like CRLF, because that is how
//! the message is sent on the wire; a CR not followed by LF is data.

use ring::digest;

/// A canonicalisation algorithm (RFC 6376 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    /// `simple`: almost no change (§3.4.1, §3.4.3).
    Simple,
    /// `relaxed`: tolerates whitespace and header case changes (§3.4.2,
    /// §3.4.4).
    Relaxed,
}

impl Canon {
    /// The name used in the `c=` tag.
    pub fn name(self) -> &'static str {
        match self {
            Canon::Simple => "simple",
            Canon::Relaxed => "relaxed",
        }
    }

    /// Parses a `c=` half, case-insensitively.
    pub fn parse(s: &str) -> Option<Canon> {
        if s.eq_ignore_ascii_case("simple") {
            Some(Canon::Simple)
        } else if s.eq_ignore_ascii_case("relaxed") {
            Some(Canon::Relaxed)
        } else {
            None
        }
    }
}

/// Appends the canonical form of one header field to `out`, CRLF-terminated.
///
/// `field` is the whole field as it appears in the message, name, colon,
/// value and folding line ends included, without the line end that closes
/// it. The caller hashing the DKIM-Signature field itself drops the final
/// CRLF (RFC 6376 §3.7).
pub fn header(canon: Canon, field: &[u8], out: &mut Vec<u8>) {
    match canon {
        // §3.4.1: the field is not changed at all.
        Canon::Simple => out.extend_from_slice(field),
        Canon::Relaxed => relaxed_header(field, out),
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 6376 §3.4.2: lower-case the name, unfold, reduce whitespace runs to
/// one space, drop whitespace at the ends of the value and around the colon.
fn relaxed_header(field: &[u8], out: &mut Vec<u8>) {
    let (name, value) = match field.iter().position(|&b| b == b':') {
        Some(i) => (&field[..i], &field[i + 1..]),
        None => (field, &[][..]),
    };
    let name = trim_wsp_end(name);
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut pending_space = false;
    let mut started = false;
    let mut rest = value;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            // Unfolding removes the line ends of continuation lines.
            b'\r' if rest.first() == Some(&b'\n') => {}
            b'\n' => {}
            b' ' | b'\t' => pending_space = true,
            _ => {
                if pending_space && started {
                    out.push(b' ');
                }
                pending_space = false;
                started = true;
                out.push(b);
            }
        }
    }
}

fn trim_wsp_end(mut s: &[u8]) -> &[u8] {
    while let Some((&last, head)) = s.split_last() {
        if last != b' ' && last != b'\t' {
            break;
        }
        s = head;
    }
    s
}

/// CRLFs handed out in one piece when empty lines are released.
const CRLFS: &[u8; 128] = b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\
\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\
\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\
\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

/// The streaming body canonicaliser (RFC 6376 §3.4.3, §3.4.4).
///
/// Line ends are not written when seen but counted, and written when more
/// content follows, so that empty lines at the end of the body disappear
/// however many there are: the state is a counter and three flags.
#[derive(Debug, Clone)]
pub struct BodyCanon {
    canon: Canon,
    /// Line ends seen since the last content byte was written.
    pending_crlf: u64,
    /// Relaxed: whitespace seen since the last content byte of the line.
    pending_wsp: bool,
    /// A CR was the last byte seen; an LF would make it a line end.
    pending_cr: bool,
    /// Content has been written on the current line.
    line_open: bool,
    /// Some content has been written.
    any: bool,
}

impl BodyCanon {
    /// A canonicaliser at the start of a body.
    pub fn new(canon: Canon) -> BodyCanon {
        BodyCanon {
            canon,
            pending_crlf: 0,
            pending_wsp: false,
            pending_cr: false,
            line_open: false,
            any: false,
        }
    }

    /// Canonicalises the next chunk of body, handing the output to `out`
    /// in pieces.
    pub fn update(&mut self, chunk: &[u8], out: &mut impl FnMut(&[u8])) {
        let relaxed = self.canon == Canon::Relaxed;
        let special = |b: u8| b == b'\r' || b == b'\n' || (relaxed && (b == b' ' || b == b'\t'));
        let mut rest = chunk;
        while let Some(&b) = rest.first() {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    self.end_line();
                    rest = &rest[1..];
                    continue;
                }
                // A bare CR is data.
                self.content(b"\r", out);
            }
            match b {
                b'\r' => {
                    self.pending_cr = true;
                    rest = &rest[1..];
                }
                b'\n' => {
                    self.end_line();
                    rest = &rest[1..];
                }
                // §3.4.4: a whitespace run becomes one space, or nothing at
                // the end of a line; which one is known at the next byte.
                b' ' | b'\t' if relaxed => {
                    self.pending_wsp = true;
                    rest = &rest[1..];
                }
                _ => {
                    let end = rest.iter().position(|&c| special(c)).unwrap_or(rest.len());
                    let (run, tail) = rest.split_at(end);
                    self.content(run, out);
                    rest = tail;
                }
            }
        }
    }

    /// Ends the body: writes the final line end, or the CRLF of an empty
    /// body in simple mode.
    pub fn finish(&mut self, out: &mut impl FnMut(&[u8])) {
        if self.pending_cr {
            self.pending_cr = false;
            self.content(b"\r", out);
        }
        if self.line_open || (self.any && self.pending_crlf > 0) {
            // §3.4.3 and §3.4.4: trailing empty lines are dropped, and a
            // last line without a line end gets one.
            out(b"\r\n");
        } else if !self.any && self.canon == Canon::Simple {
            // §3.4.3: an empty body is canonicalised as one CRLF (relaxed:
            // stays empty, §3.4.4 as corrected by erratum 1384).
            out(b"\r\n");
        }
        self.pending_crlf = 0;
        self.pending_wsp = false;
        self.line_open = false;
    }

    fn end_line(&mut self) {
        self.pending_wsp = false;
        self.line_open = false;
        self.pending_crlf += 1;
    }

    fn content(&mut self, bytes: &[u8], out: &mut impl FnMut(&[u8])) {
        while self.pending_crlf > 0 {
            let n = self.pending_crlf.min(CRLFS.len() as u64 / 2);
            out(&CRLFS[..(n * 2) as usize]);
            self.pending_crlf -= n;
        }
        if self.pending_wsp {
            // A run, leading ones included, becomes one space (§3.4.4).
            self.pending_wsp = false;
            out(b" ");
        }
        out(bytes);
        self.line_open = true;
        self.any = true;
    }
}

/// The result of hashing a body.
#[derive(Debug, Clone)]
pub struct BodyHash {
    /// SHA-256 of the canonical body, or of its first `l=` bytes.
    pub digest: digest::Digest,
    /// Length of the canonical body that was hashed.
    pub hashed: u64,
    /// Length of the whole canonical body.
    pub total: u64,
}

/// Canonicalises a body as a stream and hashes it with SHA-256, optionally
/// only its first `limit` canonical bytes (the `l=` tag, RFC 6376 §3.5).
pub struct BodyHasher {
    canon: BodyCanon,
    ctx: digest::Context,
    limit: Option<u64>,
    hashed: u64,
    total: u64,
}

impl BodyHasher {
    /// A hasher for `canon`, hashing at most `limit` canonical bytes.
    pub fn new(canon: Canon, limit: Option<u64>) -> BodyHasher {
        BodyHasher {
            canon: BodyCanon::new(canon),
            ctx: digest::Context::new(&digest::SHA256),
            limit,
            hashed: 0,
            total: 0,
        }
    }

    /// Feeds the next chunk of body.
    pub fn update(&mut self, chunk: &[u8]) {
        let BodyHasher {
            canon,
            ctx,
            limit,
            hashed,
            total,
        } = self;
        canon.update(chunk, &mut |b| hash_limited(ctx, *limit, hashed, total, b));
    }

    /// Ends the body and returns its hash.
    pub fn finish(mut self) -> BodyHash {
        let BodyHasher {
            canon,
            ctx,
            limit,
            hashed,
            total,
        } = &mut self;
        canon.finish(&mut |b| hash_limited(ctx, *limit, hashed, total, b));
        BodyHash {
            digest: self.ctx.finish(),
            hashed: self.hashed,
            total: self.total,
        }
    }
}

fn hash_limited(
    ctx: &mut digest::Context,
    limit: Option<u64>,
    hashed: &mut u64,
    total: &mut u64,
    bytes: &[u8],
) {
    *total += bytes.len() as u64;
    let room = limit.map_or(u64::MAX, |l| l.saturating_sub(*hashed));
    let take = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
    ctx.update(&bytes[..take]);
    *hashed += take as u64;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::base64;

    fn canon_body(canon: Canon, input: &[u8]) -> Vec<u8> {
        let mut c = BodyCanon::new(canon);
        let mut out = Vec::new();
        c.update(input, &mut |b| out.extend_from_slice(b));
        c.finish(&mut |b| out.extend_from_slice(b));
        out
    }

    /// The canonical body, checked to be the same when the input is given
    /// whole, split in two at every byte, and byte by byte.
    fn body(canon: Canon, input: &[u8]) -> Vec<u8> {
        let whole = canon_body(canon, input);
        for cut in 0..=input.len() {
            let mut c = BodyCanon::new(canon);
            let mut out = Vec::new();
            c.update(&input[..cut], &mut |b| out.extend_from_slice(b));
            c.update(&input[cut..], &mut |b| out.extend_from_slice(b));
            c.finish(&mut |b| out.extend_from_slice(b));
            assert_eq!(out, whole, "{canon:?} split at {cut} of {input:?}");
        }
        let mut c = BodyCanon::new(canon);
        let mut out = Vec::new();
        for b in input.chunks(1) {
            c.update(b, &mut |b| out.extend_from_slice(b));
        }
        c.finish(&mut |b| out.extend_from_slice(b));
        assert_eq!(out, whole, "{canon:?} byte by byte of {input:?}");
        whole
    }

    fn hdr(canon: Canon, field: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        header(canon, field, &mut out);
        out
    }

    /// RFC 6376 §3.4.5, the example message.
    const EXAMPLE_HEADERS: [&[u8]; 2] = [b"A: X", b"B : Y\t\r\n\tZ  "];
    const EXAMPLE_BODY: &[u8] = b" C \r\nD \t E\r\n\r\n\r\n";

    #[test]
    fn rfc6376_example_relaxed() {
        let h: Vec<u8> = EXAMPLE_HEADERS
            .iter()
            .flat_map(|f| hdr(Canon::Relaxed, f))
            .collect();
        assert_eq!(h, b"a:X\r\nb:Y Z\r\n");
        assert_eq!(body(Canon::Relaxed, EXAMPLE_BODY), b" C\r\nD E\r\n");
    }

    #[test]
    fn rfc6376_example_simple() {
        let h: Vec<u8> = EXAMPLE_HEADERS
            .iter()
            .flat_map(|f| hdr(Canon::Simple, f))
            .collect();
        assert_eq!(h, b"A: X\r\nB : Y\t\r\n\tZ  \r\n");
        assert_eq!(body(Canon::Simple, EXAMPLE_BODY), b" C \r\nD \t E\r\n");
    }

    #[test]
    fn empty_bodies() {
        // §3.4.3: simple turns an empty body into one CRLF; §3.4.4: relaxed
        // leaves it empty.
        for input in [&b""[..], b"\r\n", b"\r\n\r\n\r\n", b"\n\n"] {
            assert_eq!(body(Canon::Simple, input), b"\r\n", "{input:?}");
            assert_eq!(body(Canon::Relaxed, input), b"", "{input:?}");
        }
        // Lines of whitespace are empty lines only in relaxed mode.
        assert_eq!(body(Canon::Relaxed, b"  \r\n\t\r\n"), b"");
        assert_eq!(body(Canon::Simple, b"  \r\n\t\r\n"), b"  \r\n\t\r\n");
    }

    #[test]
    fn trailing_empty_lines_are_dropped() {
        for canon in [Canon::Simple, Canon::Relaxed] {
            assert_eq!(body(canon, b"a\r\n\r\n\r\n\r\n"), b"a\r\n");
            assert_eq!(body(canon, b"a\r\n\r\nb\r\n\r\n"), b"a\r\n\r\nb\r\n");
            // A missing final line end is added.
            assert_eq!(body(canon, b"a\r\nb"), b"a\r\nb\r\n");
        }
        // More empty lines than are released in one piece.
        let mut many = b"x".to_vec();
        many.extend(b"\r\n".repeat(300));
        many.push(b'y');
        let mut want = b"x".to_vec();
        want.extend(b"\r\n".repeat(300));
        want.extend(b"y\r\n");
        assert_eq!(canon_body(Canon::Relaxed, &many), want);
        many.extend(b"\r\n".repeat(1000));
        assert_eq!(canon_body(Canon::Simple, &many), want);
    }

    #[test]
    fn relaxed_whitespace_runs() {
        assert_eq!(
            body(Canon::Relaxed, b"a  \t b\t\r\n \t c \t \r\n"),
            b"a b\r\n c\r\n"
        );
        assert_eq!(body(Canon::Relaxed, b"a   "), b"a\r\n");
        assert_eq!(body(Canon::Simple, b"a  \t b\t"), b"a  \t b\t\r\n");
    }

    #[test]
    fn bare_lf_is_a_line_end_and_bare_cr_is_data() {
        assert_eq!(body(Canon::Simple, b"a\nb\n\n"), b"a\r\nb\r\n");
        assert_eq!(body(Canon::Relaxed, b"a \nb\r\n\n"), b"a\r\nb\r\n");
        assert_eq!(body(Canon::Simple, b"a\rb\r"), b"a\rb\r\r\n");
        assert_eq!(body(Canon::Relaxed, b"a \r b\r\r\n"), b"a \r b\r\r\n");
        assert_eq!(body(Canon::Simple, b"\r\r\n"), b"\r\r\n");
    }

    #[test]
    fn eight_bit_bytes_pass_through() {
        let input = "Grüße  à\ttous\r\n".as_bytes();
        assert_eq!(body(Canon::Simple, input), input);
        assert_eq!(body(Canon::Relaxed, input), "Grüße à tous\r\n".as_bytes());
    }

    #[test]
    fn relaxed_headers() {
        assert_eq!(
            hdr(Canon::Relaxed, b"SUBJect:  Hi \t there  "),
            b"subject:Hi there\r\n"
        );
        assert_eq!(
            hdr(Canon::Relaxed, b"To: a,\r\n  b,\n\tc"),
            b"to:a, b, c\r\n"
        );
        assert_eq!(hdr(Canon::Relaxed, b"X-Empty:"), b"x-empty:\r\n");
        assert_eq!(hdr(Canon::Relaxed, b"X-Empty: \r\n "), b"x-empty:\r\n");
        // A CR that is not a line end is data.
        assert_eq!(hdr(Canon::Relaxed, b"X: a\rb"), b"x:a\rb\r\n");
        assert_eq!(hdr(Canon::Simple, b"To: a,\r\n  b"), b"To: a,\r\n  b\r\n");
    }

    #[test]
    fn body_hash_of_the_rfc_example() {
        // RFC 8463 Appendix A.3 / RFC 6376 Appendix A: bh= of the example
        // message, relaxed body.
        let mut h = BodyHasher::new(Canon::Relaxed, None);
        h.update(b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n");
        let r = h.finish();
        assert_eq!(
            base64::encode(r.digest.as_ref()),
            "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
        );
        assert_eq!(r.hashed, r.total);
    }

    #[test]
    fn length_limit_hashes_a_prefix() {
        let input = b"hello  world\r\nsecond line\r\n\r\n";
        for limit in [0u64, 1, 5, 13, 26, 1000] {
            let canonical = canon_body(Canon::Relaxed, input);
            let want = digest::digest(
                &digest::SHA256,
                &canonical[..canonical.len().min(limit as usize)],
            );
            for cut in 0..=input.len() {
                let mut h = BodyHasher::new(Canon::Relaxed, Some(limit));
                h.update(&input[..cut]);
                h.update(&input[cut..]);
                let r = h.finish();
                assert_eq!(r.digest.as_ref(), want.as_ref(), "l={limit} cut={cut}");
                assert_eq!(r.hashed, limit.min(canonical.len() as u64));
                assert_eq!(r.total, canonical.len() as u64);
            }
        }
    }
}
