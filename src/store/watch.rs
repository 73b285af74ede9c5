//! Change notification for sessions that have a mailbox selected (IMAP
//! IDLE, and the untagged updates sent between commands).
//!
//! Each watched mailbox has one signal: a version counter and an
//! `event_listener::Event`. Writers bump the counter and wake every
//! listener after their change is durable; a session compares the counter
//! with the last value it saw. Only mailboxes someone watches have a
//! signal (about 100 bytes each), and a [`MailboxWatch`] is a pointer and
//! two integers, so 200 idle sessions cost a few tens of KiB.

use event_listener::Event;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The signal of one mailbox.
#[derive(Default)]
struct Signal {
    version: AtomicU64,
    event: Event,
}

/// The signals of the watched mailboxes, by mailbox id.
#[derive(Default)]
pub(super) struct Watchers {
    map: Mutex<HashMap<u64, Arc<Signal>>>,
}

impl Watchers {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Signal>>> {
        // The map stays consistent whatever panicked while it was held.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many mailboxes have a signal.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Wakes the watchers of `mailbox`.
    pub(super) fn notify(&self, mailbox: u64) {
        let signal = self.lock().get(&mailbox).cloned();
        if let Some(s) = signal {
            s.version.fetch_add(1, Ordering::SeqCst);
            s.event.notify(usize::MAX);
        }
    }
}

/// A session's subscription to the changes of one mailbox. Get one from
/// [`super::Store::watch`] when the mailbox is selected; drop it when the
/// mailbox is closed.
///
/// Use: call [`MailboxWatch::mark_seen`], then read the changes
/// ([`super::Store::changes`]); later, [`MailboxWatch::changed`] returns
/// as soon as anything was written to the mailbox after that mark (at
/// once if something already was), so no change is missed between the
/// read and the wait.
pub struct MailboxWatch {
    mailbox: u64,
    seen: u64,
    signal: Arc<Signal>,
    owner: Arc<Watchers>,
}

impl std::fmt::Debug for MailboxWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxWatch")
            .field("mailbox", &self.mailbox)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl MailboxWatch {
    pub(super) fn new(owner: &Arc<Watchers>, mailbox: u64) -> MailboxWatch {
        let signal = owner.lock().entry(mailbox).or_default().clone();
        let seen = signal.version.load(Ordering::SeqCst);
        MailboxWatch {
            mailbox,
            seen,
            signal,
            owner: owner.clone(),
        }
    }

    /// The watched mailbox id.
    pub fn mailbox(&self) -> u64 {
        self.mailbox
    }

    /// How many writes to the mailbox were signalled since the last mark.
    #[cfg(test)]
    pub(super) fn writes(&self) -> u64 {
        self.signal.version.load(Ordering::SeqCst) - self.seen
    }

    /// Whether the mailbox was written to since the last mark.
    pub fn has_changed(&self) -> bool {
        self.signal.version.load(Ordering::SeqCst) != self.seen
    }

    /// Marks every change so far as seen; call it before reading the
    /// changes.
    pub fn mark_seen(&mut self) {
        self.seen = self.signal.version.load(Ordering::SeqCst);
    }

    /// Waits until the mailbox is written to after the last mark. Does not
    /// mark: call [`MailboxWatch::mark_seen`] before reading the changes.
    /// Cancel-safe (drop the future to stop waiting, e.g. on IDLE DONE).
    pub async fn changed(&self) {
        loop {
            if self.has_changed() {
                return;
            }
            let listener = self.signal.event.listen();
            // A notify between the check and `listen` would be lost:
            // check again now that the listener is registered.
            if self.has_changed() {
                return;
            }
            listener.await;
        }
    }
}

impl Drop for MailboxWatch {
    fn drop(&mut self) {
        let mut map = self.owner.lock();
        // The map holds one reference and this watch another: the last
        // watch removes the signal. New watches clone it under the same
        // lock, so the count cannot grow meanwhile.
        if Arc::strong_count(&self.signal) <= 2 {
            map.remove(&self.mailbox);
        }
    }
}
