//! Greylisting, at RCPT: the first delivery attempt of an unknown
//! (client network, sender, recipient) triplet gets a temporary refusal;
//! real mail servers retry (RFC 5321 §4.5.4.1), most spam software does
//! not.
//!
//! - First sighting: `451 4.7.1 Greylisted, try again in N seconds`, and
//!   the triplet's first-seen time is recorded.
//! - A retry before the delay: 451 again, first-seen unchanged.
//! - A retry after the delay and within the window: accepted; the triplet
//!   passes, and so does its client network for the sender's domain, for
//!   the pass lifetime (36 days by default), refreshed on use.
//! - A retry after the window: treated as a first sighting.
//!
//! Never greylisted:
//! - mail from one of our domains sent by us (loopback or one of our
//!   addresses) or with SPF pass: local-to-local mail;
//! - a sender domain with SPF pass and good history: [`Check::accepted`]
//!   counts, per sender domain, accepted messages that passed SPF or
//!   carried a passing DKIM signature aligned with it (RFC 7489 §3.1.1
//!   relaxed alignment); after `trusted_after` of them the domain is
//!   trusted;
//! - a client network that already passed for the sender's domain.
//!
//! The client network is the IPv4 /24 or the IPv6 /64: big senders retry
//! from another host of the same pool.
//!
//! State is in the store tree `antispam_greylist` (postcard values). It is
//! bounded: every entry expires (a pending triplet after the window, the
//! others at the end of their lifetime); every [`PRUNE_EVERY`] calls a
//! batch of [`PRUNE_BATCH`] entries is scanned and expired ones removed;
//! and the number of entries is capped, the scan then also dropping
//! pending triplets (their senders are only greylisted again).
//! Writes are not flushed: losing the last seconds of greylisting state
//! in a crash only greylists a few senders again.

use super::shown;
use crate::antispam::{Check, Context, Recipient, Reject, Verdict};
use crate::auth::dkim::verify::DkimResult;
use crate::auth::dmarc::{self, Alignment};
use crate::auth::spf::{Identity, SpfResult};
use crate::dns::BoxFuture;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How often (in calls) a batch of entries is checked for expiry.
pub const PRUNE_EVERY: u64 = 64;
/// Entries checked per pruning batch: bounds the work of one call.
pub const PRUNE_BATCH: usize = 256;
/// Longest address kept in a key; longer ones are cut (RFC 5321
/// §4.5.3.1.3 limits a path to 256 octets).
const MAX_ADDRESS: usize = 256;
/// A whitelisting is rewritten only when it would end this much sooner
/// than a fresh one: saves a write per message for busy senders.
const REFRESH_STEP: u64 = 86_400;

/// Settings of the greylist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Seconds before a retry is accepted.
    pub delay: u64,
    /// Seconds after the first attempt during which a retry is accepted.
    pub window: u64,
    /// Seconds a passed triplet or network stays whitelisted after its
    /// last use; also how long a domain's good history lasts.
    pub pass_lifetime: u64,
    /// Good messages after which a domain with SPF pass is trusted.
    pub trusted_after: u32,
    /// Most entries kept.
    pub max_entries: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            delay: 300,
            window: 86_400,
            pass_lifetime: 36 * 86_400,
            trusted_after: 2,
            max_entries: 50_000,
        }
    }
}

/// One stored entry. postcard writes the variant index first, so a new
/// variant can be added later; entries that do not decode are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Entry {
    /// A triplet: when first seen, and until when it is whitelisted (0:
    /// not passed yet).
    Triplet { first_seen: u64, passed_until: u64 },
    /// A client network whitelisted for a sender domain.
    Network { until: u64 },
    /// A sender domain's good history: messages counted, valid until.
    Domain { good: u32, until: u64 },
}

impl Entry {
    fn expired(&self, now: u64, window: u64) -> bool {
        match *self {
            Entry::Triplet {
                first_seen,
                passed_until: 0,
            } => now > first_seen.saturating_add(window),
            Entry::Triplet { passed_until, .. } => now > passed_until,
            Entry::Network { until } | Entry::Domain { until, .. } => now > until,
        }
    }

    fn pending(&self) -> bool {
        matches!(
            self,
            Entry::Triplet {
                passed_until: 0,
                ..
            }
        )
    }
}

#[derive(Debug, Default)]
struct State {
    calls: u64,
    /// Where the next pruning batch starts.
    cursor: Vec<u8>,
    /// Entries in the tree (kept up to date on insert and remove).
    count: usize,
}

/// The greylisting check.
#[derive(Debug)]
pub struct Greylist {
    tree: sled::Tree,
    settings: Settings,
    state: Mutex<State>,
}

/// What a RCPT gets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Not greylisted, and why.
    Skip(&'static str),
    /// Accepted: the triplet passed.
    Pass,
    /// Refused for now; seconds left.
    Greylisted(u64),
}

/// The client network: IPv4 /24 or IPv6 /64, as text.
fn network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let seg = |i: usize| s.get(i).copied().unwrap_or(0);
            format!("{:x}:{:x}:{:x}:{:x}::/64", seg(0), seg(1), seg(2), seg(3))
        }
    }
}

fn cut(s: &str) -> &str {
    match s.char_indices().nth(MAX_ADDRESS) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

fn key(kind: u8, parts: &[&str]) -> Vec<u8> {
    let mut k = vec![kind];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(cut(p).as_bytes());
    }
    k
}

impl Greylist {
    /// A greylist over `tree` (`store.antispam_tree("greylist")`), with the
    /// given delay and window and the default pass lifetime (36 days),
    /// trust threshold (2 messages) and size cap (50,000 entries).
    pub fn new(tree: sled::Tree, delay: Duration, window: Duration) -> Greylist {
        Greylist::with_settings(
            tree,
            Settings {
                delay: delay.as_secs(),
                window: window.as_secs(),
                ..Settings::default()
            },
        )
    }

    /// A greylist with the settings of the `[antispam]` section.
    pub fn from_config(tree: sled::Tree, a: &crate::config::Antispam) -> Greylist {
        Greylist::with_settings(
            tree,
            Settings {
                delay: a.greylist_delay.0.as_secs(),
                window: a.greylist_window.0.as_secs(),
                pass_lifetime: a.greylist_pass_lifetime.0.as_secs(),
                trusted_after: a.greylist_trusted_after,
                max_entries: a.greylist_max_entries as usize,
            },
        )
    }

    /// A greylist with every setting given.
    pub fn with_settings(tree: sled::Tree, settings: Settings) -> Greylist {
        // Counted once at start (sled's len() walks the tree).
        let count = tree.len();
        Greylist {
            tree,
            settings,
            state: Mutex::new(State {
                count,
                ..State::default()
            }),
        }
    }

    /// How many entries are stored.
    pub fn entries(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Entry>, sled::Error> {
        Ok(self
            .tree
            .get(key)?
            .and_then(|v| postcard::from_bytes::<Entry>(&v).ok()))
    }

    /// Stores an entry, making room first when it is new and the tree is
    /// full.
    fn put(&self, st: &mut State, key: &[u8], entry: Entry, now: u64) -> Result<(), sled::Error> {
        let Ok(bytes) = postcard::to_stdvec(&entry) else {
            return Ok(());
        };
        if st.count >= self.settings.max_entries && !self.tree.contains_key(key)? {
            self.prune(st, now, true)?;
        }
        if self.tree.insert(key, bytes)?.is_none() {
            st.count += 1;
        }
        Ok(())
    }

    fn remove(&self, st: &mut State, key: &[u8]) -> Result<(), sled::Error> {
        if self.tree.remove(key)?.is_some() {
            st.count = st.count.saturating_sub(1);
        }
        Ok(())
    }

    /// Checks one batch of entries from the cursor, removing expired and
    /// undecodable ones. With `full`, also makes room under the cap:
    /// pending triplets of the batch go, then any entry of it.
    fn prune(&self, st: &mut State, now: u64, full: bool) -> Result<(), sled::Error> {
        let mut batch: Vec<(sled::IVec, Option<Entry>)> = Vec::with_capacity(PRUNE_BATCH);
        for item in self.tree.range(st.cursor.as_slice()..).take(PRUNE_BATCH) {
            let (k, v) = item?;
            batch.push((k, postcard::from_bytes::<Entry>(&v).ok()));
        }
        if batch.len() < PRUNE_BATCH {
            // The end of the tree: start again from the beginning next time.
            st.cursor.clear();
        } else if let Some((last, _)) = batch.last() {
            st.cursor = last.to_vec();
            st.cursor.push(0);
        }
        let window = self.settings.window;
        let mut kept = Vec::new();
        for (k, e) in batch {
            match e {
                Some(e) if !e.expired(now, window) => kept.push((k, e)),
                _ => self.remove(st, &k)?,
            }
        }
        if full {
            let max = self.settings.max_entries;
            for (k, _) in kept.iter().filter(|(_, e)| e.pending()) {
                if st.count < max {
                    break;
                }
                self.remove(st, k)?;
            }
            for (k, _) in &kept {
                if st.count < max {
                    break;
                }
                self.remove(st, k)?;
            }
        }
        Ok(())
    }

    fn tick(&self, st: &mut State, now: u64) -> Result<(), sled::Error> {
        st.calls = st.calls.wrapping_add(1);
        if st.calls.is_multiple_of(PRUNE_EVERY) {
            self.prune(st, now, false)?;
        }
        Ok(())
    }

    /// Whether the domain passed SPF in this transaction (the MAIL FROM
    /// identity, for that domain).
    fn spf_pass(cx: &Context, domain: &str) -> bool {
        cx.facts().spf.as_ref().is_some_and(|s| {
            s.result == SpfResult::Pass
                && s.identity == Identity::MailFrom
                && s.domain.eq_ignore_ascii_case(domain)
        })
    }

    fn decide(&self, cx: &Context, rcpt: &Recipient) -> Result<Decision, sled::Error> {
        let now = cx.now;
        let mut st = self.lock();
        self.tick(&mut st, now)?;
        let peer = cx.peer.to_canonical();
        let net = network(peer);
        let domain = cx.sender_domain();
        let pass_until = now.saturating_add(self.settings.pass_lifetime);
        if let Some(d) = domain.as_deref() {
            let spf_pass = Greylist::spf_pass(cx, d);
            let from_us =
                peer.is_loopback() || cx.local_ips.iter().any(|l| l.to_canonical() == peer);
            if cx.is_local_domain(d) && (from_us || spf_pass) {
                return Ok(Decision::Skip("local sender"));
            }
            if spf_pass {
                if let Some(Entry::Domain { good, until }) = self.get(&key(b'd', &[d]))? {
                    if good >= self.settings.trusted_after && until >= now {
                        return Ok(Decision::Skip("sender domain with good history"));
                    }
                }
            }
            let nk = key(b'n', &[&net, d]);
            if let Some(Entry::Network { until }) = self.get(&nk)? {
                if until >= now {
                    if until < pass_until.saturating_sub(REFRESH_STEP) {
                        self.put(&mut st, &nk, Entry::Network { until: pass_until }, now)?;
                    }
                    return Ok(Decision::Skip("client network whitelisted"));
                }
            }
        }
        let sender = cx.mail_from.as_deref().unwrap_or("").to_ascii_lowercase();
        let recipient = rcpt.address.to_ascii_lowercase();
        let tk = key(b't', &[&net, &sender, &recipient]);
        let delay = self.settings.delay;
        let first = Entry::Triplet {
            first_seen: now,
            passed_until: 0,
        };
        match self.get(&tk)? {
            Some(Entry::Triplet {
                first_seen,
                passed_until,
            }) => {
                if passed_until >= now {
                    if passed_until < pass_until.saturating_sub(REFRESH_STEP) {
                        let e = Entry::Triplet {
                            first_seen,
                            passed_until: pass_until,
                        };
                        self.put(&mut st, &tk, e, now)?;
                    }
                    return Ok(Decision::Pass);
                }
                let elapsed = now.saturating_sub(first_seen);
                if passed_until != 0 || elapsed > self.settings.window || now < first_seen {
                    // Whitelisting ended, the retry came too late, or the
                    // clock went back: start again.
                    self.put(&mut st, &tk, first, now)?;
                    return Ok(Decision::Greylisted(delay));
                }
                if elapsed < delay {
                    return Ok(Decision::Greylisted(delay - elapsed));
                }
                let e = Entry::Triplet {
                    first_seen,
                    passed_until: pass_until,
                };
                self.put(&mut st, &tk, e, now)?;
                if let Some(d) = domain.as_deref() {
                    let nk = key(b'n', &[&net, d]);
                    self.put(&mut st, &nk, Entry::Network { until: pass_until }, now)?;
                }
                Ok(Decision::Pass)
            }
            _ => {
                self.put(&mut st, &tk, first, now)?;
                Ok(Decision::Greylisted(delay))
            }
        }
    }

    /// Records a good message of the sender's domain (see the module
    /// documentation).
    fn learn(&self, cx: &Context) -> Result<(), sled::Error> {
        let Some(domain) = cx.sender_domain() else {
            return Ok(());
        };
        let good = Greylist::spf_pass(cx, &domain)
            || cx.facts().dkim.as_ref().is_some_and(|dkim| {
                dkim.signatures.iter().any(|s| {
                    s.result == DkimResult::Pass
                        && !s.testing
                        && dmarc::aligned(&s.domain, &domain, Alignment::Relaxed)
                })
            });
        if !good {
            return Ok(());
        }
        let now = cx.now;
        let mut st = self.lock();
        self.tick(&mut st, now)?;
        let dk = key(b'd', &[&domain]);
        let before = match self.get(&dk)? {
            Some(Entry::Domain { good, until }) if until >= now => good,
            _ => 0,
        };
        let entry = Entry::Domain {
            good: before.saturating_add(1),
            until: now.saturating_add(self.settings.pass_lifetime),
        };
        self.put(&mut st, &dk, entry, now)
    }
}

impl Check for Greylist {
    fn name(&self) -> &'static str {
        "greylist"
    }

    fn rcpt<'a>(&'a self, cx: &'a Context, rcpt: &'a Recipient) -> BoxFuture<'a, Vec<Verdict>> {
        let out = match self.decide(cx, rcpt) {
            Ok(Decision::Greylisted(secs)) => {
                log::debug!(
                    "greylist: {} from {} to {}",
                    cx.peer,
                    shown(cx.mail_from.as_deref().unwrap_or(""), 100),
                    shown(&rcpt.address, 100)
                );
                // RFC 5321 §4.2.2: 451 "local error in processing"; RFC
                // 3463 §3.8: X.7.1 "delivery not authorized".
                vec![Verdict::reject(
                    "GREYLIST",
                    Reject::new(
                        451,
                        "4.7.1",
                        format!("Greylisted, try again in {secs} seconds"),
                    ),
                )]
            }
            Ok(Decision::Skip(why)) => {
                log::trace!("greylist: {} not greylisted: {why}", cx.peer);
                Vec::new()
            }
            Ok(Decision::Pass) => Vec::new(),
            Err(e) => {
                // A store failure must not hold mail back.
                log::warn!("greylist: store error, not greylisting: {e}");
                Vec::new()
            }
        };
        Box::pin(std::future::ready(out))
    }

    fn for_trusted(&self) -> bool {
        false
    }

    fn accepted(&self, cx: &Context) {
        if let Err(e) = self.learn(cx) {
            log::warn!("greylist: store error while learning: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::dkim::verify::{DkimOutcome, SignatureResult};
    use crate::auth::spf::SpfOutcome;
    use crate::dns::StaticResolver;
    use crate::store::Store;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn tmp() -> PathBuf {
        crate::testing::temp_dir("greylist")
    }

    struct Fixture {
        _store: Store,
        dir: PathBuf,
        tree: sled::Tree,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn fixture() -> Fixture {
        let dir = tmp();
        let store = Store::open(&dir, 1 << 20).unwrap();
        let tree = store.antispam_tree("greylist").unwrap();
        Fixture {
            _store: store,
            dir,
            tree,
        }
    }

    fn settings() -> Settings {
        Settings {
            delay: 300,
            window: 86_400,
            pass_lifetime: 36 * 86_400,
            trusted_after: 2,
            max_entries: 1000,
        }
    }

    const T0: u64 = 1_800_000_000;

    fn cx(peer: &str, from: &str, now: u64) -> Context {
        let mut cx = Context::new(
            peer.parse().unwrap(),
            "mx.example.net",
            vec!["example.net".into()],
            Arc::new(StaticResolver::new()),
            now,
        );
        cx.local_ips = vec!["203.0.113.5".parse().unwrap()];
        cx.mail_from = Some(from.into());
        cx
    }

    fn rcpt(address: &str) -> Recipient {
        Recipient {
            address: address.into(),
            accounts: vec![address.into()],
        }
    }

    /// The reply to RCPT, if refused.
    fn try_rcpt(g: &Greylist, cx: &Context, to: &str) -> Option<Reject> {
        let v = smol::block_on(g.rcpt(cx, &rcpt(to)));
        assert!(v.len() <= 1);
        v.into_iter().next().map(|v| {
            assert_eq!(v.rule, "GREYLIST");
            v.reject.unwrap()
        })
    }

    fn attempt(g: &Greylist, peer: &str, from: &str, to: &str, now: u64) -> Option<Reject> {
        try_rcpt(g, &cx(peer, from, now), to)
    }

    fn spf(cx: &Context, result: SpfResult, domain: &str) {
        cx.facts().spf = Some(SpfOutcome {
            result,
            identity: Identity::MailFrom,
            domain: domain.into(),
            sender: format!("x@{domain}"),
            client_ip: cx.peer,
            helo: "h".into(),
            receiver: "mx".into(),
            mechanism: None,
            explanation: None,
            problem: None,
        });
    }

    fn dkim(cx: &Context, result: DkimResult, domain: &str) {
        cx.facts().dkim = Some(DkimOutcome {
            signatures: vec![SignatureResult {
                result,
                reason: String::new(),
                domain: domain.into(),
                selector: "s".into(),
                identity: format!("@{domain}"),
                algorithm: "rsa-sha256".into(),
                b_prefix: String::new(),
                uses_l: false,
                unsigned_body_bytes: 0,
                testing: false,
            }],
            skipped: 0,
        });
    }

    #[test]
    fn first_attempt_refused_retry_after_delay_accepted() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        let (peer, from, to) = ("198.51.100.7", "Alice@Sender.example", "bob@example.net");
        let r = attempt(&g, peer, from, to, T0).unwrap();
        assert_eq!((r.code, r.status), (451, "4.7.1"));
        assert_eq!(r.text, "Greylisted, try again in 300 seconds");
        // Too early: refused again, with the time left, first-seen kept.
        let r = attempt(&g, peer, from, to, T0 + 100).unwrap();
        assert_eq!(r.text, "Greylisted, try again in 200 seconds");
        let r = attempt(&g, peer, from, to, T0 + 299).unwrap();
        assert_eq!(r.text, "Greylisted, try again in 1 seconds");
        // After the delay, from another host of the same /24, any case.
        assert_eq!(
            attempt(
                &g,
                "198.51.100.200",
                "alice@sender.example",
                "BOB@example.net",
                T0 + 300
            ),
            None
        );
        // Whitelisted from now on.
        assert_eq!(attempt(&g, peer, from, to, T0 + 400), None);
        assert_eq!(attempt(&g, peer, from, to, T0 + 30 * 86_400), None);
        // Another network is greylisted.
        assert!(attempt(&g, "192.0.2.1", from, to, T0 + 400).is_some());
    }

    #[test]
    fn retry_after_the_window_starts_again() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        let a = |now| attempt(&g, "198.51.100.7", "a@sender.example", "b@example.net", now);
        assert!(a(T0).is_some());
        assert!(a(T0 + 86_401).is_some());
        // The new first-seen is T0 + 86401.
        assert!(a(T0 + 86_401 + 299).is_some());
        assert_eq!(a(T0 + 86_401 + 300), None);
    }

    #[test]
    fn passed_entries_expire_and_are_refreshed_on_use() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        let life = 36 * 86_400;
        // The network whitelisting is per sender domain: use a null
        // sender so that only the triplet counts.
        let a = |now| attempt(&g, "198.51.100.7", "", "b@example.net", now);
        assert!(a(T0).is_some());
        assert_eq!(a(T0 + 300), None);
        // Used 30 days later: refreshed for another 36 days.
        assert_eq!(a(T0 + 30 * 86_400), None);
        assert_eq!(a(T0 + 30 * 86_400 + life), None);
        // Unused for longer than the lifetime: greylisted again.
        assert!(a(T0 + 30 * 86_400 + 2 * life + 2).is_some());
    }

    #[test]
    fn a_passing_network_is_whitelisted_for_the_sender_domain() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        assert!(attempt(&g, "198.51.100.7", "a@big.example", "x@example.net", T0).is_some());
        assert_eq!(
            attempt(
                &g,
                "198.51.100.7",
                "a@big.example",
                "x@example.net",
                T0 + 600
            ),
            None
        );
        // Other senders and recipients of that domain from that network pass.
        assert_eq!(
            attempt(
                &g,
                "198.51.100.9",
                "other@big.example",
                "y@example.net",
                T0 + 700
            ),
            None
        );
        // Not another domain from the same network.
        assert!(attempt(
            &g,
            "198.51.100.9",
            "a@small.example",
            "y@example.net",
            T0 + 700
        )
        .is_some());
        // Not the same domain from another network.
        assert!(attempt(&g, "192.0.2.9", "a@big.example", "y@example.net", T0 + 700).is_some());
    }

    #[test]
    fn ipv6_networks_are_64s() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        assert!(attempt(&g, "2001:db8:1:2::1", "", "b@example.net", T0).is_some());
        assert_eq!(
            attempt(&g, "2001:db8:1:2:ffff::9", "", "b@example.net", T0 + 300),
            None
        );
        assert!(attempt(&g, "2001:db8:1:3::1", "", "b@example.net", T0 + 300).is_some());
        assert_eq!(
            network("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            network("::ffff:192.0.2.77".parse().unwrap()),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn local_to_local_is_never_greylisted() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        for peer in ["127.0.0.1", "::1", "203.0.113.5"] {
            assert_eq!(
                attempt(&g, peer, "a@example.net", "b@example.net", T0),
                None,
                "{peer}"
            );
        }
        // Our domain from outside: only with SPF pass.
        assert!(attempt(&g, "198.51.100.7", "a@Example.NET", "b@example.net", T0).is_some());
        let c = cx("198.51.100.8", "a@example.net", T0);
        spf(&c, SpfResult::Pass, "example.net");
        assert_eq!(try_rcpt(&g, &c, "b@example.net"), None);
        let c = cx("198.51.100.8", "a@example.net", T0);
        spf(&c, SpfResult::SoftFail, "example.net");
        assert!(try_rcpt(&g, &c, "b@example.net").is_some());
        // Both refusals were of one triplet (same /24); the skipped
        // attempts left nothing.
        assert_eq!(g.entries(), 1);
    }

    #[test]
    fn spf_pass_with_good_history_skips_greylisting() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        let from = "news@shop.example";
        // SPF pass alone is not enough.
        let c = cx("198.51.100.7", from, T0);
        spf(&c, SpfResult::Pass, "shop.example");
        assert!(try_rcpt(&g, &c, "b@example.net").is_some());
        // Two accepted messages that passed SPF or aligned DKIM, from
        // anywhere.
        g.accepted(&c);
        let c2 = cx("192.0.2.1", from, T0 + 10);
        dkim(&c2, DkimResult::Pass, "mail.shop.example");
        g.accepted(&c2);
        // Messages without a pass are not counted.
        let c3 = cx("192.0.2.1", from, T0 + 20);
        dkim(&c3, DkimResult::Pass, "other.example");
        spf(&c3, SpfResult::Fail, "shop.example");
        g.accepted(&c3);
        // Now SPF pass from a new network is enough.
        let c = cx("203.0.113.77", from, T0 + 30);
        spf(&c, SpfResult::Pass, "shop.example");
        assert_eq!(try_rcpt(&g, &c, "new@example.net"), None);
        // But without SPF pass the history does not help.
        let c = cx("203.0.113.77", from, T0 + 30);
        spf(&c, SpfResult::Neutral, "shop.example");
        assert!(try_rcpt(&g, &c, "new@example.net").is_some());
        // The history ends after the lifetime.
        let c = cx("203.0.113.78", from, T0 + 10 + 36 * 86_400 + 1);
        spf(&c, SpfResult::Pass, "shop.example");
        assert!(try_rcpt(&g, &c, "new2@example.net").is_some());
    }

    #[test]
    fn one_good_message_is_not_enough() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        let c = cx("198.51.100.7", "a@shop.example", T0);
        spf(&c, SpfResult::Pass, "shop.example");
        g.accepted(&c);
        assert!(try_rcpt(&g, &c, "b@example.net").is_some());
        // A DKIM signature in testing mode does not count.
        let c2 = cx("198.51.100.7", "a@shop.example", T0);
        dkim(&c2, DkimResult::Pass, "shop.example");
        if let Some(d) = c2.facts().dkim.as_mut() {
            d.signatures[0].testing = true;
        }
        g.accepted(&c2);
        let c3 = cx("192.0.2.7", "a@shop.example", T0);
        spf(&c3, SpfResult::Pass, "shop.example");
        assert!(try_rcpt(&g, &c3, "b@example.net").is_some());
    }

    #[test]
    fn state_survives_a_restart() {
        let f = fixture();
        {
            let g = Greylist::new(
                f.tree.clone(),
                Duration::from_secs(60),
                Duration::from_secs(3600),
            );
            assert!(attempt(&g, "198.51.100.7", "", "b@example.net", T0).is_some());
        }
        let g = Greylist::new(
            f.tree.clone(),
            Duration::from_secs(60),
            Duration::from_secs(3600),
        );
        assert_eq!(g.entries(), 1);
        assert_eq!(
            attempt(&g, "198.51.100.7", "", "b@example.net", T0 + 60),
            None
        );
    }

    #[test]
    fn expired_entries_are_pruned() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        for i in 0..300 {
            let _ = attempt(&g, "198.51.100.7", "", &format!("u{i}@example.net"), T0);
        }
        assert_eq!(g.entries(), 300);
        // A day and more later, pending entries have expired; the calls
        // prune them in batches.
        let later = T0 + 86_401;
        for i in 0..(PRUNE_EVERY * 4) {
            let _ = attempt(
                &g,
                "192.0.2.1",
                "",
                &format!("n{}@example.net", i % 4),
                later,
            );
        }
        assert_eq!(g.entries(), 4);
        assert_eq!(f.tree.len(), 4);
    }

    #[test]
    fn entry_count_is_capped() {
        let f = fixture();
        let g = Greylist::with_settings(
            f.tree.clone(),
            Settings {
                max_entries: 100,
                ..settings()
            },
        );
        // One passed triplet, then a flood of new ones.
        assert!(attempt(&g, "198.51.100.7", "", "keep@example.net", T0).is_some());
        assert_eq!(
            attempt(&g, "198.51.100.7", "", "keep@example.net", T0 + 300),
            None
        );
        for i in 0..1000 {
            let r = attempt(&g, "192.0.2.1", "", &format!("u{i}@example.net"), T0 + 300);
            assert!(r.is_some());
            assert!(g.entries() <= 100, "{}", g.entries());
        }
        assert!(f.tree.len() <= 100);
        // Pending entries went first: the passed triplet is still there.
        assert_eq!(
            attempt(&g, "198.51.100.7", "", "keep@example.net", T0 + 400),
            None
        );
    }

    #[test]
    fn corrupt_entries_and_hostile_addresses() {
        let f = fixture();
        let g = Greylist::with_settings(f.tree.clone(), settings());
        let tk = key(b't', &["198.51.100.0/24", "", "b@example.net"]);
        f.tree.insert(&tk, &b"\xff\xff\xff garbage"[..]).unwrap();
        // A corrupt entry counts as absent.
        assert!(attempt(&g, "198.51.100.7", "", "b@example.net", T0).is_some());
        assert_eq!(
            attempt(&g, "198.51.100.7", "", "b@example.net", T0 + 300),
            None
        );
        // Huge and odd addresses are cut in keys and do not panic.
        let huge = format!("{}@{}.example", "\u{e9}".repeat(5000), "x".repeat(5000));
        assert!(attempt(&g, "198.51.100.7", &huge, &huge, T0).is_some());
        assert!(attempt(&g, "198.51.100.7", "a\0b@x.example", "\0@\0", T0).is_some());
        assert!(f
            .tree
            .iter()
            .keys()
            .all(|k| k.unwrap().len() < 3 * MAX_ADDRESS * 2 + 64));
    }

    #[test]
    fn from_config() {
        let f = fixture();
        let g = Greylist::from_config(f.tree.clone(), &crate::config::Antispam::default());
        assert_eq!(
            g.settings,
            Settings {
                delay: 300,
                window: 86_400,
                pass_lifetime: 36 * 86_400,
                trusted_after: 2,
                max_entries: 50_000,
            }
        );
    }
}
