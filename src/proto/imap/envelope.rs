//! ENVELOPE, BODY and BODYSTRUCTURE rendering (RFC 3501 §7.4.2, RFC 9051
//! §7.5.2) from a stored [`Structure`].
//!
//! Output follows Dovecot where the RFC leaves a choice: a text part with
//! no charset is given `("charset" "us-ascii")`, a missing transfer
//! encoding is `"7bit"`, a multipart with no parts shows one empty
//! text/plain part, Content-Language is always a list. Values are sent as
//! they are in the message (encoded words included: clients decode them).
//!
//! Strings are quoted when they can be, else sent as literals (a value
//! with CR or LF, or 8-bit bytes when the client has not enabled UTF-8:
//! `utf8` is true under IMAP4rev2 or UTF8=ACCEPT, RFC 9051 §4.3 / RFC 6855,
//! and then valid UTF-8 is quoted). NUL bytes, which IMAP cannot carry
//! outside literal8, are dropped.

use crate::mail::address::{parse_list, Address};
use crate::mail::header::Param;
use crate::mail::mime::{Content, Envelope, Part, Structure};

/// Writes an IMAP `string` (RFC 3501 §9 `string`): quoted if possible,
/// else a literal `{n}\r\n...`.
pub fn write_string(out: &mut Vec<u8>, v: &[u8], utf8: bool) {
    let has_nul = v.contains(&0);
    let owned;
    let v = if has_nul {
        owned = v.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>();
        owned.as_slice()
    } else {
        v
    };
    let eight_bit = v.iter().any(|&b| b >= 0x80);
    let quotable = !v.iter().any(|&b| b == b'\r' || b == b'\n')
        && (!eight_bit || (utf8 && std::str::from_utf8(v).is_ok()));
    if quotable {
        out.push(b'"');
        for &b in v {
            // RFC 3501 §9 quoted-specials.
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", v.len()).as_bytes());
        out.extend_from_slice(v);
    }
}

/// Writes an IMAP `nstring`: `NIL` for `None`.
pub fn write_nstring(out: &mut Vec<u8>, v: Option<&[u8]>, utf8: bool) {
    match v {
        Some(v) => write_string(out, v, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes an address list field (RFC 3501 §7.4.2): `NIL` if there are no
/// addresses, else `(` addresses `)` with no space between them; a group
/// is `(NIL NIL "name" NIL)` ... `(NIL NIL NIL NIL)`.
fn write_addresses(out: &mut Vec<u8>, list: &[Address], utf8: bool) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        match a {
            Address::Mailbox {
                name,
                route,
                mailbox,
                host,
            } => {
                out.push(b'(');
                write_nstring(out, name.as_deref(), utf8);
                out.push(b' ');
                write_nstring(out, route.as_deref(), utf8);
                out.push(b' ');
                write_string(out, mailbox, utf8);
                out.push(b' ');
                write_string(out, host, utf8);
                out.push(b')');
            }
            Address::GroupStart(name) => {
                out.extend_from_slice(b"(NIL NIL ");
                write_string(out, name, utf8);
                out.extend_from_slice(b" NIL)");
            }
            Address::GroupEnd => out.extend_from_slice(b"(NIL NIL NIL NIL)"),
        }
    }
    out.push(b')');
}

fn addresses(v: &Option<Vec<u8>>) -> Vec<Address> {
    v.as_deref().map(parse_list).unwrap_or_default()
}

/// Writes an ENVELOPE, parentheses included (RFC 3501 §7.4.2). Sender and
/// Reply-To, when absent or empty, are given the value of From, as the RFC
/// requires.
pub fn write_envelope(out: &mut Vec<u8>, env: &Envelope, utf8: bool) {
    out.push(b'(');
    write_nstring(out, env.date.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, env.subject.as_deref(), utf8);
    let from = addresses(&env.from);
    for (i, field) in [
        &env.from,
        &env.sender,
        &env.reply_to,
        &env.to,
        &env.cc,
        &env.bcc,
    ]
    .into_iter()
    .enumerate()
    {
        out.push(b' ');
        let list = if i == 0 { Vec::new() } else { addresses(field) };
        let list = match i {
            0 => &from,
            1 | 2 if list.is_empty() => &from,
            _ => &list,
        };
        write_addresses(out, list, utf8);
    }
    out.push(b' ');
    write_nstring(out, env.in_reply_to.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, env.message_id.as_deref(), utf8);
    out.push(b')');
}

/// Writes a parameter list: `NIL` when empty, `("name" "value" ...)`;
/// `text` adds `"charset" "us-ascii"` when no charset is given.
fn write_params(out: &mut Vec<u8>, params: &[Param], text: bool, utf8: bool) {
    let has_charset = params
        .iter()
        .any(|p| p.name.eq_ignore_ascii_case(b"charset"));
    let add_charset = text && !has_charset;
    if params.is_empty() && !add_charset {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, &p.name, utf8);
        out.push(b' ');
        write_string(out, &p.value, utf8);
    }
    if add_charset {
        if !params.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}

/// The extension data shared by single parts and multiparts:
/// disposition, language, location (RFC 3501 §9 `body-ext-1part`,
/// `body-ext-mpart`).
fn write_common_ext(out: &mut Vec<u8>, p: &Part, utf8: bool) {
    out.push(b' ');
    match &p.disposition {
        Some(d) => {
            out.push(b'(');
            write_string(out, &d.kind, utf8);
            out.push(b' ');
            write_params(out, &d.params, false, utf8);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    if p.language.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, l) in p.language.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            write_string(out, l, utf8);
        }
        out.push(b')');
    }
    out.push(b' ');
    write_nstring(out, p.location.as_deref(), utf8);
}

/// What a multipart with no parts shows (RFC 3501 requires at least one).
const EMPTY_BODY: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
const EMPTY_BODYSTRUCTURE: &[u8] =
    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)";

/// Writes the `body` of a part, parentheses included: BODY when
/// `extended` is false, BODYSTRUCTURE when true (RFC 3501 §7.4.2).
pub fn write_body(out: &mut Vec<u8>, p: &Part, extended: bool, utf8: bool) {
    out.push(b'(');
    if let Content::Multipart(children) = &p.content {
        if children.is_empty() {
            out.extend_from_slice(if extended {
                EMPTY_BODYSTRUCTURE
            } else {
                EMPTY_BODY
            });
        }
        for c in children {
            write_body(out, c, extended, utf8);
        }
        out.push(b' ');
        write_string(out, &p.subtype, utf8);
        if extended {
            out.push(b' ');
            write_params(out, &p.params, false, utf8);
            write_common_ext(out, p, utf8);
        }
        out.push(b')');
        return;
    }
    let text = p.is_text();
    write_string(out, &p.media_type, utf8);
    out.push(b' ');
    write_string(out, &p.subtype, utf8);
    out.push(b' ');
    write_params(out, &p.params, text, utf8);
    out.push(b' ');
    write_nstring(out, p.id.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, p.description.as_deref(), utf8);
    out.push(b' ');
    write_string(out, p.encoding.as_deref().unwrap_or(b"7bit"), utf8);
    out.extend_from_slice(format!(" {}", p.body_len).as_bytes());
    match &p.content {
        Content::Message(m) => {
            out.push(b' ');
            write_envelope(out, &m.envelope, utf8);
            out.push(b' ');
            write_body(out, &m.root, extended, utf8);
            out.extend_from_slice(format!(" {}", p.body_lines).as_bytes());
        }
        _ if text => out.extend_from_slice(format!(" {}", p.body_lines).as_bytes()),
        _ => {}
    }
    if extended {
        out.push(b' ');
        write_nstring(out, p.md5.as_deref(), utf8);
        write_common_ext(out, p, utf8);
    }
    out.push(b')');
}

/// Writes the BODY (`extended` false) or BODYSTRUCTURE (true) of a
/// message.
pub fn write_bodystructure(out: &mut Vec<u8>, s: &Structure, extended: bool, utf8: bool) {
    write_body(out, &s.root, extended, utf8);
}

#[cfg(test)]
mod tests;
