//! Pieces of server responses (RFC 9051 §7, §9): strings in their three
//! forms, NIL, flag lists, mailbox names, sequence sets and date-times.
//!
//! Writers append to a `Vec<u8>` the session is building.

use super::command::Flag;
use super::parse::MONTHS;
use super::utf7;

pub use super::sequence::compact as sequence_set;

/// Longest string written in quoted form; longer ones become literals so
/// that lines stay short for clients with small line buffers.
const MAX_QUOTED: usize = 1024;

/// Whether `s` can be written as an atom (RFC 9051 §9 `ASTRING-CHAR`).
fn is_atom(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| {
            b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
        })
        // An atom NIL would read as nil where nstring is allowed.
        && !s.eq_ignore_ascii_case(b"NIL")
}

/// Whether `s` can be written quoted: 7-bit text without CR, LF or NUL
/// (RFC 3501 §9 `QUOTED-CHAR`; 8-bit goes as a literal, which both IMAP
/// revisions accept).
fn is_quotable(s: &[u8]) -> bool {
    s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| b != 0 && b < 0x80 && b != b'\r' && b != b'\n')
}

/// Writes `string`: quoted when possible, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if is_quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Writes `astring`: an atom when possible, else as [`string`].
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if is_atom(s) {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

/// Writes `nstring`: `NIL` for `None`.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes a literal: `{n}` CRLF and the octets (server literals are
/// always in this form, RFC 9051 §4.3).
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// What a NUL of message data becomes in a literal: a literal may not
/// carry NUL (RFC 9051 §4.3, `CHAR8`), only a literal8 may, and only
/// BINARY responses use those (RFC 3516 §4.3). Dovecot sends 0x80 too;
/// the stored message keeps its NUL, which BINARY returns.
pub const NUL_STAND_IN: u8 = 0x80;

/// Message bytes for a literal: `b` itself when it holds no NUL (the
/// common case, at the cost of one scan), else a copy with each NUL
/// replaced by [`NUL_STAND_IN`]. The length never changes, so a literal's
/// announced size stays right.
pub fn without_nul(b: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !b.contains(&0) {
        return std::borrow::Cow::Borrowed(b);
    }
    std::borrow::Cow::Owned(
        b.iter()
            .map(|&x| if x == 0 { NUL_STAND_IN } else { x })
            .collect(),
    )
}

/// Writes a mailbox name. Unless the client enabled UTF8=ACCEPT
/// (`utf8`), the name is converted to modified UTF-7 (RFC 3501 §5.1.3).
pub fn mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if utf8 {
        astring(out, name.as_bytes());
    } else {
        astring(out, utf7::encode(name).as_bytes());
    }
}

/// Writes one flag.
pub fn flag(out: &mut Vec<u8>, f: &Flag) {
    let s: &str = match f {
        Flag::Seen => "\\Seen",
        Flag::Answered => "\\Answered",
        Flag::Flagged => "\\Flagged",
        Flag::Deleted => "\\Deleted",
        Flag::Draft => "\\Draft",
        Flag::Keyword(k) => k,
        Flag::Extension(e) => {
            out.push(b'\\');
            e
        }
    };
    out.extend_from_slice(s.as_bytes());
}

/// Writes `(flag flag ...)`; `recent` adds `\Recent` (IMAP4rev1 only).
pub fn flag_list(out: &mut Vec<u8>, flags: &[Flag], recent: bool) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        flag(out, f);
    }
    if recent {
        if !flags.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\\Recent");
    }
    out.push(b')');
}

/// The quoted `date-time` of INTERNALDATE (RFC 9051 §9), e.g.
/// `"17-Jul-1996 02:44:25 -0700"`, for Unix time `secs` shown in the zone
/// `offset_minutes` east of UTC.
pub fn date_time(secs: i64, offset_minutes: i32) -> String {
    let offset_minutes = offset_minutes.clamp(-(99 * 60 + 59), 99 * 60 + 59);
    let local = secs + i64::from(offset_minutes) * 60;
    let (y, mo, d) = crate::time::civil(local.div_euclid(86_400));
    let t = local.rem_euclid(86_400);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    let month = MONTHS
        .get(mo.wrapping_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "\"{d:02}-{month}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        t / 3600,
        t / 60 % 60,
        t % 60,
        off / 60,
        off % 60
    )
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse_command, Cursor};
    use super::*;

    #[test]
    fn nul_is_replaced_for_literals() {
        assert!(matches!(
            without_nul(b"abc"),
            std::borrow::Cow::Borrowed(b"abc")
        ));
        assert_eq!(&*without_nul(b"\0a\0\0b\0"), b"\x80a\x80\x80b\x80");
        assert_eq!(&*without_nul(b""), b"");
    }

    fn w(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings_pick_the_lightest_form() {
        assert_eq!(w(|o| astring(o, b"INBOX")), "INBOX");
        assert_eq!(w(|o| astring(o, b"Sent Items")), "\"Sent Items\"");
        assert_eq!(w(|o| astring(o, b"")), "\"\"");
        assert_eq!(w(|o| astring(o, b"nil")), "\"nil\"");
        assert_eq!(w(|o| astring(o, b"a\"b\\c")), "\"a\\\"b\\\\c\"");
        assert_eq!(w(|o| astring(o, b"50%")), "\"50%\"");
        assert_eq!(w(|o| string(o, b"atom")), "\"atom\"");
        assert_eq!(w(|o| string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(w(|o| string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(w(|o| nstring(o, None)), "NIL");
        assert_eq!(w(|o| nstring(o, Some(b"x"))), "\"x\"");
        let long = vec![b'a'; MAX_QUOTED + 1];
        assert!(w(|o| string(o, &long)).starts_with("{1025}\r\n"));
    }

    #[test]
    fn written_strings_parse_back() {
        for s in [
            &b"plain"[..],
            b"two words",
            b"q\"uo\\te",
            b"",
            b"NIL",
            b"x\r\ny",
            b"\xc3\xa9",
        ] {
            let mut line = b"a LOGIN ".to_vec();
            astring(&mut line, s);
            line.extend_from_slice(b" pw");
            let cmd = parse_command(&line);
            let want = String::from_utf8_lossy(s).into_owned();
            match cmd.map(|c| c.body) {
                Ok(super::super::command::CommandBody::Login { username, .. }) => {
                    assert_eq!(username, want)
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn mailbox_names() {
        assert_eq!(w(|o| mailbox(o, "Entwürfe", false)), "Entw&APw-rfe");
        assert_eq!(w(|o| mailbox(o, "Tom & Jerry", false)), "\"Tom &- Jerry\"");
        assert_eq!(w(|o| mailbox(o, "Entwürfe", true)), "{9}\r\nEntwürfe");
    }

    #[test]
    fn flags() {
        let f = [
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Draft,
            Flag::Keyword("$Forwarded".into()),
            Flag::Extension("Important".into()),
        ];
        assert_eq!(
            w(|o| flag_list(o, &f, false)),
            "(\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded \\Important)"
        );
        assert_eq!(w(|o| flag_list(o, &[], true)), "(\\Recent)");
        assert_eq!(
            w(|o| flag_list(o, &[Flag::Seen], true)),
            "(\\Seen \\Recent)"
        );
        assert_eq!(w(|o| flag_list(o, &[], false)), "()");
        // What we write, a client can send back.
        let text = w(|o| flag_list(o, &f, false));
        assert_eq!(
            Cursor::new(text.as_bytes()).flag_list().unwrap(),
            f.to_vec()
        );
    }

    #[test]
    fn date_times() {
        assert_eq!(date_time(0, 0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            date_time(837_596_665, -420),
            "\"17-Jul-1996 02:44:25 -0700\""
        );
        assert_eq!(date_time(951_782_400, 90), "\"29-Feb-2000 01:30:00 +0130\"");
        // Round trip through the parser.
        for (t, off) in [
            (0, 0),
            (837_596_665, -420),
            (1_795_839_655, 60),
            (951_782_399, -59),
        ] {
            let s = date_time(t, off);
            assert_eq!(Cursor::new(s.as_bytes()).date_time().unwrap(), t, "{s}");
        }
    }

    #[test]
    fn sequence_sets() {
        assert_eq!(sequence_set([1, 2, 3, 10, 12, 13]), "1:3,10,12:13");
    }
}
