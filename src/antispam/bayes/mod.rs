//! The Bayes filter: per-user token statistics learnt from what users
//! file as spam or not, and a classifier over them.
//!
//! - [`tokens`]: the bounded tokeniser over decoded message text.
//! - [`Bayes`]: the token store in sled (one pool per user plus a global
//!   pool that every training also counts in), training that remembers
//!   what each message was trained as, pruning, and classification with
//!   Robinson's f(w) and Fisher's chi-square combining (as in SpamBayes).
//! - [`trainer`]: the background trainer behind IMAP's Junk moves.

pub mod tokens;
pub mod trainer;

use crate::config::Antispam;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;
pub use tokens::{token_hash, tokenise, tokenise_unparsed, Tokens};

/// Robinson's strength of the prior (s) and the prior itself (x).
const ROBINSON_S: f64 = 1.0;
const ROBINSON_X: f64 = 0.5;
/// The most significant tokens used per message.
const MAX_CLUES: usize = 150;
/// Tokens whose f(w) is closer than this to 0.5 say nothing.
const MIN_STRENGTH: f64 = 0.1;
/// Writes applied per sled batch when pruning.
const PRUNE_BATCH: usize = 1000;
/// Pruning brings a pool down to this share of its maximum, so that it
/// runs once in a while, not per message.
const PRUNE_TARGET: f64 = 0.9;

/// Tuning of the filter, from `[antispam]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Ham and spam each a pool needs before it classifies.
    pub min_trained: u32,
    /// Most tokens kept per pool.
    pub max_tokens: u64,
    /// Most training records (message, class) kept per user.
    pub max_trained: u64,
    /// Tokens seen once go after this many days unseen.
    pub prune_days: u32,
    /// Indicator at or below which a message is ham.
    pub ham_cutoff: f64,
    /// Indicator at or above which a message is spam.
    pub spam_cutoff: f64,
    /// Score at an indicator of 0.99 or more.
    pub spam_score: f32,
    /// Score of a ham verdict (negative).
    pub ham_score: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&Antispam::default())
    }
}

impl Settings {
    /// The settings of `[antispam]`.
    pub fn from_config(c: &Antispam) -> Settings {
        Settings {
            min_trained: c.bayes_min_trained,
            max_tokens: c.bayes_max_tokens,
            max_trained: c.bayes_max_trained,
            prune_days: c.bayes_prune_days,
            ham_cutoff: f64::from(c.bayes_ham_cutoff),
            spam_cutoff: f64::from(c.bayes_spam_cutoff),
            spam_score: c.bayes_spam_score,
            ham_score: c.bayes_ham_score,
        }
    }
}

/// Counts of one pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Messages trained as spam.
    pub spam: u32,
    /// Messages trained as ham.
    pub ham: u32,
    /// Distinct tokens stored.
    pub tokens: u64,
    /// Training records kept (a user's pool only).
    pub records: u64,
}

/// What a training call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    /// Newly counted.
    New,
    /// Counted before as the other class: reversed, then counted.
    Reversed,
    /// Already trained as this class: nothing done.
    Already,
}

/// Which pool classified a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// The user's own training.
    User,
    /// Everyone's training (the user has too little of their own).
    Global,
}

/// The classifier's result for one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified {
    /// The chi-square indicator: 0 is ham, 1 is spam, 0.5 unsure.
    pub indicator: f64,
    /// Tokens that took part.
    pub clues: usize,
    /// The pool used.
    pub pool: Pool,
}

/// One token's counts in a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    spam: u32,
    ham: u32,
    day: u32,
}

impl Counts {
    fn decode(v: &[u8]) -> Counts {
        let word = |i: usize| {
            v.get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes)
        };
        Counts {
            spam: word(0),
            ham: word(4),
            day: word(8),
        }
    }

    fn encode(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.spam.to_le_bytes());
        out[4..8].copy_from_slice(&self.ham.to_le_bytes());
        out[8..].copy_from_slice(&self.day.to_le_bytes());
        out
    }
}

impl PoolStats {
    fn decode(v: &[u8]) -> PoolStats {
        let c = Counts::decode(v);
        let tokens = v
            .get(8..16)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes);
        let records = v
            .get(16..24)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes);
        PoolStats {
            spam: c.spam,
            ham: c.ham,
            tokens,
            records,
        }
    }

    fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..4].copy_from_slice(&self.spam.to_le_bytes());
        out[4..8].copy_from_slice(&self.ham.to_le_bytes());
        out[8..16].copy_from_slice(&self.tokens.to_le_bytes());
        out[16..].copy_from_slice(&self.records.to_le_bytes());
        out
    }
}

/// Key layout of the tree (user names never contain NUL; the global pool
/// is the empty name):
/// - `T user NUL hash(8, big-endian)` → spam u32, ham u32, last-seen day
///   u32 (little-endian)
/// - `N user` → spam messages u32, ham messages u32, tokens u64,
///   training records u64
/// - `M user NUL id(32)` → 1 (trained as spam) or 0 (as ham), then the
///   day of the training u32 (little-endian)
fn token_prefix(user: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 10);
    k.push(b'T');
    k.extend_from_slice(user.as_bytes());
    k.push(0);
    k
}

fn token_key(prefix: &[u8], hash: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&hash.to_be_bytes());
    k
}

fn stats_key(user: &str) -> Vec<u8> {
    let mut k = vec![b'N'];
    k.extend_from_slice(user.as_bytes());
    k
}

fn trained_prefix(user: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 34);
    k.push(b'M');
    k.extend_from_slice(user.as_bytes());
    k.push(0);
    k
}

fn trained_key(user: &str, id: &[u8; 32]) -> Vec<u8> {
    let mut k = trained_prefix(user);
    k.extend_from_slice(id);
    k
}

/// A training record's value: the class, then the day.
fn trained_value(spam: bool, day: u32) -> [u8; 5] {
    let mut v = [0u8; 5];
    v[0] = u8::from(spam);
    v[1..].copy_from_slice(&day.to_le_bytes());
    v
}

/// The day of a training record (0 when it has none).
fn trained_day(v: &[u8]) -> u32 {
    v.get(1..5)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes)
}

/// The global pool's name.
const GLOBAL: &str = "";

/// The token store and classifier.
pub struct Bayes {
    tree: sled::Tree,
    settings: Settings,
    /// Training is read-modify-write: one at a time.
    write: Mutex<()>,
}

impl Bayes {
    /// The filter over its tree in the store.
    pub fn open(store: &Store, settings: Settings) -> Result<Bayes, StoreError> {
        Ok(Bayes::with_tree(store.antispam_tree("bayes")?, settings))
    }

    /// The filter over a given tree.
    pub fn with_tree(tree: sled::Tree, settings: Settings) -> Bayes {
        Bayes {
            tree,
            settings,
            write: Mutex::new(()),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The counts of `user`'s pool (`""` for the global pool).
    pub fn stats(&self, user: &str) -> Result<PoolStats, StoreError> {
        Ok(self
            .tree
            .get(stats_key(user))?
            .map(|v| PoolStats::decode(&v))
            .unwrap_or_default())
    }

    /// The counts of the global pool.
    pub fn global_stats(&self) -> Result<PoolStats, StoreError> {
        self.stats(GLOBAL)
    }

    /// Trains message `id` (a body hash) of `user` as spam or ham, in the
    /// user's pool and the global pool. A message is counted once: the
    /// same class again does nothing, the other class reverses the first.
    /// `now` (Unix seconds) dates the tokens for pruning.
    pub fn train(
        &self,
        user: &str,
        id: &[u8; 32],
        tokens: &Tokens,
        spam: bool,
        now: u64,
    ) -> Result<Trained, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let key = trained_key(user, id);
        let before = self.tree.get(&key)?.map(|v| v.first() == Some(&1));
        let result = match before {
            Some(was) if was == spam => return Ok(Trained::Already),
            Some(was) => {
                self.count(user, tokens, was, -1, now)?;
                Trained::Reversed
            }
            None => Trained::New,
        };
        self.count(user, tokens, spam, 1, now)?;
        let day = u32::try_from(now / 86400).unwrap_or(u32::MAX);
        self.tree.insert(key, &trained_value(spam, day))?;
        if result == Trained::New {
            let mut stats = self.stats(user)?;
            stats.records += 1;
            self.tree.insert(stats_key(user), &stats.encode())?;
            if stats.records > self.settings.max_trained {
                self.forget_oldest(user)?;
            }
        }
        for pool in [user, GLOBAL] {
            if self.stats(pool)?.tokens > self.settings.max_tokens {
                self.prune(pool, now)?;
            }
        }
        Ok(result)
    }

    /// Forgets the training of message `id` of `user`, if any; returns
    /// whether there was one.
    pub fn untrain(&self, user: &str, id: &[u8; 32], tokens: &Tokens) -> Result<bool, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let key = trained_key(user, id);
        let Some(v) = self.tree.get(&key)? else {
            return Ok(false);
        };
        self.count(user, tokens, v.first() == Some(&1), -1, 0)?;
        self.tree.remove(key)?;
        let mut stats = self.stats(user)?;
        stats.records = stats.records.saturating_sub(1);
        self.tree.insert(stats_key(user), &stats.encode())?;
        Ok(true)
    }

    /// Brings `user`'s training records down to 90% of `max_trained`,
    /// forgetting those of the oldest days first. The counts they added
    /// stay; only the memory of which message was trained goes, so such a
    /// message trained again counts again. Memory: one counter per day.
    fn forget_oldest(&self, user: &str) -> Result<(), StoreError> {
        let prefix = trained_prefix(user);
        let target = (self.settings.max_trained as f64 * PRUNE_TARGET) as u64;
        let mut days: BTreeMap<u32, u64> = BTreeMap::new();
        let mut total = 0u64;
        for item in self.tree.scan_prefix(&prefix) {
            let (_, v) = item?;
            *days.entry(trained_day(&v)).or_default() += 1;
            total += 1;
        }
        let mut excess = total.saturating_sub(target);
        let mut cutoff: BTreeMap<u32, u64> = BTreeMap::new();
        for (d, n) in days {
            if excess == 0 {
                break;
            }
            let take = n.min(excess);
            cutoff.insert(d, take);
            excess -= take;
        }
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        let mut left = total;
        for item in self.tree.scan_prefix(&prefix) {
            if cutoff.is_empty() {
                break;
            }
            let (k, v) = item?;
            if let Some(n) = cutoff.get_mut(&trained_day(&v)) {
                *n -= 1;
                if *n == 0 {
                    cutoff.remove(&trained_day(&v));
                }
                batch.remove(k);
                left -= 1;
                pending += 1;
                if pending >= PRUNE_BATCH {
                    self.tree.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
            }
        }
        self.tree.apply_batch(batch)?;
        let mut stats = self.stats(user)?;
        stats.records = left;
        self.tree.insert(stats_key(user), &stats.encode())?;
        log::info!(
            "bayes: forgot the oldest {} training records of {user}, {left} left",
            total - left
        );
        Ok(())
    }

    /// Adds (`delta` 1) or removes (-1) one message's tokens in the
    /// user's pool and the global pool.
    fn count(
        &self,
        user: &str,
        tokens: &Tokens,
        spam: bool,
        delta: i64,
        now: u64,
    ) -> Result<(), StoreError> {
        let day = u32::try_from(now / 86400).unwrap_or(u32::MAX);
        let step = |n: u32| -> u32 {
            if delta > 0 {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        for pool in [user, GLOBAL] {
            let prefix = token_prefix(pool);
            let mut stats = self.stats(pool)?;
            let mut batch = sled::Batch::default();
            for &h in &tokens.0 {
                let key = token_key(&prefix, h);
                let old = self.tree.get(&key)?.map(|v| Counts::decode(&v));
                let mut c = old.unwrap_or_default();
                if spam {
                    c.spam = step(c.spam);
                } else {
                    c.ham = step(c.ham);
                }
                if delta > 0 {
                    c.day = c.day.max(day);
                }
                if c.spam == 0 && c.ham == 0 {
                    if old.is_some() {
                        batch.remove(key);
                        stats.tokens = stats.tokens.saturating_sub(1);
                    }
                } else {
                    if old.is_none() {
                        stats.tokens += 1;
                    }
                    batch.insert(key, &c.encode());
                }
            }
            if spam {
                stats.spam = step(stats.spam);
            } else {
                stats.ham = step(stats.ham);
            }
            batch.insert(stats_key(pool), &stats.encode());
            self.tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// Brings a pool under its token limit: first tokens seen once and
    /// not for `prune_days`, then the least recently seen, down to 90% of
    /// the limit. Memory: one counter per distinct day. Returns how many
    /// tokens went.
    pub fn prune(&self, pool: &str, now: u64) -> Result<u64, StoreError> {
        let today = u32::try_from(now / 86400).unwrap_or(u32::MAX);
        let prefix = token_prefix(pool);
        let target = (self.settings.max_tokens as f64 * PRUNE_TARGET) as u64;
        let mut removed = 0u64;
        let mut left = 0u64;
        let mut days: BTreeMap<u32, u64> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        for item in self.tree.scan_prefix(&prefix) {
            let (k, v) = item?;
            let c = Counts::decode(&v);
            if c.spam + c.ham <= 1 && c.day.saturating_add(self.settings.prune_days) < today {
                batch.remove(k);
                removed += 1;
                pending += 1;
                if pending >= PRUNE_BATCH {
                    self.tree.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
            } else {
                left += 1;
                *days.entry(c.day).or_default() += 1;
            }
        }
        self.tree.apply_batch(std::mem::take(&mut batch))?;
        pending = 0;
        if left > target {
            // The oldest days go until the pool is at the target; the
            // last of them only in part.
            let mut excess = left - target;
            let mut cutoff: BTreeMap<u32, u64> = BTreeMap::new();
            for (d, n) in days {
                if excess == 0 {
                    break;
                }
                let take = n.min(excess);
                cutoff.insert(d, take);
                excess -= take;
            }
            for item in self.tree.scan_prefix(&prefix) {
                if cutoff.is_empty() {
                    break;
                }
                let (k, v) = item?;
                let c = Counts::decode(&v);
                if let Some(n) = cutoff.get_mut(&c.day) {
                    *n -= 1;
                    if *n == 0 {
                        cutoff.remove(&c.day);
                    }
                    batch.remove(k);
                    removed += 1;
                    left -= 1;
                    pending += 1;
                    if pending >= PRUNE_BATCH {
                        self.tree.apply_batch(std::mem::take(&mut batch))?;
                        pending = 0;
                    }
                }
            }
            self.tree.apply_batch(batch)?;
        }
        let mut stats = self.stats(pool)?;
        stats.tokens = left;
        self.tree.insert(stats_key(pool), &stats.encode())?;
        if removed > 0 {
            log::info!(
                "bayes: pruned {removed} tokens of pool {:?}, {left} left",
                if pool.is_empty() { "global" } else { pool }
            );
        }
        Ok(removed)
    }

    /// The pool to classify `user`'s mail with: their own once trained
    /// enough, else the global pool once it is, else none.
    fn pool(&self, user: &str) -> Result<Option<(Pool, PoolStats)>, StoreError> {
        let min = self.settings.min_trained;
        let enough = |s: &PoolStats| s.spam >= min && s.ham >= min && s.spam > 0 && s.ham > 0;
        let own = self.stats(user)?;
        if enough(&own) {
            return Ok(Some((Pool::User, own)));
        }
        let global = self.stats(GLOBAL)?;
        Ok(enough(&global).then_some((Pool::Global, global)))
    }

    /// Classifies a message for `user`; `None` when no pool is trained
    /// enough.
    pub fn classify(&self, user: &str, tokens: &Tokens) -> Result<Option<Classified>, StoreError> {
        let Some((pool, stats)) = self.pool(user)? else {
            return Ok(None);
        };
        let prefix = token_prefix(if pool == Pool::User { user } else { GLOBAL });
        let (nspam, nham) = (f64::from(stats.spam), f64::from(stats.ham));
        let mut clues: Vec<f64> = Vec::new();
        for &h in &tokens.0 {
            let Some(v) = self.tree.get(token_key(&prefix, h))? else {
                continue;
            };
            let c = Counts::decode(&v);
            let f = robinson(c.spam, c.ham, nspam, nham);
            if (f - 0.5).abs() >= MIN_STRENGTH {
                clues.push(f);
            }
        }
        clues.sort_by(|a, b| {
            (b - 0.5)
                .abs()
                .partial_cmp(&(a - 0.5).abs())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        clues.truncate(MAX_CLUES);
        Ok(Some(Classified {
            indicator: chi_combine(&clues),
            clues: clues.len(),
            pool,
        }))
    }

    /// The score of an indicator: positive on the spam side (scaled up to
    /// `spam_score` at 0.99), `ham_score` on the ham side, 0 when unsure.
    pub fn score(&self, indicator: f64) -> f32 {
        let s = &self.settings;
        if indicator >= s.spam_cutoff {
            let span = (0.99 - s.spam_cutoff).max(f64::EPSILON);
            let t = ((indicator - s.spam_cutoff) / span).clamp(0.0, 1.0) as f32;
            // From a sixth of the maximum at the cutoff to all of it.
            s.spam_score * (1.0 + 5.0 * t) / 6.0
        } else if indicator <= s.ham_cutoff {
            s.ham_score
        } else {
            0.0
        }
    }
}

/// Robinson's f(w): the token's spam probability, pulled towards x by
/// its rarity.
fn robinson(spam: u32, ham: u32, nspam: f64, nham: f64) -> f64 {
    let sr = f64::from(spam) / nspam.max(1.0);
    let hr = f64::from(ham) / nham.max(1.0);
    let p = if sr + hr > 0.0 { sr / (sr + hr) } else { 0.5 };
    let n = f64::from(spam) + f64::from(ham);
    (ROBINSON_S * ROBINSON_X + n * p) / (ROBINSON_S + n)
}

/// Fisher's combining: H and S from chi-square tests on the clues, and
/// the indicator (1 + S − H) / 2.
fn chi_combine(clues: &[f64]) -> f64 {
    if clues.is_empty() {
        return 0.5;
    }
    let n = clues.len();
    let (mut ln_ham, mut ln_spam) = (0.0f64, 0.0f64);
    for &f in clues {
        let f = f.clamp(1e-9, 1.0 - 1e-9);
        ln_ham += f.ln();
        ln_spam += (1.0 - f).ln();
    }
    let s = 1.0 - chi2q(-2.0 * ln_spam, 2 * n);
    let h = 1.0 - chi2q(-2.0 * ln_ham, 2 * n);
    (1.0 + s - h) / 2.0
}

/// The probability that a chi-square with `v` (even) degrees of freedom
/// is at least `x2`.
fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bayes(settings: Settings) -> Bayes {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Bayes::with_tree(db.open_tree("bayes").unwrap(), settings)
    }

    fn settings(min: u32) -> Settings {
        Settings {
            min_trained: min,
            ..Settings::default()
        }
    }

    fn id(n: u32) -> [u8; 32] {
        let mut i = [0u8; 32];
        i[..4].copy_from_slice(&n.to_le_bytes());
        i
    }

    const DAY: u64 = 86400;

    fn train_some(b: &Bayes, user: &str, n: u32) {
        for i in 0..n {
            let spam = Tokens::of_text(&format!("cheap pills viagra casino winner offer{i}"));
            let ham = Tokens::of_text(&format!("meeting agenda project invoice minutes note{i}"));
            b.train(user, &id(2 * i), &spam, true, 100 * DAY).unwrap();
            b.train(user, &id(2 * i + 1), &ham, false, 100 * DAY)
                .unwrap();
        }
    }

    #[test]
    fn chi2q_matches_known_values() {
        assert!((chi2q(0.0, 2) - 1.0).abs() < 1e-12);
        // For 2 degrees of freedom Q = exp(-x/2).
        assert!((chi2q(3.0, 2) - (-1.5f64).exp()).abs() < 1e-12);
        // Chi-square with 4 dof at 9.488 is about 0.05.
        assert!((chi2q(9.488, 4) - 0.05).abs() < 1e-3);
    }

    #[test]
    fn robinson_pulls_rare_tokens_to_the_middle() {
        assert!((robinson(0, 0, 10.0, 10.0) - 0.5).abs() < 1e-12);
        let once = robinson(1, 0, 10.0, 10.0);
        let often = robinson(9, 0, 10.0, 10.0);
        assert!(once > 0.5 && once < often && often < 1.0);
    }

    #[test]
    fn no_verdict_until_trained_enough() {
        let b = bayes(settings(5));
        train_some(&b, "a@x", 4);
        assert_eq!(b.classify("a@x", &Tokens::of_text("casino")).unwrap(), None);
        train_some(&b, "a@x", 5);
        let c = b
            .classify("a@x", &Tokens::of_text("casino"))
            .unwrap()
            .unwrap();
        assert_eq!(c.pool, Pool::User);
    }

    #[test]
    fn classifies_spam_and_ham_and_global_fallback() {
        let b = bayes(settings(5));
        train_some(&b, "a@x", 10);
        let spam = b
            .classify("a@x", &Tokens::of_text("winner casino pills cheap"))
            .unwrap()
            .unwrap();
        let ham = b
            .classify("a@x", &Tokens::of_text("project meeting agenda"))
            .unwrap()
            .unwrap();
        assert!(spam.indicator > 0.9, "{spam:?}");
        assert!(ham.indicator < 0.1, "{ham:?}");
        assert!(b.score(spam.indicator) > 4.0);
        assert_eq!(b.score(ham.indicator), b.settings().ham_score);
        assert_eq!(b.score(0.5), 0.0);
        // A user without training of their own gets the global pool.
        let other = b
            .classify("b@x", &Tokens::of_text("winner casino pills"))
            .unwrap()
            .unwrap();
        assert_eq!(other.pool, Pool::Global);
        assert!(other.indicator > 0.9);
        let unknown = b
            .classify("b@x", &Tokens::of_text("zzzz qqqq"))
            .unwrap()
            .unwrap();
        assert_eq!(unknown.indicator, 0.5);
    }

    #[test]
    fn training_twice_counts_once_and_reversal_moves_counts() {
        let b = bayes(settings(1));
        let t = Tokens::of_text("hello world");
        assert_eq!(b.train("u", &id(1), &t, true, 0).unwrap(), Trained::New);
        assert_eq!(b.train("u", &id(1), &t, true, 0).unwrap(), Trained::Already);
        assert_eq!(
            b.stats("u").unwrap(),
            PoolStats {
                spam: 1,
                ham: 0,
                tokens: 2,
                records: 1,
            }
        );
        assert_eq!(
            b.train("u", &id(1), &t, false, 0).unwrap(),
            Trained::Reversed
        );
        let s = b.stats("u").unwrap();
        assert_eq!((s.spam, s.ham, s.tokens, s.records), (0, 1, 2, 1));
        let g = b.global_stats().unwrap();
        assert_eq!((g.spam, g.ham, g.tokens), (0, 1, 2));
        assert!(b.untrain("u", &id(1), &t).unwrap());
        assert!(!b.untrain("u", &id(1), &t).unwrap());
        assert!(!b.untrain("u", &id(9), &t).unwrap());
        let s = b.stats("u").unwrap();
        assert_eq!((s.spam, s.ham, s.tokens, s.records), (0, 0, 0, 0));
        assert_eq!(b.tree.scan_prefix(token_prefix("u")).count(), 0);
    }

    #[test]
    fn training_records_are_bounded_oldest_first() {
        let b = bayes(Settings {
            max_trained: 10,
            ..settings(1)
        });
        let t = Tokens::of_text("hello world");
        // Messages 0..5 trained on day 0, 5..11 on day 5: the eleventh
        // record is over the limit and the oldest go, down to 9.
        for i in 0..11u32 {
            let day = if i < 5 { 0 } else { 5 * DAY };
            assert_eq!(b.train("u", &id(i), &t, true, day).unwrap(), Trained::New);
        }
        let s = b.stats("u").unwrap();
        assert_eq!(s.records, 9);
        assert_eq!(b.tree.scan_prefix(trained_prefix("u")).count(), 9);
        // The counts stay: eleven spam trained.
        assert_eq!(s.spam, 11);
        // The two forgotten were of day 0; the newest are still known.
        let forgotten = (0..5u32)
            .filter(|&i| b.tree.get(trained_key("u", &id(i))).unwrap().is_none())
            .count();
        assert_eq!(forgotten, 2);
        assert_eq!(
            b.train("u", &id(10), &t, true, 6 * DAY).unwrap(),
            Trained::Already
        );
        // Other users keep theirs.
        b.train("v", &id(0), &t, false, 0).unwrap();
        assert_eq!(b.stats("v").unwrap().records, 1);
    }

    #[test]
    fn pruning_keeps_pools_bounded() {
        let b = bayes(Settings {
            max_tokens: 100,
            prune_days: 10,
            ..settings(1)
        });
        // Day 0: 60 tokens seen once; 20 more seen twice.
        let mut many = String::new();
        for i in 0..60 {
            many.push_str(&format!("old{i} "));
        }
        b.train("u", &id(1), &Tokens::of_text(&many), true, 0)
            .unwrap();
        let mut twice = String::new();
        for i in 0..20 {
            twice.push_str(&format!("kept{i} "));
        }
        b.train("u", &id(2), &Tokens::of_text(&twice), true, 0)
            .unwrap();
        b.train("u", &id(3), &Tokens::of_text(&twice), false, 0)
            .unwrap();
        assert_eq!(b.stats("u").unwrap().tokens, 80);
        // Day 30: 40 new tokens push it over 100; the 60 old singletons go.
        let mut fresh = String::new();
        for i in 0..40 {
            fresh.push_str(&format!("new{i} "));
        }
        b.train("u", &id(4), &Tokens::of_text(&fresh), false, 30 * DAY)
            .unwrap();
        assert_eq!(b.stats("u").unwrap().tokens, 60);
        let count = b.tree.scan_prefix(token_prefix("u")).count() as u64;
        assert_eq!(count, 60);
        // Over the limit with nothing stale: the least recent go first.
        let mut more = String::new();
        for i in 0..50 {
            more.push_str(&format!("more{i} "));
        }
        b.train("u", &id(5), &Tokens::of_text(&more), false, 31 * DAY)
            .unwrap();
        let s = b.stats("u").unwrap();
        assert_eq!(s.tokens, 90);
        assert_eq!(b.tree.scan_prefix(token_prefix("u")).count() as u64, 90);
        let kept = b
            .tree
            .get(token_key(&token_prefix("u"), token_hash("more1")))
            .unwrap();
        assert!(kept.is_some(), "the newest tokens stay");
        let gone = b
            .tree
            .get(token_key(&token_prefix("u"), token_hash("kept1")))
            .unwrap();
        assert!(gone.is_none(), "the oldest tokens went");
    }
}
