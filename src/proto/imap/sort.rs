//! SORT (RFC 5256 §3) and SORT=DISPLAY (RFC 5957) keys: the base subject
//! (RFC 5256 §2.1), the sent date, and the compact per-message keys the
//! messages are ordered by. Pure: the session gives each message's cached
//! header fields and summary, and gets the order back.
//!
//! Strings compare by the `i;unicode-casemap` collation (RFC 5051) as
//! Dovecot approximates it: each character folded to lower case.

use crate::mail::address::Address;
use crate::mail::date::DateTime;
use crate::mail::header::decode_words;
use crate::mail::mime::search::fold;
use std::cmp::Ordering;

/// One sort criterion (RFC 5256 §3, RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Internal date and time.
    Arrival,
    /// addr-mailbox of the first Cc address.
    Cc,
    /// Sent date (internal date when there is none).
    Date,
    /// addr-mailbox of the first From address.
    From,
    /// RFC 822 size.
    Size,
    /// Base subject.
    Subject,
    /// addr-mailbox of the first To address.
    To,
    /// Display name of the first From address, else its addr-spec.
    DisplayFrom,
    /// Display name of the first To address, else its addr-spec.
    DisplayTo,
}

/// A criterion and whether it is REVERSEd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    /// The key.
    pub key: SortKey,
    /// `REVERSE` before it.
    pub reverse: bool,
}

/// The base subject of a Subject field value (RFC 5256 §2.1), folded for
/// comparison, and whether it was a reply or forward (RFC 5256 §2.1 step
/// 2 and 3, needed by THREAD=ORDEREDSUBJECT).
pub fn base_subject(raw: &[u8]) -> (String, bool) {
    // Step 1: decode encoded words, tabs and runs of spaces to one space.
    let decoded = decode_words(raw);
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if c == '\t' || c == '\r' || c == '\n' {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.extend(std::iter::once(fold(c)));
    }
    let mut reply = false;
    let mut s = s.as_str();
    loop {
        // Step 2: trailers "(fwd)" and white space.
        loop {
            let t = s.trim_end_matches(' ');
            match t.strip_suffix("(fwd)") {
                Some(rest) => {
                    s = rest;
                    reply = true;
                }
                None => {
                    s = t;
                    break;
                }
            }
        }
        // Steps 3 to 5: leaders and blobs, until nothing changes.
        loop {
            let before = s;
            s = s.trim_start_matches(' ');
            if let Some(rest) = strip_refwd(s) {
                s = rest;
                reply = true;
            }
            if let Some(rest) = strip_blob(s) {
                if !rest.is_empty() {
                    s = rest;
                }
            }
            if s == before {
                break;
            }
        }
        // Step 6: "[fwd:" subject "]".
        match s.strip_prefix("[fwd:").and_then(|r| r.strip_suffix(']')) {
            Some(inner) => {
                s = inner;
                reply = true;
            }
            None => break,
        }
    }
    (s.to_string(), reply)
}

/// `*subj-blob subj-refwd` at the start of `s` (RFC 5256 §5): what
/// follows it, or `None`.
fn strip_refwd(s: &str) -> Option<&str> {
    let mut s = s;
    while let Some(rest) = strip_blob(s) {
        s = rest;
    }
    let rest = s
        .strip_prefix("re")
        .or_else(|| s.strip_prefix("fwd"))
        .or_else(|| s.strip_prefix("fw"))?;
    let mut rest = rest.trim_start_matches(' ');
    if let Some(r) = strip_blob(rest) {
        rest = r;
    }
    rest.strip_prefix(':')
}

/// `subj-blob` (`"[" *BLOBCHAR "]" *WSP`) at the start of `s`.
fn strip_blob(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let close = inner.find([']', '['])?;
    let rest = inner.get(close..)?.strip_prefix(']')?;
    Some(rest.trim_start_matches(' '))
}

/// The sent date of a Date field value as Unix time (RFC 5256 §3 DATE):
/// `None` when absent or not a date, and the internal date is used.
pub fn sent_date(raw: Option<&[u8]>) -> Option<i64> {
    raw.and_then(DateTime::parse).map(|d| d.unix())
}

/// The keys of one message, computed once: what SORT compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// Internal date.
    pub arrival: i64,
    /// Sent date, or the internal date.
    pub date: i64,
    /// Size.
    pub size: u64,
    /// Folded base subject.
    pub subject: String,
    /// Folded addr-mailbox of the first From, To and Cc address.
    pub from: String,
    /// See `from`.
    pub to: String,
    /// See `from`.
    pub cc: String,
    /// Folded display name (else addr-spec) of the first From and To.
    pub display_from: String,
    /// See `display_from`.
    pub display_to: String,
}

/// What [`Keys::new`] reads of a message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw<'a> {
    /// Internal date.
    pub internal_date: i64,
    /// Size.
    pub size: u64,
    /// Field values, unfolded (first occurrence).
    pub subject: Option<&'a [u8]>,
    /// Date field.
    pub date: Option<&'a [u8]>,
    /// From field.
    pub from: Option<&'a [u8]>,
    /// To field.
    pub to: Option<&'a [u8]>,
    /// Cc field.
    pub cc: Option<&'a [u8]>,
}

impl Keys {
    /// The keys `wanted` of a message; the others stay empty, so a sort
    /// on one key holds one string per message.
    pub fn new(raw: &Raw<'_>, wanted: &[Criterion]) -> Keys {
        let mut k = Keys {
            arrival: raw.internal_date,
            date: raw.internal_date,
            size: raw.size,
            ..Keys::default()
        };
        for c in wanted {
            match c.key {
                SortKey::Date => k.date = sent_date(raw.date).unwrap_or(raw.internal_date),
                SortKey::Subject => {
                    k.subject = raw.subject.map(|s| base_subject(s).0).unwrap_or_default()
                }
                SortKey::From => k.from = mailbox(raw.from),
                SortKey::To => k.to = mailbox(raw.to),
                SortKey::Cc => k.cc = mailbox(raw.cc),
                SortKey::DisplayFrom => k.display_from = display(raw.from),
                SortKey::DisplayTo => k.display_to = display(raw.to),
                SortKey::Arrival | SortKey::Size => {}
            }
        }
        k
    }

    fn compare(&self, other: &Keys, key: SortKey) -> Ordering {
        match key {
            SortKey::Arrival => self.arrival.cmp(&other.arrival),
            SortKey::Date => self.date.cmp(&other.date),
            SortKey::Size => self.size.cmp(&other.size),
            SortKey::Subject => self.subject.cmp(&other.subject),
            SortKey::From => self.from.cmp(&other.from),
            SortKey::To => self.to.cmp(&other.to),
            SortKey::Cc => self.cc.cmp(&other.cc),
            SortKey::DisplayFrom => self.display_from.cmp(&other.display_from),
            SortKey::DisplayTo => self.display_to.cmp(&other.display_to),
        }
    }
}

/// Orders `(sequence number, keys)` by the criteria; ties keep sequence
/// order (RFC 5256 §3: "ordering by sequence number is used as the final
/// tie-breaker").
pub fn sort(msgs: &mut [(u32, Keys)], criteria: &[Criterion]) {
    msgs.sort_by(|(sa, a), (sb, b)| {
        for c in criteria {
            let o = a.compare(b, c.key);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        sa.cmp(sb)
    });
}

/// Folds a string for comparison.
fn folded(s: &str) -> String {
    s.chars().map(fold).collect()
}

/// A mailbox: display name, local part and domain.
type Mailbox = (Option<Vec<u8>>, Vec<u8>, Vec<u8>);

/// The first mailbox of an address list.
fn first(raw: Option<&[u8]>) -> Option<Mailbox> {
    crate::mail::address::parse_list(raw?)
        .into_iter()
        .find_map(|a| match a {
            Address::Mailbox {
                name,
                mailbox,
                host,
                ..
            } => Some((name, mailbox, host)),
            _ => None,
        })
}

/// The addr-mailbox (local part) of the first address (RFC 5256 §3).
fn mailbox(raw: Option<&[u8]>) -> String {
    first(raw).map_or_else(String::new, |(_, local, _)| {
        folded(&String::from_utf8_lossy(&local))
    })
}

/// The display name of the first address, encoded words decoded, else
/// its addr-spec (RFC 5957 §3).
fn display(raw: Option<&[u8]>) -> String {
    let Some((name, local, host)) = first(raw) else {
        return String::new();
    };
    let name = name.map(|n| decode_words(&n)).unwrap_or_default();
    if name.trim().is_empty() {
        let spec = format!(
            "{}@{}",
            String::from_utf8_lossy(&local),
            String::from_utf8_lossy(&host)
        );
        folded(&spec)
    } else {
        folded(name.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_of_rfc_5256_section_2_1() {
        let cases: [(&str, &str, bool); 12] = [
            ("Re: lunch", "lunch", true),
            ("RE: [list] Re: lunch", "lunch", true),
            ("Fwd: lunch (fwd)", "lunch", true),
            ("[fwd: Re: lunch]", "lunch", true),
            ("  lunch   plans ", "lunch plans", false),
            ("Re:\tRe[2]: lunch", "lunch", true),
            ("[list] lunch", "lunch", false),
            ("[list]", "[list]", false),
            ("=?utf-8?q?R=C3=A9sum=C3=A9?=", "résumé", false),
            ("Fw: =?utf-8?q?Caf=C3=A9?=", "café", true),
            ("", "", false),
            ("Re: ", "", true),
        ];
        for (raw, base, reply) in cases {
            assert_eq!(
                base_subject(raw.as_bytes()),
                (base.to_string(), reply),
                "{raw}"
            );
        }
    }

    fn keys(subject: &str, date: Option<&str>, from: &str, arrival: i64, size: u64) -> Keys {
        let raw = Raw {
            internal_date: arrival,
            size,
            subject: Some(subject.as_bytes()),
            date: date.map(str::as_bytes),
            from: Some(from.as_bytes()),
            to: None,
            cc: None,
        };
        let all = [
            SortKey::Subject,
            SortKey::Date,
            SortKey::From,
            SortKey::DisplayFrom,
        ]
        .map(|key| Criterion {
            key,
            reverse: false,
        });
        Keys::new(&raw, &all)
    }

    fn order(msgs: &[Keys], criteria: &[(SortKey, bool)]) -> Vec<u32> {
        let mut v: Vec<(u32, Keys)> = msgs
            .iter()
            .enumerate()
            .map(|(i, k)| (i as u32 + 1, k.clone()))
            .collect();
        let c: Vec<Criterion> = criteria
            .iter()
            .map(|&(key, reverse)| Criterion { key, reverse })
            .collect();
        sort(&mut v, &c);
        v.into_iter().map(|(s, _)| s).collect()
    }

    /// A generated mailbox: Re:/Fwd: subjects, encoded words, a missing
    /// date (sorted by its internal date, RFC 5256 §3).
    #[test]
    fn generated_mailbox_orders() {
        let msgs = [
            keys(
                "Re: beta",
                Some("Mon, 1 Jan 2024 12:00:00 +0000"),
                "Zed <a@x>",
                500,
                30,
            ),
            keys(
                "alpha",
                Some("Mon, 1 Jan 2024 10:00:00 +0200"),
                "b@x",
                400,
                10,
            ),
            keys(
                "Fwd: =?utf-8?q?Alpha?=",
                None,
                "=?utf-8?q?=C3=89mile?= <c@x>",
                1_704_096_000,
                20,
            ),
            keys("[list] Beta (fwd)", Some("bad date"), "Ann <d@x>", 100, 10),
        ];
        assert_eq!(order(&msgs, &[(SortKey::Subject, false)]), [2, 3, 1, 4]);
        // 2 is 08:00Z, 1 is 12:00Z, 3 has no date (internal 08:00Z), 4 a
        // bad one (internal 100). Ties go by sequence number, also under
        // REVERSE, which reverses the key only.
        assert_eq!(order(&msgs, &[(SortKey::Date, false)]), [4, 2, 3, 1]);
        assert_eq!(order(&msgs, &[(SortKey::Date, true)]), [1, 2, 3, 4]);
        assert_eq!(order(&msgs, &[(SortKey::From, false)]), [1, 2, 3, 4]);
        assert_eq!(order(&msgs, &[(SortKey::DisplayFrom, false)]), [4, 2, 1, 3]);
        assert_eq!(
            order(&msgs, &[(SortKey::Size, false), (SortKey::Subject, true)]),
            [4, 2, 3, 1]
        );
        assert_eq!(order(&msgs, &[(SortKey::Arrival, true)]), [3, 1, 2, 4]);
    }
}
