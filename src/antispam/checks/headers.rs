//! The message header and attachments, at the end of DATA.
//!
//! | rule                    | when                                                   | score |
//! |-------------------------|--------------------------------------------------------|-------|
//! | `MISSING_DATE`          | no Date field (RFC 5322 §3.6: required)                | +1.0  |
//! | `DATE_UNPARSEABLE`      | a Date that is not an RFC 5322 §3.3 date-time          | +0.5  |
//! | `DATE_IN_FUTURE`        | a Date more than 24 hours after the stage's time       | +1.5  |
//! | `MISSING_MID`           | no Message-ID field (RFC 5322 §3.6.4: SHOULD)          | +0.5  |
//! | `MISSING_FROM`          | no From field (RFC 5322 §3.6: required)                | +2.0  |
//! | `FROM_UNPARSEABLE`      | a From that is not a list of well-formed mailboxes, or several From fields | +2.0 |
//! | `EXECUTABLE_ATTACHMENT` | a part whose file name has an executable extension     | +4.0  |
//! | `DOUBLE_EXTENSION`      | a document extension hiding an executable one (`invoice.pdf.exe`), or a right-to-left override in a file name | +3.0 |
//!
//! Real mail clients always write Date, From and Message-ID; their absence
//! is typical of scripts. Executables are what a small office never
//! receives by mail from outside, and the favourite carrier of malware;
//! a double extension only exists to deceive.
//!
//! File names come from the Content-Disposition `filename` parameter
//! (RFC 2183 §2.3) or the Content-Type `name` parameter, RFC 2231 extended
//! values and RFC 2047 encoded words decoded; every part is looked at,
//! nested multiparts and attached messages included (the MIME parser
//! bounds their number).

use super::shown;
use crate::antispam::{Check, Context, Message, Verdict};
use crate::dns::BoxFuture;
use crate::mail::address::{self, Address};
use crate::mail::date::DateTime;
use crate::mail::header::{decode_words, hex, to_utf8, Charset, Param};
use crate::mail::mime::{Content, Part, MAX_FIELD};

/// Score of a message without Date.
pub const MISSING_DATE: f32 = 1.0;
/// Score of a Date that cannot be read.
pub const DATE_UNPARSEABLE: f32 = 0.5;
/// Score of a Date more than [`FUTURE_SLACK`] ahead.
pub const DATE_IN_FUTURE: f32 = 1.5;
/// Score of a message without Message-ID.
pub const MISSING_MID: f32 = 0.5;
/// Score of a message without From.
pub const MISSING_FROM: f32 = 2.0;
/// Score of a From that does not parse.
pub const FROM_UNPARSEABLE: f32 = 2.0;
/// Score of an executable attachment.
pub const EXECUTABLE_ATTACHMENT: f32 = 4.0;
/// Score of a deceptive file name.
pub const DOUBLE_EXTENSION: f32 = 3.0;

/// How far ahead of our clock a Date may be (clock skew, time zones
/// written wrongly) before it counts as in the future.
pub const FUTURE_SLACK: i64 = 24 * 3600;

/// Extensions Windows (or a Java or script runtime) runs when opened.
const EXECUTABLE: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "bat",
    "cmd",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "msi",
    "msp",
    "jar",
    "lnk",
    "hta",
    "cpl",
    "ps1",
    "psm1",
    "reg",
    "scf",
    "application",
    "gadget",
    "vb",
    "msc",
    "appref-ms",
    "settingcontent-ms",
];

/// Extensions of documents that a deceptive name pretends to be.
const DOCUMENT: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "rtf", "txt", "csv", "jpg",
    "jpeg", "png", "gif", "bmp", "tif", "tiff", "htm", "html", "zip", "rar", "7z", "mp3", "mp4",
    "avi", "wav",
];

/// Most file names looked at per message.
const MAX_NAMES: usize = 1000;

/// The header and attachment check.
#[derive(Debug, Clone, Default)]
pub struct HeaderCheck;

impl HeaderCheck {
    /// The check (it has no settings).
    pub fn new() -> HeaderCheck {
        HeaderCheck
    }
}

impl Check for HeaderCheck {
    fn name(&self) -> &'static str {
        "headers"
    }

    fn data<'a>(&'a self, cx: &'a Context, msg: &'a Message<'a>) -> BoxFuture<'a, Vec<Verdict>> {
        let mut out = header_verdicts(cx, msg);
        out.extend(attachment_verdicts(&msg.structure.root));
        Box::pin(std::future::ready(out))
    }
}

fn header_verdicts(cx: &Context, msg: &Message<'_>) -> Vec<Verdict> {
    let fields = msg.fields();
    let values = |name: &str| -> Vec<&[u8]> {
        fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
            .collect()
    };
    let mut out = Vec::new();

    match values("Date").first() {
        None => out.push(Verdict::score(
            "MISSING_DATE",
            MISSING_DATE,
            "no Date field",
        )),
        Some(v) => match DateTime::parse(v).map(|d| d.unix()) {
            None => out.push(Verdict::score(
                "DATE_UNPARSEABLE",
                DATE_UNPARSEABLE,
                format!(
                    "Date {:?} is not an RFC 5322 date",
                    shown(&String::from_utf8_lossy(v), 80)
                ),
            )),
            Some(t) if t > (cx.now as i64).saturating_add(FUTURE_SLACK) => {
                out.push(Verdict::score(
                    "DATE_IN_FUTURE",
                    DATE_IN_FUTURE,
                    format!(
                        "Date is {} hours ahead",
                        t.saturating_sub(cx.now as i64) / 3600
                    ),
                ))
            }
            Some(_) => {}
        },
    }

    if values("Message-ID").is_empty() {
        out.push(Verdict::score(
            "MISSING_MID",
            MISSING_MID,
            "no Message-ID field",
        ));
    }

    let froms = values("From");
    match froms.as_slice() {
        [] => out.push(Verdict::score(
            "MISSING_FROM",
            MISSING_FROM,
            "no From field",
        )),
        [one] => {
            if let Err(why) = check_from(one) {
                out.push(Verdict::score("FROM_UNPARSEABLE", FROM_UNPARSEABLE, why));
            }
        }
        // RFC 5322 §3.6: exactly one From field; several let different
        // readers show different authors.
        many => out.push(Verdict::score(
            "FROM_UNPARSEABLE",
            FROM_UNPARSEABLE,
            format!("{} From fields", many.len()),
        )),
    }
    out
}

/// Whether a From value is a list of well-formed mailboxes (RFC 5322
/// §3.6.2 `mailbox-list`); why not otherwise.
fn check_from(value: &[u8]) -> Result<(), String> {
    // A field is cut at MAX_FIELD bytes (name included) when read: its
    // last address may be a cut one, so it is left out then.
    let value = if value.len() + 16 >= MAX_FIELD {
        let end = value
            .iter()
            .rposition(|&b| b == b',')
            .unwrap_or(value.len());
        value.get(..end).unwrap_or(value)
    } else {
        value
    };
    let shown_value = || shown(&String::from_utf8_lossy(value), 80);
    let mut mailboxes = 0;
    for a in address::parse_list(value) {
        let Address::Mailbox { mailbox, host, .. } = a else {
            // Group syntax is not allowed in From (RFC 5322 §3.6.2).
            return Err(format!("From {:?} holds a group", shown_value()));
        };
        if mailbox.is_empty()
            || mailbox == address::MISSING_MAILBOX
            || host == address::MISSING_DOMAIN
            || !is_mail_domain(&host)
        {
            return Err(format!("From {:?} is not a valid address", shown_value()));
        }
        mailboxes += 1;
    }
    if mailboxes == 0 {
        return Err(format!("From {:?} holds no address", shown_value()));
    }
    Ok(())
}

/// A domain as it may appear in an address from the internet (RFC 5322
/// §3.4.1, RFC 5321 §2.3.5: fully qualified): two or more dotted labels
/// of letters, digits and hyphens (UTF-8 too, RFC 6532), or a domain
/// literal in brackets.
fn is_mail_domain(host: &[u8]) -> bool {
    if host.first() == Some(&b'[') {
        return host.last() == Some(&b']') && host.len() > 2;
    }
    host.contains(&b'.')
        && host.len() <= 255
        && host.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b >= 0x80)
        })
}

/// Every part of a message, depth first, nested messages included.
fn walk<'p>(part: &'p Part, out: &mut Vec<&'p Part>) {
    // An explicit stack: the parser bounds depth, but this needs no
    // recursion at all.
    let mut stack = vec![part];
    while let Some(p) = stack.pop() {
        out.push(p);
        match &p.content {
            Content::Single => {}
            Content::Multipart(children) => stack.extend(children.iter().rev()),
            Content::Message(m) => stack.push(&m.root),
        }
    }
}

fn attachment_verdicts(root: &Part) -> Vec<Verdict> {
    let mut parts = Vec::new();
    walk(root, &mut parts);
    let mut executable: Option<String> = None;
    let mut double: Option<String> = None;
    for name in parts.iter().filter_map(|p| file_name(p)).take(MAX_NAMES) {
        let (exe, dbl) = judge_name(&name);
        if exe && executable.is_none() {
            executable = Some(name.clone());
        }
        if dbl && double.is_none() {
            double = Some(name);
        }
        if executable.is_some() && double.is_some() {
            break;
        }
    }
    let mut out = Vec::new();
    if let Some(n) = executable {
        out.push(Verdict::score(
            "EXECUTABLE_ATTACHMENT",
            EXECUTABLE_ATTACHMENT,
            format!("executable attachment {:?}", shown(&n, 100)),
        ));
    }
    if let Some(n) = double {
        out.push(Verdict::score(
            "DOUBLE_EXTENSION",
            DOUBLE_EXTENSION,
            format!("deceptive file name {:?}", shown(&n, 100)),
        ));
    }
    out
}

/// (executable, deceptive) for a file name.
fn judge_name(name: &str) -> (bool, bool) {
    // Windows ignores trailing dots and spaces: `a.exe. ` runs as `a.exe`.
    let trimmed = name.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let lower = trimmed.to_lowercase();
    let mut exts = lower.rsplit('.');
    let last = exts.next().unwrap_or_default();
    let has_ext = lower.contains('.');
    let executable = has_ext && EXECUTABLE.contains(&last);
    let before = exts.next().map(str::trim).unwrap_or_default();
    let has_before = lower.matches('.').count() >= 2;
    // U+202E RIGHT-TO-LEFT OVERRIDE shows `cod.exe` as `exe.doc`.
    let rtlo = name.contains('\u{202e}') || name.contains('\u{202d}');
    let double = (executable && has_before && DOCUMENT.contains(&before)) || rtlo;
    (executable, double)
}

/// A part's file name: Content-Disposition `filename`, else Content-Type
/// `name` (RFC 2183 §2.3, RFC 2045 §5.1), decoded.
fn file_name(part: &Part) -> Option<String> {
    let from_disposition = part
        .disposition
        .as_ref()
        .and_then(|d| named(&d.params, b"filename"));
    from_disposition.or_else(|| named(&part.params, b"name"))
}

/// The decoded value of parameter `name`, or of its RFC 2231 extended
/// form `name*`.
fn named(params: &[Param], name: &[u8]) -> Option<String> {
    let mut extended = name.to_vec();
    extended.push(b'*');
    if let Some(p) = params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(&extended))
    {
        return Some(decode_2231(&p.value));
    }
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        // Not allowed in parameters by RFC 2047 §5, but common.
        .map(|p| decode_words(&p.value))
}

/// Decodes an RFC 2231 §4 extended value: `charset'language'%XX...`.
fn decode_2231(value: &[u8]) -> String {
    let mut pieces = value.splitn(3, |&b| b == b'\'');
    let (charset, text) = match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(cs), Some(_lang), Some(text)) => (cs, text),
        // Without the two quotes: percent-decode as UTF-8.
        _ => (&b""[..], value),
    };
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let decoded = (b == b'%')
            .then(|| Some((hex(*text.get(i + 1)?)? << 4) | hex(*text.get(i + 2)?)?))
            .flatten();
        match decoded {
            Some(d) => {
                bytes.push(d);
                i += 3;
            }
            None => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    to_utf8(Charset::from_label(charset), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::StaticResolver;
    use crate::mail::mime;
    use std::path::Path;
    use std::sync::Arc;

    /// 2026-11-28 22:00:00 UTC.
    const NOW: u64 = 1_795_903_200;

    fn verdicts(message: &[u8]) -> Vec<(String, f32)> {
        let structure = mime::parse(message);
        let end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(message.len(), |i| i + 4);
        let msg = Message {
            header: &message[..end],
            structure: &structure,
            path: Path::new("/nonexistent"),
            size: message.len() as u64,
        };
        let cx = Context::new(
            "198.51.100.7".parse().unwrap(),
            "mx",
            vec![],
            Arc::new(StaticResolver::new()),
            NOW,
        );
        smol::block_on(HeaderCheck::new().data(&cx, &msg))
            .into_iter()
            .map(|v| (v.rule, v.score))
            .collect()
    }

    fn rules(message: &[u8]) -> Vec<String> {
        verdicts(message).into_iter().map(|(r, _)| r).collect()
    }

    const GOOD: &str = "Date: Sat, 28 Nov 2026 21:58:01 +0100\r\n\
        From: \"Ann Example\" <ann@example.org>\r\n\
        Message-ID: <1@example.org>\r\nSubject: hi\r\n";

    fn with(extra: &str, body: &str) -> Vec<u8> {
        format!("{GOOD}{extra}\r\n{body}").into_bytes()
    }

    #[test]
    fn well_formed_message_scores_nothing() {
        assert!(rules(&with("", "hello\r\n")).is_empty());
        assert!(rules(b"date: 28 Nov 2026 22:00 GMT\r\nfrom: a@b.example, c@[192.0.2.1]\r\nmessage-id: <x@y>\r\n\r\n").is_empty());
    }

    #[test]
    fn missing_fields() {
        assert_eq!(
            verdicts(b"Subject: x\r\n\r\nbody\r\n"),
            [
                ("MISSING_DATE".to_string(), MISSING_DATE),
                ("MISSING_MID".to_string(), MISSING_MID),
                ("MISSING_FROM".to_string(), MISSING_FROM)
            ]
        );
    }

    #[test]
    fn dates() {
        let header = |date: &str| {
            format!("Date: {date}\r\nFrom: a@example.org\r\nMessage-ID: <1@x>\r\n\r\n").into_bytes()
        };
        // 23 hours ahead is tolerated, 25 is not.
        assert!(rules(&header("Sun, 29 Nov 2026 21:00:00 +0000")).is_empty());
        assert_eq!(
            rules(&header("Sun, 29 Nov 2026 23:00:00 +0000")),
            ["DATE_IN_FUTURE"]
        );
        // The zone counts: 23:30 at -0500 is 04:30 UTC the next day.
        assert_eq!(
            rules(&header("29 Nov 2026 23:30 -0500")),
            ["DATE_IN_FUTURE"]
        );
        assert!(rules(&header("Sun, 29 Nov 2026 23:30:00 +0200 (CEST)")).is_empty());
        assert_eq!(
            rules(&header("1 Jan 2099 00:00:00 +0000")),
            ["DATE_IN_FUTURE"]
        );
        // Old dates are fine; two-digit years are read per RFC 5322 §4.3.
        assert!(rules(&header("Thu, 1 Jan 98 00:00:00 EST")).is_empty());
        for bad in [
            "yesterday",
            "32 Nov 2026 10:00",
            "28 Foo 2026 10:00",
            "28 Nov 2026",
            "28 Nov 2026 25:00",
            "",
        ] {
            assert_eq!(rules(&header(bad)), ["DATE_UNPARSEABLE"], "{bad:?}");
        }
    }

    #[test]
    fn bad_from() {
        let msg = |from: &str| {
            format!("Date: 28 Nov 2026 22:00 +0000\r\nMessage-ID: <1@x>\r\n{from}\r\n\r\n")
                .into_bytes()
        };
        for bad in [
            "From: nobody",
            "From: <@example.org>",
            "From: user@",
            "From: \"Name\" <user@bad domain>",
            "From: ",
            "From: undisclosed:;",
            "From: a@example.org\r\nFrom: b@example.org",
            "From: a@exa..mple.org",
        ] {
            assert_eq!(rules(&msg(bad)), ["FROM_UNPARSEABLE"], "{bad:?}");
        }
        for good in [
            "From: a@example.org",
            "From: =?utf-8?q?Ren=C3=A9?= <r@example.org>",
            "From: x@b\u{fc}cher.example",
        ] {
            assert!(rules(&msg(good)).is_empty(), "{good:?}");
        }
    }

    fn attachment(disposition: &str, content_type: &str) -> Vec<u8> {
        let disposition = if disposition.is_empty() {
            String::new()
        } else {
            format!("{disposition}\r\n")
        };
        with(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
            &format!(
                "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
                 --b\r\nContent-Type: {content_type}\r\n{disposition}\r\nAAAA\r\n--b--\r\n"
            ),
        )
    }

    #[test]
    fn executable_attachments() {
        let cases = [
            (
                "Content-Disposition: attachment; filename=\"setup.exe\"",
                "application/octet-stream",
            ),
            (
                "Content-Disposition: attachment; filename=SCRIPT.JS",
                "text/plain",
            ),
            ("", "application/octet-stream; name=\"run.bat\""),
            (
                "Content-Disposition: attachment; filename=\"a.exe. \"",
                "application/octet-stream",
            ),
            (
                "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.scr",
                "application/octet-stream",
            ),
            (
                "Content-Disposition: attachment; filename*0=\"long\"; filename*1=\"name.vbs\"",
                "application/octet-stream",
            ),
            (
                "Content-Disposition: attachment; filename=\"=?utf-8?b?ZmFjdHVyZS5leGU=?=\"",
                "application/octet-stream",
            ),
        ];
        for (disp, ct) in cases {
            assert_eq!(
                rules(&attachment(disp, ct)),
                ["EXECUTABLE_ATTACHMENT"],
                "{disp} {ct}"
            );
        }
        for (disp, ct) in [
            (
                "Content-Disposition: attachment; filename=\"report.pdf\"",
                "application/pdf",
            ),
            (
                "Content-Disposition: attachment; filename=\"exe\"",
                "application/octet-stream",
            ),
            (
                "Content-Disposition: attachment; filename=\"notes.txt.gz\"",
                "application/gzip",
            ),
            ("", "application/octet-stream"),
        ] {
            assert!(rules(&attachment(disp, ct)).is_empty(), "{disp} {ct}");
        }
    }

    #[test]
    fn double_extensions() {
        let name = |n: &str| {
            rules(&attachment(
                &format!("Content-Disposition: attachment; filename=\"{n}\""),
                "application/octet-stream",
            ))
        };
        assert_eq!(
            name("invoice.pdf.exe"),
            ["EXECUTABLE_ATTACHMENT", "DOUBLE_EXTENSION"]
        );
        assert_eq!(
            name("Invoice.PDF      .scr"),
            ["EXECUTABLE_ATTACHMENT", "DOUBLE_EXTENSION"]
        );
        // A version number before .exe is not deceptive.
        assert_eq!(name("setup-1.2.exe"), ["EXECUTABLE_ATTACHMENT"]);
        assert!(name("photo.2024.jpg").is_empty());
        // Right-to-left override: "photo\u{202e}gpj.exe" shows as photoexe.jpg.
        assert_eq!(
            name("photo\u{202e}gpj.exe"),
            ["EXECUTABLE_ATTACHMENT", "DOUBLE_EXTENSION"]
        );
    }

    #[test]
    fn nested_parts_and_attached_messages_are_searched() {
        let inner = "--c\r\nContent-Type: text/plain\r\n\r\nx\r\n--c\r\n\
            Content-Type: application/x-msdownload; name=\"doc.pdf.exe\"\r\n\r\nAA\r\n--c--\r\n";
        let attached = format!(
            "From: x@example.org\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n{inner}"
        );
        let message = with(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
            &format!(
                "--b\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
                 --a\r\nContent-Type: text/plain\r\n\r\nhi\r\n--a--\r\n\
                 --b\r\nContent-Type: message/rfc822\r\n\r\n{attached}\r\n--b--\r\n"
            ),
        );
        assert_eq!(
            rules(&message),
            ["EXECUTABLE_ATTACHMENT", "DOUBLE_EXTENSION"]
        );
    }

    #[test]
    fn huge_and_hostile_headers_do_not_break() {
        let mut header = String::from(GOOD);
        for i in 0..2000 {
            header.push_str(&format!("X-Junk-{i}: {}\r\n", "y".repeat(30)));
        }
        header.push_str(&format!("X-Long: {}\r\n", "z ".repeat(20_000)));
        header.push_str("\r\n");
        assert!(rules(header.as_bytes()).is_empty());

        // A From of thousands of addresses, a Date of garbage bytes.
        let mut m = b"Date: \xff\xfe(((((\r\nMessage-ID: <1@x>\r\nFrom: ".to_vec();
        for i in 0..5000 {
            m.extend_from_slice(format!("u{i}@example.org, ").as_bytes());
        }
        m.extend_from_slice(b"\r\n\r\n");
        assert_eq!(rules(&m), ["DATE_UNPARSEABLE"]);

        // No header at all, only garbage.
        let r = rules(b"\x00\x01\x02 not a header\r\n\r\n");
        assert!(r.contains(&"MISSING_FROM".to_string()), "{r:?}");
    }
}
