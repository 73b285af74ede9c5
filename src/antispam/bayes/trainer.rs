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
