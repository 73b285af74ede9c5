//! RFC 5322 date-times (§3.3) with the obsolete forms of §4.3, and the
//! comment stripper of §3.2.2 they need. Pure: no clock is read.

/// A date-time as written in a header field, in the field's own zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// The year, with two- and three-digit years read per §4.3.
    pub year: u32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to the length of the month.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 60 (a leap second); 0 when left out.
    pub second: u32,
    /// Seconds east of UTC; 0 when the zone is missing or unknown (read as
    /// "-0000": no information, §3.3).
    pub offset: i64,
}

impl DateTime {
    /// Reads an RFC 5322 §3.3 date-time, with the obsolete forms of §4.3:
    /// comments anywhere, no day of week, two- or three-digit years,
    /// alphabetic zones, and full month names as some mailers write them.
    /// The time must be there and valid; the zone may be left out. `None`
    /// when the value is not a date-time.
    pub fn parse(value: &[u8]) -> Option<DateTime> {
        let text = strip_comments(value);
        let mut tokens = text
            .split(|&b| b.is_ascii_whitespace() || b == b',')
            .filter(|t| !t.is_empty())
            .peekable();
        // [day-of-week ","], not checked against the date.
        if tokens.peek().is_some_and(|t| day_name(t)) {
            tokens.next();
        }
        let day = number(tokens.next()?, 1, 2)?;
        let month = month(tokens.next()?)?;
        let year_text = tokens.next()?;
        let year = number(year_text, 2, 4)?;
        // §4.3: 00-49 is 2000-2049, 50-99 and three digits add 1900.
        let year = match year_text.len() {
            2 if year < 50 => year + 2000,
            2 | 3 => year + 1900,
            _ => year,
        };
        let mut hms = tokens.next()?.split(|&b| b == b':');
        let hour = number(hms.next()?, 1, 2)?;
        let minute = number(hms.next()?, 2, 2)?;
        let second = match hms.next() {
            Some(s) => number(s, 2, 2)?,
            None => 0,
        };
        if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // §3.3 zone = ("+" / "-") 4DIGIT; §4.3 obsolete names.
        let offset = tokens.next().map_or(0, zone_offset);
        Some(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            offset,
        })
    }

    /// Unix seconds of this date-time (a leap second counts as the next
    /// second).
    pub fn unix(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + self.second) - self.offset
    }
}

/// The value with comments removed (RFC 5322 §3.2.2: nested, with quoted
/// pairs), each replaced by a space.
pub fn strip_comments(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut depth = 0usize;
    let mut escaped = false;
    for &b in v {
        if depth > 0 {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'(' {
                depth += 1;
            } else if b == b')' {
                depth -= 1;
                if depth == 0 {
                    out.push(b' ');
                }
            }
        } else if b == b'(' {
            depth = 1;
        } else {
            out.push(b);
        }
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil, the inverse of [`crate::time::civil`]).
pub fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// A day name: its three-letter form (§3.3) or a longer one that starts
/// with it.
fn day_name(t: &[u8]) -> bool {
    const DAYS: [&[u8]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];
    t.len() >= 3
        && t.iter().all(u8::is_ascii_alphabetic)
        && DAYS
            .iter()
            .any(|d| t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(d)))
}

/// A month name: the three-letter form of §3.3, or a longer start of the
/// English name ("Sept", "January") as some mailers write it.
fn month(t: &[u8]) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let t = std::str::from_utf8(t).ok()?.to_ascii_lowercase();
    if t.len() < 3 {
        return None;
    }
    let i = MONTHS.iter().position(|m| m.starts_with(t.as_str()))?;
    u32::try_from(i + 1).ok()
}

/// Seconds east of UTC of a zone: numeric (§3.3) or an obsolete name
/// (§4.3); 0 for any other.
fn zone_offset(t: &[u8]) -> i64 {
    match t {
        [sign @ (b'+' | b'-'), digits @ ..] if digits.len() == 4 => {
            let Some(n) = number(digits, 4, 4) else {
                return 0;
            };
            let secs = i64::from(n / 100 * 3600 + n % 100 * 60);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => match t.to_ascii_uppercase().as_slice() {
            b"EDT" => -4 * 3600,
            b"EST" | b"CDT" => -5 * 3600,
            b"CST" | b"MDT" => -6 * 3600,
            b"MST" | b"PDT" => -7 * 3600,
            b"PST" => -8 * 3600,
            _ => 0,
        },
    }
}

/// A number of `min` to `max` digits.
fn number(t: &[u8], min: usize, max: usize) -> Option<u32> {
    if t.len() < min || t.len() > max || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-28 22:00:00 UTC.
    const NOW: i64 = 1_795_903_200;

    fn unix(text: &str) -> Option<i64> {
        DateTime::parse(text.as_bytes()).map(|d| d.unix())
    }

    #[test]
    fn unix_times_with_zones() {
        assert_eq!(unix("Thu, 01 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(unix("Sat, 28 Nov 2026 22:00:00 +0000"), Some(NOW));
        assert_eq!(unix("Sat, 28 Nov 2026 23:00:00 +0100"), Some(NOW));
        assert_eq!(unix("28 Nov 2026 17:00:00 EST"), Some(NOW));
        assert_eq!(unix("28 Nov 2026 22:00 (no zone)"), Some(NOW));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            crate::time::civil(days_from_civil(2024, 2, 29)),
            (2024, 2, 29)
        );
    }

    #[test]
    fn dates_in_the_field_zone() {
        let d = |y, m, day| Some((y, m, day));
        for (text, want) in [
            ("Mon, 1 Jan 2024 23:30:00 -0500", d(2024, 1, 1)),
            ("1 Jan 2024 23:30 +0000", d(2024, 1, 1)),
            ("Mon,1 Jan 2024 10:00:00 GMT", d(2024, 1, 1)),
            (
                "  Tue (today), 02 (day) feb (month)\r\n 2021 10:00:00 EST",
                d(2021, 2, 2),
            ),
            ("Wed, 3 Mar 99 10:00:00 PST", d(1999, 3, 3)),
            ("Wed, 3 Mar 49 10:00:00 PST", d(2049, 3, 3)),
            ("Wed, 3 Mar 124 10:00:00 PST", d(2024, 3, 3)),
            ("29 February 2024 00:00:00 +0100", d(2024, 2, 29)),
            ("Thursday, 5 Sept 2024 00:00:00 +0100", d(2024, 9, 5)),
            ("Thu, 31 DEC 1998 23:59:60 +0000", d(1998, 12, 31)),
            ("Fri, 4 Apr 2025 1:02:03 (no zone)", d(2025, 4, 4)),
            ("(a (nested) comment) 5 May 2025 12:00 +0200", d(2025, 5, 5)),
            ("yesterday", None),
            ("", None),
            ("29 Feb 2000 00:00:00 +0000", d(2000, 2, 29)),
            ("29 Feb 1900 00:00:00 +0000", None),
            ("29 Feb 2023 00:00:00 +0000", None),
            ("31 Apr 2024 00:00:00 +0000", None),
            ("32 Nov 2026 10:00", None),
            ("1 Foo 2024 00:00:00 +0000", None),
            ("1 Janvier 2024 00:00:00 +0000", None),
            ("1 Ja 2024 00:00:00 +0000", None),
            ("1 Jan 2024", None),
            ("1 Jan 2024 25:00 +0000", None),
            ("1 Jan 2024 10:61 +0000", None),
            ("1 Jan 2024 10:00:00:00 +0000", None),
            ("100 Jan 2024 10:00 +0000", None),
            ("1 Jan 20245 10:00 +0000", None),
            ("1 Jan 7 10:00 +0000", None),
            ("2024-01-01T10:00:00Z", None),
            ("1 Jan 2024 (unclosed 10:00 +0000", None),
        ] {
            let got = DateTime::parse(text.as_bytes()).map(|d| (d.year, d.month, d.day));
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn comments_become_spaces() {
        assert_eq!(strip_comments(b"a (b) c"), b"a   c");
        assert_eq!(strip_comments(b"a(b(c)d)e"), b"a e");
        assert_eq!(strip_comments(b"a (b \\) c) d"), b"a   d");
        assert_eq!(strip_comments(b"a (unclosed"), b"a ");
    }
}
