//! The `\Recent` state of IMAP4rev1 (RFC 3501 §2.3.2): one number per
//! mailbox, the first UID that no session has had as recent yet (as
//! Dovecot keeps it). Messages from that UID on are recent for the next
//! session that selects the mailbox read-write, which takes them by moving
//! the number past them; delivery, APPEND, COPY and MOVE need do nothing,
//! since new messages get UIDs above it.
//!
//! The numbers live in the `recent` tree (mailbox id → UID, 4 bytes each),
//! apart from the mailbox records so that those keep their format. They
//! are not flushed on their own: after a crash a message may be recent
//! once more, which loses nothing.

use super::{message_key, Store, StoreError};

impl Store {
    /// The first UID of mailbox `mailbox` that is still recent (1 when no
    /// session has taken any).
    pub fn first_recent(&self, mailbox: u64) -> Result<u32, StoreError> {
        Ok(self
            .recent
            .get(mailbox.to_be_bytes())?
            .as_deref()
            .and_then(uid_of)
            .unwrap_or(1))
    }

    /// Takes the recent messages of mailbox `mailbox` below UID `upto` for
    /// the calling session: moves the first recent UID up to `upto`, in one
    /// atomic step, and returns where it was. The session's recent
    /// messages are those from the returned UID up to `upto` (none when it
    /// is not below `upto`: another session took them).
    pub fn take_recent(&self, mailbox: u64, upto: u32) -> Result<u32, StoreError> {
        let old = self.recent.fetch_and_update(mailbox.to_be_bytes(), |v| {
            let first = v.and_then(uid_of).unwrap_or(1);
            Some(first.max(upto).to_be_bytes().to_vec())
        })?;
        Ok(old.as_deref().and_then(uid_of).unwrap_or(1))
    }

    /// How many messages of mailbox `mailbox` are recent for the next
    /// session (STATUS RECENT, RFC 3501 §6.3.10): a walk over the keys of
    /// the messages from the first recent UID, usually few.
    pub fn recent_count(&self, mailbox: u64) -> Result<u32, StoreError> {
        let from = message_key(mailbox, self.first_recent(mailbox)?);
        let to = message_key(mailbox, u32::MAX);
        let mut n = 0u32;
        for k in self.messages.range(from..=to).keys() {
            k?;
            n = n.saturating_add(1);
        }
        Ok(n)
    }

    /// Forgets the recent state of a deleted mailbox.
    pub(super) fn forget_recent(&self, mailbox: u64) -> Result<(), StoreError> {
        self.recent.remove(mailbox.to_be_bytes())?;
        Ok(())
    }
}

fn uid_of(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}
