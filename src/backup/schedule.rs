//! Scheduled backups (`backup.dir`, `backup.every`, `backup.keep`): a
//! snapshot each period, its result in the log.

use super::{last_backup, snapshot};
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The schedule from the config.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Where snapshots go.
    pub dir: PathBuf,
    /// Time between two snapshots.
    pub every: Duration,
    /// Snapshots kept.
    pub keep: usize,
}

/// How long to wait before the next snapshot, given when the last one was
/// made: a missed period runs at once.
pub fn wait(every: Duration, last: Option<SystemTime>, now: SystemTime) -> Duration {
    match last.and_then(|t| now.duration_since(t).ok()) {
        Some(age) => every.saturating_sub(age),
        None if last.is_some() => every,
        None => Duration::ZERO,
    }
}

/// Whether the last good backup is older than two periods (or there is
/// none): the dashboard's and the log's warning.
pub fn overdue(every: Duration, last: Option<SystemTime>, now: SystemTime) -> bool {
    match last {
        None => true,
        Some(t) => now.duration_since(t).unwrap_or_default() > every.saturating_mul(2),
    }
}

/// Shortest period honoured: a smaller `backup.every` would copy the
/// index again and again.
const MIN_PERIOD: Duration = Duration::from_secs(60);

/// Runs the schedule until the process ends.
pub async fn run(store: Arc<Store>, mut s: Schedule) {
    s.every = s.every.max(MIN_PERIOD);
    log::info!(
        "backups to {} every {}s, the newest {} kept",
        s.dir.display(),
        s.every.as_secs(),
        s.keep
    );
    loop {
        smol::Timer::after(wait(s.every, last_backup(&s.dir), SystemTime::now())).await;
        let (st, dir, keep) = (store.clone(), s.dir.clone(), s.keep);
        match smol::unblock(move || snapshot(&st, &dir, keep, false)).await {
            Ok(r) => log::info!("scheduled {}", r.line()),
            Err(e) => {
                log::error!("scheduled backup to {} failed: {e}", s.dir.display());
                if overdue(s.every, last_backup(&s.dir), SystemTime::now()) {
                    log::warn!(
                        "the last good backup in {} is older than two periods",
                        s.dir.display()
                    );
                }
                // Not at once again: a full or absent disk stays so a while.
                smol::Timer::after(s.every.min(Duration::from_secs(3600))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_rest_of_the_period() {
        let day = Duration::from_secs(86_400);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(wait(day, None, now), Duration::ZERO);
        let hour_ago = now - Duration::from_secs(3600);
        assert_eq!(
            wait(day, Some(hour_ago), now),
            day - Duration::from_secs(3600)
        );
        assert_eq!(wait(day, Some(now - 2 * day), now), Duration::ZERO);
        assert_eq!(wait(day, Some(now + day), now), day, "a clock set back");
    }

    #[test]
    fn overdue_after_two_periods() {
        let day = Duration::from_secs(86_400);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert!(overdue(day, None, now));
        assert!(!overdue(day, Some(now - day), now));
        assert!(!overdue(day, Some(now - 2 * day), now));
        assert!(overdue(
            day,
            Some(now - 2 * day - Duration::from_secs(1)),
            now
        ));
    }
}
