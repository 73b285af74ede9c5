//! The UIDs of a selected mailbox by sequence number, kept as runs of
//! consecutive UIDs.
//!
//! Every session with a mailbox selected holds this list, idle ones too. A
//! mailbox's UIDs are mostly runs (APPEND and delivery give the next UID;
//! only expunges leave gaps), so a run costs 8 bytes where a plain list
//! costs 4 bytes a message: 200 sessions on a 10,000-message mailbox held
//! 8 MiB as plain lists and a few KiB as runs. The worst case, every other
//! message expunged, is 4 bytes a message more than a plain list.
//!
//! Sequence numbers are positions (RFC 9051 §2.3.1.2: 1 for the first
//! message, ascending with the UIDs); here they are indexes from 0.

/// A run: the UID of its first message and that message's index. The run
/// goes on with consecutive UIDs up to the next run's index (or the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    uid: u32,
    index: u32,
}

/// Ascending UIDs by index, as runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct UidList {
    runs: Vec<Run>,
    len: u32,
}

impl UidList {
    /// An empty list.
    pub(super) fn new() -> UidList {
        UidList::default()
    }

    /// Number of messages.
    pub(super) fn len(&self) -> usize {
        self.len as usize
    }

    /// Length of run `r`.
    fn run_len(&self, r: usize) -> u32 {
        let start = self.runs.get(r).map_or(0, |x| x.index);
        let end = self.runs.get(r + 1).map_or(self.len, |x| x.index);
        end - start
    }

    /// Gives back spare capacity (after building the list).
    pub(super) fn shrink(&mut self) {
        self.runs.shrink_to_fit();
    }

    /// The highest UID.
    pub(super) fn last(&self) -> Option<u32> {
        let r = self.runs.len().checked_sub(1)?;
        let run = self.runs.get(r)?;
        Some(run.uid + (self.run_len(r) - 1))
    }

    /// Appends `uid` if it is above the last one (returns whether it was).
    pub(super) fn push(&mut self, uid: u32) -> bool {
        match self.last() {
            Some(l) if uid <= l => return false,
            Some(l) if l.checked_add(1) == Some(uid) => {}
            _ => {
                if self.runs.len() == self.runs.capacity() {
                    // Runs are few; grow by a quarter, not by doubling.
                    self.runs.reserve_exact((self.runs.len() / 4).max(1));
                }
                self.runs.push(Run {
                    uid,
                    index: self.len,
                });
            }
        }
        self.len += 1;
        true
    }

    /// The UID at `index`.
    pub(super) fn get(&self, index: usize) -> Option<u32> {
        let i = u32::try_from(index).ok().filter(|&i| i < self.len)?;
        let r = self.runs.partition_point(|x| x.index <= i).checked_sub(1)?;
        let run = self.runs.get(r)?;
        Some(run.uid + (i - run.index))
    }

    /// Like `slice::binary_search`: `Ok(index)` of `uid`, or `Err(index)`
    /// where it would go.
    pub(super) fn position(&self, uid: u32) -> Result<usize, usize> {
        let r = self.runs.partition_point(|x| x.uid <= uid);
        let Some(r) = r.checked_sub(1) else {
            return Err(0);
        };
        let Some(run) = self.runs.get(r) else {
            return Err(0);
        };
        let off = uid - run.uid;
        let n = self.run_len(r);
        if off < n {
            Ok((run.index + off) as usize)
        } else {
            Err((run.index + n) as usize)
        }
    }

    /// How many UIDs are below `uid`.
    pub(super) fn count_below(&self, uid: u32) -> usize {
        match self.position(uid) {
            Ok(i) | Err(i) => i,
        }
    }

    /// How many UIDs are at most `uid`.
    pub(super) fn count_upto(&self, uid: u32) -> usize {
        match uid.checked_add(1) {
            Some(u) => self.count_below(u),
            None => self.len(),
        }
    }

    /// The UIDs from index `a` to `b` (excluded), ascending.
    pub(super) fn range(&self, a: usize, b: usize) -> impl Iterator<Item = u32> + '_ {
        (a..b.min(self.len())).filter_map(|i| self.get(i))
    }

    /// All UIDs, ascending.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.runs.len()).flat_map(move |r| {
            let uid = self.runs.get(r).map_or(0, |x| x.uid);
            (0..self.run_len(r)).map(move |k| uid + k)
        })
    }

    /// Removes the UIDs of `gone` (ascending; UIDs not in the list are
    /// ignored). The cost follows the number of runs and of `gone`, not of
    /// messages.
    pub(super) fn remove(&mut self, gone: &[u32]) {
        let mut out: Vec<Run> = Vec::with_capacity(self.runs.len() + gone.len().min(16));
        let mut len = 0u32;
        let mut g = gone.iter().map(|&u| u64::from(u)).peekable();
        // In u64: a run may end at UID 2^32 - 1.
        let mut piece = |out: &mut Vec<Run>, from: u64, to: u64| {
            if let (Ok(uid), Ok(n)) = (u32::try_from(from), u32::try_from(to - from)) {
                if n > 0 {
                    out.push(Run { uid, index: len });
                    len += n;
                }
            }
        };
        for r in 0..self.runs.len() {
            let Some(run) = self.runs.get(r).copied() else {
                break;
            };
            // The run's UIDs are [from, end); keep the pieces between
            // removed UIDs.
            let mut from = u64::from(run.uid);
            let end = from + u64::from(self.run_len(r));
            while let Some(&u) = g.peek() {
                if u >= end {
                    break;
                }
                g.next();
                if u >= from {
                    piece(&mut out, from, u);
                    from = u + 1;
                }
            }
            piece(&mut out, from, end);
        }
        out.shrink_to_fit();
        self.runs = out;
        self.len = len;
    }
}

impl FromIterator<u32> for UidList {
    /// Builds the list from ascending UIDs (others are skipped).
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> UidList {
        let mut l = UidList::new();
        for u in iter {
            l.push(u);
        }
        l.runs.shrink_to_fit();
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(uids: &[u32]) -> UidList {
        uids.iter().copied().collect()
    }

    /// Checks every query against a plain vector.
    fn check(l: &UidList, v: &[u32]) {
        assert_eq!(l.len(), v.len());
        assert_eq!(l.last(), v.last().copied());
        assert_eq!(l.iter().collect::<Vec<_>>(), v);
        for (i, &u) in v.iter().enumerate() {
            assert_eq!(l.get(i), Some(u));
        }
        assert_eq!(l.get(v.len()), None);
        let top = v.last().copied().unwrap_or(0) + 3;
        for u in 0..top {
            assert_eq!(l.position(u), v.binary_search(&u), "position of {u}");
            assert_eq!(l.count_below(u), v.partition_point(|&x| x < u));
            assert_eq!(l.count_upto(u), v.partition_point(|&x| x <= u));
        }
        assert_eq!(l.count_upto(u32::MAX), v.len());
        for a in 0..=v.len() {
            for b in a..=v.len() + 1 {
                let want: Vec<u32> = v.get(a..b.min(v.len())).unwrap_or_default().to_vec();
                assert_eq!(l.range(a, b).collect::<Vec<_>>(), want);
            }
        }
    }

    #[test]
    fn runs_answer_like_a_vector() {
        for v in [
            vec![],
            vec![1],
            vec![1, 2, 3],
            vec![5, 6, 7, 10, 11, 20],
            vec![2, 4, 6, 8],
            vec![1, 2, 3, 4, 100, 101, 102, 200],
        ] {
            check(&list(&v), &v);
        }
    }

    #[test]
    fn consecutive_uids_take_one_run() {
        let l: UidList = (1..=10_000).collect();
        assert_eq!(l.runs.len(), 1);
        assert_eq!(l.len(), 10_000);
        assert_eq!(l.get(9_999), Some(10_000));
        assert_eq!(l.position(5_000), Ok(4_999));
    }

    #[test]
    fn push_extends_or_starts_runs_and_ignores_lower_uids() {
        let mut l = UidList::new();
        assert!(l.push(3));
        assert!(l.push(4));
        assert!(!l.push(4));
        assert!(!l.push(1));
        assert!(l.push(9));
        assert_eq!(l.runs.len(), 2);
        check(&l, &[3, 4, 9]);
        assert!(l.push(u32::MAX));
        assert_eq!(l.last(), Some(u32::MAX));
        assert_eq!(l.position(u32::MAX), Ok(3));
        assert_eq!(l.count_upto(u32::MAX), 4);
        l.remove(&[4, u32::MAX]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [3, 9]);
    }

    #[test]
    fn remove_splits_and_drops_runs() {
        let v: Vec<u32> = vec![1, 2, 3, 4, 5, 8, 9, 10, 20];
        for gone in [
            vec![],
            vec![1],
            vec![5],
            vec![3],
            vec![1, 2, 3, 4, 5],
            vec![2, 4, 9, 20],
            vec![6, 7, 11, 30],
            v.clone(),
            vec![0, 1, 10, 21],
        ] {
            let mut l = list(&v);
            l.remove(&gone);
            let want: Vec<u32> = v.iter().copied().filter(|u| !gone.contains(u)).collect();
            check(&l, &want);
            // The list still grows after a removal.
            let next = want.last().copied().unwrap_or(0) + 1;
            l.push(next);
            let mut w = want.clone();
            w.push(next);
            check(&l, &w);
        }
    }

    #[test]
    fn remove_from_a_long_run_in_many_places() {
        let mut v: Vec<u32> = (1..=500).collect();
        let mut l: UidList = v.iter().copied().collect();
        let gone: Vec<u32> = (1..=500).filter(|u| u % 7 == 0 || u % 11 == 3).collect();
        l.remove(&gone);
        v.retain(|u| !gone.contains(u));
        check(&l, &v);
    }
}
