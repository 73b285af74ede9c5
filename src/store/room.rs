//! The disk reserve: new mail is refused while the file system that holds
//! the store has less free space than `store.min_free`, as Postfix's
//! `queue_minfree` does. The reserve keeps room for what must still be
//! written when the disk is nearly full: the index (sled cannot recover
//! from a failed write without a restart), flag changes, expunges and
//! deletions that let users make room, and delivery reports.

use super::{Store, StoreError};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one look at the free space is reused: a mail command costs no
/// system call, and freed space is seen within this time.
const ROOM_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The smallest default reserve (the default is 2% of the file system, and
/// at least this).
pub const MIN_FREE_FLOOR: u64 = 64 << 20;

/// The free-space check of one store.
#[derive(Debug)]
pub(super) struct Room {
    /// A directory on the store's file system.
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The configured reserve in bytes; `None`: the default rule.
    min_free: Option<u64>,
    /// The last look: when, and the space then.
    last: Option<(Instant, Space)>,
}

/// Free space as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged process may still write.
    pub available: u64,
    /// Bytes that must stay free.
    pub reserve: u64,
}

impl Space {
    /// Whether new mail may be accepted.
    pub fn has_room(&self) -> bool {
        self.available >= self.reserve
    }
}

impl Room {
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub(super) fn new(dir: PathBuf) -> Room {
        Room {
            dir,
            state: Mutex::new(State::default()),
        }
    }

    fn set_min_free(&self, bytes: Option<u64>) {
        let mut state = self.lock();
        state.min_free = bytes;
        state.last = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain data: usable even after a panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The free space, looked at again when the last look is older than
    /// [`ROOM_CHECK_EVERY`]. `None` when the file system cannot be asked.
    fn space(&self, now: Instant) -> Option<Space> {
        let mut state = self.lock();
        if let Some((at, space)) = state.last {
            if now.saturating_duration_since(at) < ROOM_CHECK_EVERY {
                return Some(space);
            }
        }
        let st = match rustix::fs::statvfs(&self.dir) {
            Ok(st) => st,
            Err(e) => {
                log::warn!("cannot read the free space of {}: {e}", self.dir.display());
                return None;
            }
        };
        let block = st.f_frsize.max(1);
        let total = st.f_blocks.saturating_mul(block);
        let space = Space {
            available: st.f_bavail.saturating_mul(block),
            reserve: reserve(state.min_free, total),
        };
        state.last = Some((now, space));
        Some(space)
    }
}

/// The reserve for a file system of `total` bytes.
fn reserve(min_free: Option<u64>, total: u64) -> u64 {
    min_free.unwrap_or((total / 50).max(MIN_FREE_FLOOR))
}

impl Store {
    /// Sets the reserve (`store.min_free`): `None` is the default, 2% of
    /// the file system or [`MIN_FREE_FLOOR`], whichever is larger.
    pub fn set_min_free(&self, bytes: Option<u64>) {
        self.room.set_min_free(bytes);
    }

    /// The free space of the store's file system and the reserve, as last
    /// seen (at most a second old); `None` when it cannot be read.
    pub fn space(&self) -> Option<Space> {
        self.room.space(Instant::now())
    }

    /// Whether there is room for new mail: fails with
    /// [`StoreError::InsufficientStorage`] while the store's file system
    /// has less free space than the reserve. Cheap: the free space is
    /// read at most once a second.
    ///
    /// Call it before accepting new mail from outside (SMTP MAIL FROM and
    /// end of data, IMAP APPEND). [`Store::append`] checks it itself;
    /// [`Store::deliver`] does not, so that delivery reports about mail
    /// already accepted can still be written into the reserve. Reading,
    /// flag changes, COPY, MOVE, expunge and deletion never check it: they
    /// are how users make room.
    ///
    /// When the free space cannot be read, mail is accepted (and a write
    /// that then fails is reported as such).
    pub fn check_room(&self) -> Result<(), StoreError> {
        match self.space() {
            Some(s) if !s.has_room() => Err(StoreError::InsufficientStorage {
                available: s.available,
                reserve: s.reserve,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reserve_is_two_percent_or_64_mib() {
        assert_eq!(reserve(None, 1 << 30), MIN_FREE_FLOOR);
        assert_eq!(reserve(None, 100 << 30), 2 << 30);
        assert_eq!(reserve(Some(5), 100 << 30), 5);
        assert_eq!(reserve(Some(0), 1 << 30), 0);
    }

    #[test]
    fn space_is_read_again_only_after_a_second() {
        let dir = std::env::temp_dir();
        let room = Room::new(dir);
        room.set_min_free(Some(0));
        let t0 = Instant::now();
        let first = room.space(t0).expect("statvfs of the temp dir");
        assert!(first.has_room());
        // A changed setting is seen at once (the cache is dropped)...
        room.set_min_free(Some(u64::MAX));
        let s = room.space(t0).expect("statvfs");
        assert!(!s.has_room());
        // ...and otherwise the cached look is used within the second.
        room.lock().last = Some((t0, first));
        assert_eq!(room.space(t0 + Duration::from_millis(900)), Some(first));
        let later = room.space(t0 + ROOM_CHECK_EVERY).expect("statvfs");
        assert_eq!(later.reserve, u64::MAX);
    }
}
