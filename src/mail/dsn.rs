//! Delivery status notifications (RFC 3464, RFC 3462 multipart/report).
//!
//! A DSN is built in three pieces so that the original message is streamed,
//! never loaded: [`Dsn::head`] gives everything up to the header of the
//! third part, [`OriginalCopy`] decides which bytes of the original go into
//! it (all, or the header only), and [`Dsn::tail`] closes the report.

use std::fmt::Write as _;

/// What happened to a recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Delivery failed for good.
    Failed,
    /// Delivery is late; we keep trying.
    Delayed,
    /// Delivered by the next hop, which speaks DSN.
    Delivered,
    /// Handed to a next hop that does not speak DSN (RFC 3461 §4.1).
    Relayed,
}

impl DsnAction {
    fn word(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
            DsnAction::Delivered => "delivered",
            DsnAction::Relayed => "relayed",
        }
    }
}

/// One per-recipient block of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The envelope recipient we tried (`Final-Recipient`).
    pub address: String,
    /// RFC 3461 ORCPT as received, `type;address` (`Original-Recipient`).
    pub orcpt: Option<String>,
    /// What happened.
    pub action: DsnAction,
    /// RFC 3463 status code, e.g. `5.1.1`.
    pub status: String,
    /// The host that answered, if any (`Remote-MTA`).
    pub remote_mta: Option<String>,
    /// The remote reply or our own reason (`Diagnostic-Code`).
    pub diagnostic: Option<String>,
    /// Unix time of the last attempt.
    pub last_attempt: i64,
    /// For delayed recipients: when we give up.
    pub will_retry_until: Option<i64>,
}

/// Whether the third part carries the whole original or only its header
/// (RFC 3461 §4.3 RET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// `text/rfc822-headers`.
    Headers,
    /// `message/rfc822`.
    Full,
}

/// A report about one queued message, to its envelope sender.
#[derive(Debug, Clone)]
pub struct Dsn {
    /// Our host name (`Reporting-MTA`, the From: domain).
    pub reporting_mta: String,
    /// The envelope sender of the original, who receives the report.
    pub to: String,
    /// RFC 3461 ENVID of the original.
    pub envid: Option<String>,
    /// When the original was queued.
    pub arrival: i64,
    /// The recipients this report is about.
    pub recipients: Vec<DsnRecipient>,
    /// What to return of the original.
    pub returned: Returned,
    /// A unique token for the boundary and the Message-ID.
    pub token: String,
    /// When the report is made.
    pub now: i64,
}

/// A status code from a reply's text (`550 5.1.1 ...`), else one from
/// its basic code (RFC 3463 §3: `X.0.0`).
pub fn status_of(reply: &str) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    // Our own reasons start with the status code itself.
    if is_status(code) {
        return code.to_owned();
    }
    if let Some(w) = words.next() {
        if is_status(w) && code.starts_with(&w[..1]) {
            return w.to_owned();
        }
    }
    match code.as_bytes().first() {
        Some(b'2') => "2.0.0".into(),
        Some(b'5') => "5.0.0".into(),
        _ => "4.0.0".into(),
    }
}

/// Whether a word is an RFC 3463 status code (`5.1.1`, `4.4.7`, `5.1.10`).
fn is_status(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Text made safe for one header field: printable ASCII, bounded length,
/// no line breaks (a peer's reply must not inject header lines).
fn field_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        if out.len() >= max {
            out.push_str("...");
            break;
        }
        out.push(match c {
            ' '..='~' => c,
            _ => ' ',
        });
    }
    out.trim().to_owned()
}

/// The longest diagnostic text kept in a report.
const MAX_DIAGNOSTIC: usize = 900;

impl Dsn {
    fn kind(&self) -> DsnAction {
        let all = |a| self.recipients.iter().all(|r| r.action == a);
        if self
            .recipients
            .iter()
            .any(|r| r.action == DsnAction::Failed)
        {
            DsnAction::Failed
        } else if all(DsnAction::Delayed) {
            DsnAction::Delayed
        } else {
            DsnAction::Delivered
        }
    }

    fn boundary(&self) -> String {
        format!("=_report_{}", self.token)
    }

    /// The report's header, its human-readable part, the delivery-status
    /// part and the header of the returned part, ready to be followed by
    /// the original's bytes.
    pub fn head(&self) -> Vec<u8> {
        let b = self.boundary();
        let date = crate::time::rfc5322(self.now);
        let subject = match self.kind() {
            DsnAction::Failed => "Undelivered Mail Returned to Sender",
            DsnAction::Delayed => "Delayed Mail (still being retried)",
            _ => "Successful Mail Delivery Report",
        };
        let mut s = String::new();
        // RFC 3464 §2: the report is sent from the null sender; From: names
        // the reporting system. RFC 3834 §5: Auto-Submitted marks it as
        // automatic so that responders stay silent.
        let _ = write!(
            s,
            "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n\
             To: <{to}>\r\n\
             Subject: {subject}\r\n\
             Date: {date}\r\n\
             Message-ID: <dsn.{token}@{host}>\r\n\
             Auto-Submitted: auto-replied\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status;\r\n\
             \tboundary=\"{b}\"\r\n\
             \r\n\
             This is a MIME-encapsulated delivery status report.\r\n\
             \r\n\
             --{b}\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             Content-Description: Notification\r\n\
             \r\n",
            host = self.reporting_mta,
            to = field_text(&self.to, 320),
            token = self.token,
        );
        s.push_str(&self.human_text());
        let _ = write!(
            s,
            "\r\n--{b}\r\n\
             Content-Type: message/delivery-status\r\n\
             Content-Description: Delivery report\r\n\
             \r\n"
        );
        s.push_str(&self.status_fields());
        let (ctype, desc) = match self.returned {
            Returned::Full => ("message/rfc822", "Undelivered Message"),
            Returned::Headers => ("text/rfc822-headers", "Undelivered Message Headers"),
        };
        let _ = write!(
            s,
            "\r\n--{b}\r\n\
             Content-Type: {ctype}\r\n\
             Content-Description: {desc}\r\n\
             \r\n"
        );
        s.into_bytes()
    }

    /// The end of the report, after the original's bytes. `ended_with_crlf`
    /// says whether those bytes ended with a line break.
    pub fn tail(&self, ended_with_crlf: bool) -> Vec<u8> {
        let nl = if ended_with_crlf { "" } else { "\r\n" };
        format!("{nl}\r\n--{}--\r\n", self.boundary()).into_bytes()
    }

    fn human_text(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "This is the mail system at {}.\r\n\r\n",
            self.reporting_mta
        );
        let intro = match self.kind() {
            DsnAction::Failed => {
                "Your message could not be delivered to one or more recipients.\r\n\
                 It is attached below.\r\n"
            }
            DsnAction::Delayed => {
                "Your message has not been delivered yet to one or more recipients.\r\n\
                 No action is needed: delivery will be retried.\r\n"
            }
            _ => "Your message was delivered to the recipients below.\r\n",
        };
        s.push_str(intro);
        for r in &self.recipients {
            let _ = write!(
                s,
                "\r\n<{}>: {}",
                field_text(&r.address, 320),
                r.action.word()
            );
            if let Some(d) = &r.diagnostic {
                let _ = write!(s, "\r\n    {}", field_text(d, MAX_DIAGNOSTIC));
            }
            if let Some(t) = r.will_retry_until {
                let _ = write!(s, "\r\n    Retrying until {}", crate::time::rfc5322(t));
            }
            s.push_str("\r\n");
        }
        s
    }

    /// The `message/delivery-status` body (RFC 3464 §2.2, §2.3).
    fn status_fields(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "Reporting-MTA: dns; {}\r\n", self.reporting_mta);
        if let Some(e) = &self.envid {
            let _ = write!(s, "Original-Envelope-Id: {}\r\n", field_text(e, 100));
        }
        let _ = write!(
            s,
            "Arrival-Date: {}\r\n",
            crate::time::rfc5322(self.arrival)
        );
        for r in &self.recipients {
            s.push_str("\r\n");
            if let Some(o) = &r.orcpt {
                let o = field_text(o, 500);
                if o.contains(';') {
                    let _ = write!(s, "Original-Recipient: {o}\r\n");
                }
            }
            let _ = write!(
                s,
                "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
                field_text(&r.address, 320),
                r.action.word(),
                field_text(&r.status, 20)
            );
            if let Some(m) = &r.remote_mta {
                let _ = write!(s, "Remote-MTA: dns; {}\r\n", field_text(m, 255));
            }
            if let Some(d) = &r.diagnostic {
                // RFC 3464 §2.3.6: `smtp;` for a remote SMTP reply; our own
                // reasons are given the same way so clients show them.
                let _ = write!(
                    s,
                    "Diagnostic-Code: smtp; {}\r\n",
                    field_text(d, MAX_DIAGNOSTIC)
                );
            }
            let _ = write!(
                s,
                "Last-Attempt-Date: {}\r\n",
                crate::time::rfc5322(r.last_attempt)
            );
            if let Some(t) = r.will_retry_until {
                let _ = write!(s, "Will-Retry-Until: {}\r\n", crate::time::rfc5322(t));
            }
        }
        s
    }
}

/// Decides which bytes of the original, fed in order in chunks of any
/// size, go into the report: everything, or for [`Returned::Headers`] the
/// header up to (not including) the blank line that ends it.
#[derive(Debug)]
pub struct OriginalCopy {
    headers_only: bool,
    done: bool,
    /// The last bytes seen, to find `\n\r\n` or `\n\n` across chunks.
    last: [u8; 2],
    /// Whether the bytes passed on so far end with a line break.
    ends_with_newline: bool,
}

impl OriginalCopy {
    /// Starts a copy.
    pub fn new(returned: Returned) -> OriginalCopy {
        OriginalCopy {
            headers_only: returned == Returned::Headers,
            done: false,
            // As if after a line break, so that a message starting with
            // an empty line has an empty header.
            last: [b'\r', b'\n'],
            ends_with_newline: true,
        }
    }

    /// Appends to `out` the part of `chunk` to copy (possibly nothing).
    pub fn take(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if !self.headers_only {
            out.extend_from_slice(chunk);
            if let Some(&b) = chunk.last() {
                self.ends_with_newline = b == b'\n';
            }
            return;
        }
        for &b in chunk {
            // The blank line: LF followed by LF, or by CR LF.
            if b == b'\n' && (self.last[1] == b'\n' || self.last == [b'\n', b'\r']) {
                self.done = true;
                return;
            }
            // A CR right after a line break may start the blank line: hold
            // it back until the next byte tells.
            if self.last[1] == b'\n' && b == b'\r' {
                self.last = [self.last[1], b];
                continue;
            }
            if self.last == [b'\n', b'\r'] {
                out.push(b'\r');
            }
            out.push(b);
            self.ends_with_newline = b == b'\n';
            self.last = [self.last[1], b];
        }
    }

    /// Whether the copy is complete (the header has ended).
    pub fn done(&self) -> bool {
        self.done
    }

    /// Whether the bytes copied so far end with a line break.
    pub fn ends_with_newline(&self) -> bool {
        self.ends_with_newline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(returned: Returned) -> Dsn {
        Dsn {
            reporting_mta: "mail.example.org".into(),
            to: "alice@example.org".into(),
            envid: Some("env-1".into()),
            arrival: 1_700_000_000,
            recipients: vec![
                DsnRecipient {
                    address: "bob@remote.test".into(),
                    orcpt: Some("rfc822;Bob@remote.test".into()),
                    action: DsnAction::Failed,
                    status: "5.1.1".into(),
                    remote_mta: Some("mx.remote.test".into()),
                    diagnostic: Some("550 5.1.1 no such user\r\nInjected: header".into()),
                    last_attempt: 1_700_000_100,
                    will_retry_until: None,
                },
                DsnRecipient {
                    address: "carol@remote.test".into(),
                    orcpt: None,
                    action: DsnAction::Delayed,
                    status: "4.4.1".into(),
                    remote_mta: None,
                    diagnostic: Some("connection refused".into()),
                    last_attempt: 1_700_000_100,
                    will_retry_until: Some(1_700_432_000),
                },
            ],
            returned,
            token: "abc123".into(),
            now: 1_700_000_200,
        }
    }

    fn copy_all(returned: Returned, original: &[u8], pieces: usize) -> (Vec<u8>, bool) {
        let mut c = OriginalCopy::new(returned);
        let mut out = Vec::new();
        for chunk in original.chunks(pieces.max(1)) {
            c.take(chunk, &mut out);
        }
        (out, c.ends_with_newline())
    }

    #[test]
    fn the_report_has_the_rfc_3464_structure() {
        let d = report(Returned::Headers);
        let original = b"Subject: hi\r\nFrom: alice@example.org\r\n\r\nsecret body\r\n";
        let (copied, nl) = copy_all(Returned::Headers, original, 1000);
        let mut all = d.head();
        all.extend_from_slice(&copied);
        all.extend_from_slice(&d.tail(nl));
        let text = String::from_utf8(all).unwrap();
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"=_report_abc123\"\r\n"));
        assert!(text.contains("Subject: Undelivered Mail Returned to Sender\r\n"));
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(text
            .contains("Reporting-MTA: dns; mail.example.org\r\nOriginal-Envelope-Id: env-1\r\n"));
        assert!(text.contains("Original-Recipient: rfc822;Bob@remote.test\r\nFinal-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\n"));
        // A reply cannot inject header lines.
        assert!(
            text.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user  Injected: header\r\n")
        );
        assert!(!text.contains("\nInjected"));
        assert!(text.contains("Action: delayed\r\nStatus: 4.4.1\r\n"));
        assert!(text.contains("Will-Retry-Until: "));
        assert!(text.contains("Content-Type: text/rfc822-headers\r\n"));
        assert!(text.contains("From: alice@example.org\r\n\r\n--=_report_abc123--\r\n"));
        assert!(!text.contains("secret body"));
        assert_eq!(text.matches("--=_report_abc123\r\n").count(), 3);
    }

    #[test]
    fn ret_full_returns_the_whole_message() {
        let d = report(Returned::Full);
        let original = b"Subject: hi\r\n\r\nbody without final newline";
        let (copied, nl) = copy_all(Returned::Full, original, 3);
        assert_eq!(copied, original);
        assert!(!nl);
        let text = String::from_utf8(d.head()).unwrap();
        assert!(text.ends_with(
            "Content-Type: message/rfc822\r\nContent-Description: Undelivered Message\r\n\r\n"
        ));
        assert_eq!(d.tail(nl), b"\r\n\r\n--=_report_abc123--\r\n");
    }

    #[test]
    fn header_copy_stops_at_the_blank_line_whatever_the_chunking() {
        for original in [
            &b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore"[..],
            b"A: 1\nB: 2\n\nbody\n",
            b"\r\nbody",
            b"A: 1\r\nB: 2\r\n",
            b"A: 1\r\n\rB: 2\r\n\r\nbody",
        ] {
            let (whole, _) = copy_all(Returned::Headers, original, original.len());
            for n in 1..original.len() {
                assert_eq!(copy_all(Returned::Headers, original, n).0, whole, "{n}");
            }
            let s = String::from_utf8_lossy(&whole);
            assert!(!s.contains("body"), "{s:?}");
        }
        assert_eq!(
            copy_all(Returned::Headers, b"A: 1\r\nB: 2\r\n\r\nbody", 1).0,
            b"A: 1\r\nB: 2\r\n"
        );
        assert_eq!(
            copy_all(Returned::Headers, b"A: 1\nB: 2\n\nbody", 2).0,
            b"A: 1\nB: 2\n"
        );
    }

    #[test]
    fn status_codes_come_from_the_reply() {
        assert_eq!(status_of("550 5.1.1 no such user"), "5.1.1");
        assert_eq!(status_of("550 no such user"), "5.0.0");
        assert_eq!(status_of("451 4.7.1 greylisted"), "4.7.1");
        assert_eq!(status_of("451 5.7.1 mismatch"), "4.0.0");
        assert_eq!(status_of("garbage"), "4.0.0");
        assert_eq!(status_of("5.1.10 domain accepts no mail"), "5.1.10");
        assert_eq!(status_of(""), "4.0.0");
    }
}
