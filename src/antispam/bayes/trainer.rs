//! The background trainer: IMAP tells it which messages users filed into
//! or out of Junk ([`JunkTraining`]); one thread streams each body through
//! the MIME parser and the tokeniser and trains the filter, off the
//! session's thread. The queue is bounded: when full, training requests
//! are dropped with a log line (training is best effort).

use super::{tokenise_unparsed, Bayes};
use crate::proto::imap::session::JunkTraining;
use crate::store::{BlobId, Store};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Training requests waiting at most (each ~100 bytes).
pub const QUEUE: usize = 256;

struct Job {
    account: String,
    blob: BlobId,
    spam: bool,
}

/// A [`JunkTraining`] that trains a [`Bayes`] filter in the background.
pub struct Trainer {
    tx: SyncSender<Job>,
}

impl Trainer {
    /// Starts the training thread. It ends when the trainer is dropped.
    pub fn spawn(store: Arc<Store>, bayes: Arc<Bayes>) -> std::io::Result<Trainer> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("bayes-trainer".into())
            .spawn(move || {
                for job in rx {
                    train_one(&store, &bayes, &job);
                }
            })?;
        Ok(Trainer { tx })
    }
}

fn train_one(store: &Store, bayes: &Bayes, job: &Job) {
    let class = if job.spam { "spam" } else { "ham" };
    let file = match store.open_blob(&job.blob) {
        Ok(f) => f,
        Err(e) => {
            log::warn!(
                "bayes: cannot train {} for {}: {e}",
                job.blob.hex(),
                job.account
            );
            return;
        }
    };
    let tokens = match tokenise_unparsed(std::io::BufReader::new(file)) {
        Ok((t, _)) => t,
        Err(e) => {
            log::warn!("bayes: cannot read {}: {e}", job.blob.hex());
            return;
        }
    };
    let now = u64::try_from(crate::time::unix_now()).unwrap_or(0);
    match bayes.train(&job.account, &job.blob.0, &tokens, job.spam, now) {
        Ok(r) => log::debug!(
            "bayes: {} trained as {class} for {}: {r:?}",
            job.blob.hex(),
            job.account
        ),
        Err(e) => log::warn!("bayes: training {} failed: {e}", job.blob.hex()),
    }
}

impl JunkTraining for Trainer {
    fn trained(&self, account: &str, blob: BlobId, spam: bool) {
        let job = Job {
            account: account.to_string(),
            blob,
            spam,
        };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(j)) => log::warn!(
                "bayes: training queue full, not training {} for {}",
                j.blob.hex(),
                j.account
            ),
            Err(TrySendError::Disconnected(j)) => {
                log::warn!("bayes: trainer stopped, not training {}", j.blob.hex())
            }
        }
    }
}

/// The IMAP Junk training for the configuration: a background [`Trainer`]
/// when `antispam.bayes` is on, else [`NoTraining`]. A filter that cannot
/// start is logged and leaves training off.
///
/// [`NoTraining`]: crate::proto::imap::session::NoTraining
pub fn junk_training(config: &crate::config::Config, store: &Arc<Store>) -> Arc<dyn JunkTraining> {
    use crate::proto::imap::session::NoTraining;
    if !(config.antispam.enabled && config.antispam.bayes) {
        return Arc::new(NoTraining);
    }
    let settings = super::Settings::from_config(&config.antispam);
    match Bayes::open(store, settings)
        .map_err(|e| e.to_string())
        .and_then(|b| Trainer::spawn(store.clone(), Arc::new(b)).map_err(|e| e.to_string()))
    {
        Ok(t) => Arc::new(t),
        Err(e) => {
            log::error!("bayes: training off: {e}");
            Arc::new(NoTraining)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Delivery;
    use std::time::{Duration, Instant};

    fn wait_for(bayes: &Bayes, user: &str, want: (u32, u32)) {
        let start = Instant::now();
        loop {
            let s = bayes.stats(user).unwrap();
            if (s.spam, s.ham) == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "stats {s:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn trains_stored_bodies_in_the_background() {
        let dir =
            std::env::temp_dir().join(format!("facteur-bayes-trainer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir, 1 << 20).unwrap());
        store.add_domain("example.test").unwrap();
        store.add_account("alice@example.test", "hash").unwrap();
        let mut w = store.blob_writer().unwrap();
        w.write(b"Subject: cheap pills\r\n\r\nBuy cheap pills online now\r\n")
            .unwrap();
        let blob = w.finish().unwrap();
        let id = blob.id;
        let delivery = Delivery {
            account: "alice@example.test".into(),
            mailbox: "INBOX".into(),
            prefix: Vec::new(),
            flags: 0,
            keywords: Vec::new(),
            cache: None,
        };
        store.deliver(blob, &[delivery], None, 0).unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let bayes = Arc::new(Bayes::with_tree(
            db.open_tree("b").unwrap(),
            super::super::Settings::default(),
        ));
        let trainer = Trainer::spawn(store.clone(), bayes.clone()).unwrap();
        let user = "alice@example.test";
        trainer.trained(user, id, true);
        wait_for(&bayes, user, (1, 0));
        assert!(bayes.stats(user).unwrap().tokens >= 4);
        // Out of Junk: the spam counts are reversed into ham.
        trainer.trained(user, id, false);
        wait_for(&bayes, user, (0, 1));
        // A missing body is logged and skipped; the thread goes on.
        trainer.trained(user, crate::store::BlobId([7; 32]), true);
        trainer.trained(user, id, true);
        wait_for(&bayes, user, (1, 0));
        assert_eq!(bayes.global_stats().unwrap().spam, 1);
        drop(trainer);
        std::fs::remove_dir_all(&dir).ok();
    }
}
