//! Reading an mbox file (RFC 4155): messages split at `From ` lines that
//! carry a date, `>From ` quoting undone (mboxrd, which also reads mboxo
//! right in all but the rare `>From ` line that was in a body as written),
//! CR-only, LF-only or CRLF line ends, and a missing final newline.
//! Flags come from Thunderbird's `X-Mozilla-Status` and `X-Mozilla-Keys`,
//! or from the `Status` and `X-Status` fields of mutt and Pine.
//!
//! [`Splitter`] is the sans-I/O part: bytes in, events out, with at most
//! one line kept (and only its first [`MAX_KEPT`] bytes).

use super::Target;
use crate::store::records::flags;
use std::io::Read;
use std::path::Path;

/// Bytes of a line kept before it is passed on as data: enough to tell a
/// `From ` line and its date (real ones are under 100 bytes).
pub const MAX_KEPT: usize = 1000;

/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

/// What the splitter found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message starts; the date of its `From ` line (Unix time).
    Begin(i64),
    /// Bytes of the current message, LF line ends.
    Data(&'a [u8]),
    /// The current message ends.
    End,
}

/// Splits an mbox into messages.
#[derive(Debug, Default)]
pub struct Splitter {
    line: Vec<u8>,
    /// The current line was longer than [`MAX_KEPT`]: passed on already.
    long: bool,
    /// A CR was seen last: a following LF belongs to it.
    cr: bool,
    in_message: bool,
    /// An empty line held back: it ends the message if a `From ` line
    /// follows.
    blank: bool,
    /// Bytes before the first `From ` line.
    junk: bool,
}

impl Splitter {
    /// A splitter at the start of a file.
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Whether the file had text before its first `From ` line (it is
    /// then not an mbox).
    pub fn had_junk(&self) -> bool {
        self.junk
    }

    /// Feeds the next bytes of the file.
    pub fn feed(&mut self, data: &[u8], out: &mut dyn FnMut(Event<'_>)) {
        for &b in data {
            if self.cr {
                self.cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.cr = true;
                    self.end_line(out);
                }
                b'\n' => self.end_line(out),
                _ if self.long => {
                    if self.in_message {
                        out(Event::Data(std::slice::from_ref(&b)));
                    }
                }
                _ => {
                    self.line.push(b);
                    if self.line.len() > MAX_KEPT {
                        self.flush_blank(out);
                        self.unquote();
                        if self.in_message {
                            out(Event::Data(&self.line));
                        } else {
                            self.junk = true;
                        }
                        self.line.clear();
                        self.long = true;
                    }
                }
            }
        }
    }

    /// Ends the file: a last line without a newline gets one.
    pub fn finish(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        if !self.line.is_empty() || self.long {
            self.end_line(out);
        }
        if self.in_message {
            // A blank last line ends the message; it is not part of it.
            self.blank = false;
            self.in_message = false;
            out(Event::End);
        }
    }

    fn end_line(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        if self.long {
            self.long = false;
            if self.in_message {
                out(Event::Data(b"\n"));
            }
            return;
        }
        let from_date = if self.blank || !self.in_message {
            from_line(&self.line)
        } else {
            None
        };
        if let Some(date) = from_date {
            if self.in_message {
                out(Event::End);
            }
            self.blank = false;
            self.in_message = true;
            out(Event::Begin(date));
        } else if !self.in_message {
            if !self.line.is_empty() {
                self.junk = true;
            }
        } else if self.line.is_empty() {
            self.flush_blank(out);
            self.blank = true;
        } else {
            self.flush_blank(out);
            self.unquote();
            self.line.push(b'\n');
            out(Event::Data(&self.line));
        }
        self.line.clear();
    }

    fn flush_blank(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        if std::mem::take(&mut self.blank) {
            out(Event::Data(b"\n"));
        }
    }

    /// mboxrd: `>From `, `>>From `... lose one `>`.
    fn unquote(&mut self) {
        let n = self.line.iter().take_while(|&&b| b == b'>').count();
        if n > 0 && self.line[n..].starts_with(b"From ") {
            self.line.remove(0);
        }
    }
}

/// The date of an mbox `From ` line (`From sender asctime-date`, RFC 4155
/// §2; Thunderbird writes `From - Mon Jan  1 10:00:00 2024`), or `None`
/// when the line is not one. A zone after the time or the year is allowed
/// and applied.
pub fn from_line(line: &[u8]) -> Option<i64> {
    let rest = line.strip_prefix(b"From ")?;
    let text = std::str::from_utf8(rest).ok()?;
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    // Find "Mon DD HH:MM[:SS]" then the year (maybe after a zone).
    let i = (0..words.len()).find(|&i| month(words[i]).is_some())?;
    let mon = month(words[i])?;
    let day: u32 = words.get(i + 1)?.parse().ok()?;
    let mut hms = words.get(i + 2)?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let s: i64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    let mut offset = 0;
    let mut year = None;
    for w in words.iter().skip(i + 3).take(2) {
        if let Some(z) = zone(w) {
            offset = z;
        } else if let Ok(y) = w.parse::<u32>() {
            if (1970..=9999).contains(&y) {
                year = Some(y);
            }
        }
    }
    let year = year?;
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = crate::mail::date::days_from_civil(year, mon, day);
    Some(days * 86_400 + h * 3600 + m * 60 + s - offset)
}

fn month(w: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let w = w.get(..3)?.to_ascii_lowercase();
    M.iter().position(|m| *m == w).map(|p| p as u32 + 1)
}

/// `+0200` / `-0500` as seconds east of UTC.
fn zone(w: &str) -> Option<i64> {
    let (sign, digits) = match w.as_bytes().first()? {
        b'+' => (1, &w[1..]),
        b'-' => (-1, &w[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    Some(sign * ((n / 100) * 3600 + (n % 100) * 60))
}

/// Flags and keywords from the fields mail programs keep in mbox files.
/// `None` for a message Thunderbird deleted but did not compact away
/// (`X-Mozilla-Status` 0x0008): it is not imported.
pub fn mbox_flags(field: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<(u8, Vec<String>)> {
    let mut bits = 0;
    let mut keywords = Vec::new();
    if let Some(v) = field("X-Mozilla-Status") {
        // Thunderbird's nsMsgMessageFlags: Read 0x1, Replied 0x2,
        // Marked 0x4, Expunged 0x8, Forwarded 0x1000.
        let n = u32::from_str_radix(std::str::from_utf8(&v).ok()?.trim(), 16).unwrap_or(0);
        if n & 0x8 != 0 {
            return None;
        }
        for (bit, f) in [
            (0x1, flags::SEEN),
            (0x2, flags::ANSWERED),
            (0x4, flags::FLAGGED),
        ] {
            if n & bit != 0 {
                bits |= f;
            }
        }
        if n & 0x1000 != 0 {
            keywords.push("$Forwarded".to_string());
        }
    }
    // mutt and Pine: Status R (read), X-Status A F T D.
    if let Some(v) = field("Status") {
        if v.contains(&b'R') {
            bits |= flags::SEEN;
        }
    }
    if let Some(v) = field("X-Status") {
        for (c, f) in [
            (b'A', flags::ANSWERED),
            (b'F', flags::FLAGGED),
            (b'T', flags::DRAFT),
            (b'D', flags::DELETED),
        ] {
            if v.contains(&c) {
                bits |= f;
            }
        }
    }
    for name in ["X-Mozilla-Keys", "X-Keywords"] {
        if let Some(v) = field(name) {
            for k in String::from_utf8_lossy(&v).split([' ', ',']) {
                if !k.is_empty() && !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    keywords.push(k.to_string());
                }
            }
        }
    }
    Some((bits, keywords))
}

/// Imports the mbox file at `path` into INBOX (or where `--folder-map`
/// sends the file's name).
pub fn import(path: &Path, target: &mut Target<'_>) -> Result<(), String> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The file's name chooses the folder when the map names it or it is
    // a special folder's ("Sent", "Junk E-mail"); otherwise INBOX.
    let by_name = target
        .map
        .iter()
        .any(|(o, _)| o.eq_ignore_ascii_case(&name))
        || matches!(
            super::folders::map(&name, None, &[]),
            Some(super::folders::Target::Special(_))
        );
    let folder = match target.folder(if by_name { &name } else { "INBOX" }, None)? {
        Some(f) => f,
        None => return Ok(()),
    };
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    target.progress.add_total(0, total);
    let mut splitter = Splitter::new();
    let mut state = Messages {
        folder,
        path,
        current: None,
        error: None,
        count: 0,
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        splitter.feed(&buf[..n], &mut |ev| state.event(ev, target));
        if let Some(e) = state.error.take() {
            return Err(e);
        }
    }
    splitter.finish(&mut |ev| state.event(ev, target));
    if let Some(e) = state.error.take() {
        return Err(e);
    }
    let count = state.count;
    if count == 0 && splitter.had_junk() {
        return Err(format!(
            "{}: not an mbox file (no \"From \" line starts it)",
            path.display()
        ));
    }
    Ok(())
}

/// The messages of one mbox file being stored.
struct Messages<'p> {
    folder: String,
    path: &'p Path,
    current: Option<(super::Incoming, i64)>,
    /// The first error: nothing more is done after it.
    error: Option<String>,
    count: u64,
}

impl Messages<'_> {
    fn event(&mut self, ev: Event<'_>, target: &mut Target<'_>) {
        if self.error.is_some() {
            return;
        }
        let r = match ev {
            Event::Begin(date) => {
                self.count += 1;
                target.begin().map(|m| self.current = Some((m, date)))
            }
            Event::Data(d) => match self.current.as_mut() {
                Some((m, _)) => m.write(d).map_err(|e| e.to_string()),
                None => Ok(()),
            },
            Event::End => match self.current.take() {
                Some((m, date)) => {
                    let label = format!("{} message {}", self.path.display(), self.count);
                    match mbox_flags(&|n| m.field(n)) {
                        Some((bits, kw)) => target.commit(&self.folder, m, bits, kw, date, &label),
                        // Deleted in Thunderbird, not compacted away.
                        None => {
                            target.skipped(0);
                            Ok(())
                        }
                    }
                }
                None => Ok(()),
            },
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages of an mbox fed as given: (date, text) each.
    fn split(parts: &[&[u8]]) -> Vec<(i64, String)> {
        let mut s = Splitter::new();
        let mut out: Vec<(i64, String)> = Vec::new();
        let mut ev = |e: Event<'_>| match e {
            Event::Begin(d) => out.push((d, String::new())),
            Event::Data(b) => out
                .last_mut()
                .unwrap()
                .1
                .push_str(&String::from_utf8_lossy(b)),
            Event::End => {}
        };
        for p in parts {
            s.feed(p, &mut ev);
        }
        s.finish(&mut ev);
        out
    }

    fn whole_and_split_everywhere(input: &[u8]) -> Vec<(i64, String)> {
        let whole = split(&[input]);
        for i in 0..input.len() {
            assert_eq!(split(&[&input[..i], &input[i..]]), whole, "split at {i}");
        }
        whole
    }

    const T0: i64 = 1_704_103_200; // 2024-01-01 10:00:00 UTC

    #[test]
    fn thunderbird_mboxo_with_quoted_from_lines() {
        let mbox = b"From - Mon Jan  1 10:00:00 2024\nX-Mozilla-Status: 0001\nSubject: a\n\n\
                     >From here\nbody\n\nFrom - Mon Jan  1 10:00:01 2024\nSubject: b\n\nsecond";
        let msgs = whole_and_split_everywhere(mbox);
        assert_eq!(
            msgs,
            vec![
                (
                    T0,
                    "X-Mozilla-Status: 0001\nSubject: a\n\nFrom here\nbody\n".to_string()
                ),
                (T0 + 1, "Subject: b\n\nsecond\n".to_string()),
            ]
        );
    }

    #[test]
    fn mboxrd_quoting_loses_one_level_and_unquoted_from_without_date_stays() {
        let mbox =
            b"From a@b Mon Jan  1 10:00:00 2024\n\n>>From x\n>From y\n\nFrom the start\nend\n";
        let msgs = whole_and_split_everywhere(mbox);
        assert_eq!(
            msgs,
            vec![(T0, "\n>From x\nFrom y\n\nFrom the start\nend\n".to_string())]
        );
    }

    #[test]
    fn cr_only_and_crlf_files_split_the_same() {
        let lf = b"From a Mon Jan  1 10:00:00 2024\nS: 1\n\nx\n\nFrom a Mon Jan  1 10:00:00 2024\nS: 2\n\ny\n";
        let cr: Vec<u8> = lf
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        let crlf: Vec<u8> = lf
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect();
        let want = whole_and_split_everywhere(lf);
        assert_eq!(want.len(), 2);
        assert_eq!(whole_and_split_everywhere(&cr), want);
        assert_eq!(whole_and_split_everywhere(&crlf), want);
    }

    #[test]
    fn long_lines_pass_through_without_being_held() {
        let long = "x".repeat(5000);
        let mbox = format!("From a Mon Jan  1 10:00:00 2024\n\n{long}\nend");
        let msgs = split(&[mbox.as_bytes()]);
        assert_eq!(msgs, vec![(T0, format!("\n{long}\nend\n"))]);
    }

    #[test]
    fn from_line_dates() {
        assert_eq!(from_line(b"From - Mon Jan  1 10:00:00 2024"), Some(T0));
        assert_eq!(
            from_line(b"From MAILER-DAEMON Mon Jan 1 12:00:00 2024 +0200"),
            Some(T0)
        );
        assert_eq!(from_line(b"From here to there"), None);
        assert_eq!(from_line(b"From: a@b"), None);
    }

    #[test]
    fn flags_from_thunderbird_and_mutt_fields() {
        let f = |fields: &'static [(&'static str, &'static str)]| {
            mbox_flags(&|n: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.as_bytes().to_vec())
            })
        };
        assert_eq!(
            f(&[
                ("X-Mozilla-Status", "1005"),
                ("X-Mozilla-Keys", "$label1 todo")
            ]),
            Some((
                flags::SEEN | flags::FLAGGED,
                vec!["$Forwarded".into(), "$label1".into(), "todo".into()]
            ))
        );
        assert_eq!(f(&[("X-Mozilla-Status", "0009")]), None);
        assert_eq!(
            f(&[("Status", "RO"), ("X-Status", "AF")]),
            Some((flags::SEEN | flags::ANSWERED | flags::FLAGGED, vec![]))
        );
    }
}
