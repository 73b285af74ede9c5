//! Sequence sets (RFC 9051 §9 `sequence-set`, RFC 5182 `$`): parsing,
//! membership and the compact form servers write (VANISHED, ESEARCH,
//! COPYUID).

use std::fmt;

use super::parse::{bad, Cursor, PResult};

/// One end of a range: a number or `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A non-zero message number or UID.
    Value(u32),
    /// `*`
    Star,
}

impl SeqNum {
    /// The number, with `*` standing for `largest`.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(n) => n,
            SeqNum::Star => largest,
        }
    }
}

/// A sequence set as sent: ranges in client order (a range may be written
/// high to low, RFC 9051 §9 `seq-range`), or `$` for the saved search
/// result (RFC 5182 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    /// `$`: the result saved by `SEARCH RETURN (SAVE)`.
    Saved,
    /// Ranges; a single number is a range with equal ends.
    Ranges(Vec<(SeqNum, SeqNum)>),
}

impl SequenceSet {
    /// Whether `n` is in the set, `*` meaning `largest`. Always false for
    /// `$`, which the session resolves itself.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        match self {
            SequenceSet::Saved => false,
            SequenceSet::Ranges(ranges) => ranges.iter().any(|&(a, b)| {
                let (a, b) = (a.resolve(largest), b.resolve(largest));
                a.min(b) <= n && n <= a.max(b)
            }),
        }
    }

    /// The ranges as ordered `(low, high)` pairs, `*` meaning `largest`.
    /// Empty for `$`.
    pub fn bounds(&self, largest: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let ranges: &[(SeqNum, SeqNum)] = match self {
            SequenceSet::Saved => &[],
            SequenceSet::Ranges(r) => r,
        };
        ranges.iter().map(move |&(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            (a.min(b), a.max(b))
        })
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNum::Value(n) => write!(f, "{n}"),
            SeqNum::Star => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceSet::Saved => f.write_str("$"),
            SequenceSet::Ranges(ranges) => {
                for (i, (a, b)) in ranges.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if a == b {
                        write!(f, "{a}")?;
                    } else {
                        write!(f, "{a}:{b}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Writes numbers as a compact sequence set: runs of consecutive numbers
/// become `a:b` (`1,2,3,5` gives `1:3,5`). Numbers should come in
/// ascending order; unordered input still gives a correct, longer set.
/// An empty input gives an empty string (callers omit the item then).
pub fn compact(numbers: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |out: &mut String, (a, b): (u32, u32)| {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out.push_str(&a.to_string());
        } else {
            out.push_str(&format!("{a}:{b}"));
        }
    };
    for n in numbers {
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
            Some(r) => {
                flush(&mut out, r);
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

/// Parses `sequence-set` (RFC 9051 §9), with `$` when `allow_saved`
/// (RFC 5182 §3: `$` stands alone). Each range is charged to the
/// command's cost budget.
pub(crate) fn parse(c: &mut Cursor<'_>, allow_saved: bool) -> PResult<SequenceSet> {
    if c.eat(b'$') {
        if !allow_saved {
            return Err(bad("$ is not allowed here"));
        }
        return Ok(SequenceSet::Saved);
    }
    let mut ranges = Vec::new();
    loop {
        c.charge(1)?;
        let a = seq_number(c)?;
        let b = if c.eat(b':') { seq_number(c)? } else { a };
        ranges.push((a, b));
        if !c.eat(b',') {
            break;
        }
    }
    Ok(SequenceSet::Ranges(ranges))
}

/// `seq-number = nz-number / "*"`.
fn seq_number(c: &mut Cursor<'_>) -> PResult<SeqNum> {
    if c.eat(b'*') {
        return Ok(SeqNum::Star);
    }
    match c.peek() {
        Some(b'0'..=b'9') => c.nz_number().map(SeqNum::Value),
        _ => Err(bad("invalid sequence set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PResult<SequenceSet> {
        let mut c = Cursor::new(s.as_bytes());
        let set = parse(&mut c, true)?;
        c.end()?;
        Ok(set)
    }

    #[test]
    fn parses_ranges_star_and_saved() {
        use SeqNum::*;
        assert_eq!(
            p("1:3,5,7:*,*:4").ok(),
            Some(SequenceSet::Ranges(vec![
                (Value(1), Value(3)),
                (Value(5), Value(5)),
                (Value(7), Star),
                (Star, Value(4)),
            ]))
        );
        assert_eq!(p("$").ok(), Some(SequenceSet::Saved));
        for bad in [
            "0",
            "1:0",
            "",
            ",1",
            "1,",
            "1:",
            "a",
            "4294967296",
            "$,1",
            "1:$",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn membership_resolves_star_and_reversed_ranges() {
        let set = p("2:4,9:*").ok().unwrap_or(SequenceSet::Saved);
        assert!(set.contains(3, 10));
        assert!(!set.contains(5, 10));
        assert!(set.contains(10, 10));
        let rev = p("*:8").ok().unwrap_or(SequenceSet::Saved);
        assert!(rev.contains(9, 12) && !rev.contains(7, 12));
        assert_eq!(rev.bounds(12).collect::<Vec<_>>(), vec![(8, 12)]);
        assert!(!SequenceSet::Saved.contains(1, 1));
    }

    #[test]
    fn display_round_trips() {
        for s in ["1:3,5,7:*", "$", "*", "4:2"] {
            assert_eq!(p(s).map(|x| x.to_string()).ok().as_deref(), Some(s));
        }
    }

    #[test]
    fn compact_merges_runs() {
        assert_eq!(compact([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(compact([]), "");
        assert_eq!(compact([4]), "4");
        assert_eq!(compact([5, 1, 2]), "5,1:2");
        assert_eq!(compact([u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }
}
