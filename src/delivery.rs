//! Local recipient resolution: which accounts (or remote addresses) an
//! address on one of our domains stands for.
//!
//! Rules, in order, for `local@domain` on a local domain:
//! 1. an account with that address;
//! 2. an alias with that address, expanded (targets may be accounts, other
//!    aliases or remote addresses; nesting is followed with loop detection);
//! 3. plus-addressing: `user+tag@domain` is tried as `user@domain` (1, 2);
//! 4. the domain's catch-all alias `@domain`, only when nothing above
//!    matched.

use crate::store::{Store, StoreError};
use std::collections::BTreeSet;

/// How deep aliases may nest.
pub const MAX_ALIAS_DEPTH: usize = 10;
/// Most addresses one recipient may expand to.
pub const MAX_EXPANSION: usize = 200;

/// What an address resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Local accounts to deliver to (sorted, without duplicates).
    pub accounts: BTreeSet<String>,
    /// Remote addresses to forward to.
    pub remote: BTreeSet<String>,
}

impl Resolved {
    /// Nothing to deliver to.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.remote.is_empty()
    }
}

/// Why an address does not resolve.
#[derive(Debug)]
pub enum ResolveError {
    /// No account, alias or catch-all matches (or only a loop).
    Unknown,
    /// The domain is not ours.
    NotLocal,
    /// The alias graph nests too deep or expands too far.
    TooComplex,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for ResolveError {
    fn from(e: StoreError) -> Self {
        ResolveError::Store(e)
    }
}

/// Resolves `address` (any case) to its final destinations.
pub fn resolve(store: &Store, address: &str) -> Result<Resolved, ResolveError> {
    let address = address.to_lowercase();
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Err(ResolveError::Unknown);
    };
    if !store.is_local_domain(domain)? {
        return Err(ResolveError::NotLocal);
    }
    let mut out = Resolved::default();
    let mut seen = BTreeSet::new();
    expand(store, &address, 0, &mut seen, &mut out)?;
    if out.is_empty() {
        Err(ResolveError::Unknown)
    } else {
        Ok(out)
    }
}

fn expand(
    store: &Store,
    address: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut Resolved,
) -> Result<(), ResolveError> {
    if depth > MAX_ALIAS_DEPTH || seen.len() > MAX_EXPANSION {
        return Err(ResolveError::TooComplex);
    }
    if !seen.insert(address.to_string()) {
        // A loop (or a diamond): this branch adds nothing new.
        return Ok(());
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Ok(());
    };
    if !store.is_local_domain(domain)? {
        out.remote.insert(address.to_string());
        return Ok(());
    }
    if lookup(store, address, depth, seen, out)? {
        return Ok(());
    }
    // RFC 5233-style subaddress: user+tag@domain -> user@domain.
    if let Some((base, _tag)) = local.split_once('+') {
        if !base.is_empty() && lookup(store, &format!("{base}@{domain}"), depth, seen, out)? {
            return Ok(());
        }
    }
    // The catch-all applies only to addresses nothing else matched.
    let catch_all = format!("@{domain}");
    if let Some(alias) = store.alias(&catch_all)? {
        if seen.insert(catch_all) {
            for t in alias.targets {
                expand(store, &t, depth + 1, seen, out)?;
            }
        }
    }
    Ok(())
}

/// Exact account or alias match; true when `address` is known.
fn lookup(
    store: &Store,
    address: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut Resolved,
) -> Result<bool, ResolveError> {
    if store.account(address)?.is_some() {
        out.accounts.insert(address.to_string());
        return Ok(true);
    }
    if let Some(alias) = store.alias(address)? {
        for t in alias.targets {
            expand(store, &t, depth + 1, seen, out)?;
        }
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta::testing::TestStore;

    fn accounts(r: Result<Resolved, ResolveError>) -> Vec<String> {
        r.unwrap().accounts.into_iter().collect()
    }

    #[test]
    fn accounts_aliases_nesting_and_remote_targets() {
        let t = TestStore::new("resolve");
        let s = &t.store;
        s.add_alias(
            "team@example.test",
            &["alice@example.test".into(), "sales@example.test".into()],
        )
        .unwrap();
        s.add_alias(
            "sales@example.test",
            &["bob@example.test".into(), "x@remote.test".into()],
        )
        .unwrap();
        assert_eq!(
            accounts(resolve(s, "Alice@Example.test")),
            ["alice@example.test"]
        );
        let r = resolve(s, "team@example.test").unwrap();
        assert_eq!(
            r.accounts.iter().collect::<Vec<_>>(),
            ["alice@example.test", "bob@example.test"]
        );
        assert_eq!(r.remote.iter().collect::<Vec<_>>(), ["x@remote.test"]);
        assert!(matches!(
            resolve(s, "nobody@example.test"),
            Err(ResolveError::Unknown)
        ));
        assert!(matches!(
            resolve(s, "a@remote.test"),
            Err(ResolveError::NotLocal)
        ));
    }

    #[test]
    fn loops_are_cut_and_a_pure_loop_is_unknown() {
        let t = TestStore::new("resolve");
        let s = &t.store;
        s.add_alias(
            "a@example.test",
            &["b@example.test".into(), "alice@example.test".into()],
        )
        .unwrap();
        s.add_alias(
            "b@example.test",
            &["a@example.test".into(), "bob@example.test".into()],
        )
        .unwrap();
        assert_eq!(
            accounts(resolve(s, "a@example.test")),
            ["alice@example.test", "bob@example.test"]
        );
        s.add_alias("x@example.test", &["y@example.test".into()])
            .unwrap();
        s.add_alias("y@example.test", &["x@example.test".into()])
            .unwrap();
        assert!(matches!(
            resolve(s, "x@example.test"),
            Err(ResolveError::Unknown)
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let t = TestStore::new("resolve");
        let s = &t.store;
        for i in 0..=MAX_ALIAS_DEPTH + 1 {
            s.add_alias(
                &format!("n{i}@example.test"),
                &[format!("n{}@example.test", i + 1)],
            )
            .unwrap();
        }
        assert!(matches!(
            resolve(s, "n0@example.test"),
            Err(ResolveError::TooComplex)
        ));
    }

    #[test]
    fn plus_addressing_and_catch_all_only_for_the_unmatched() {
        let t = TestStore::new("resolve");
        let s = &t.store;
        s.add_alias("@example.test", &["bob@example.test".into()])
            .unwrap();
        s.add_alias("info@example.test", &["carol@other.test".into()])
            .unwrap();
        assert_eq!(
            accounts(resolve(s, "alice+news@example.test")),
            ["alice@example.test"]
        );
        assert_eq!(
            accounts(resolve(s, "info+x@example.test")),
            ["carol@other.test"]
        );
        assert_eq!(
            accounts(resolve(s, "alice@example.test")),
            ["alice@example.test"]
        );
        assert_eq!(
            accounts(resolve(s, "info@example.test")),
            ["carol@other.test"]
        );
        assert_eq!(
            accounts(resolve(s, "whoever@example.test")),
            ["bob@example.test"]
        );
        assert_eq!(
            accounts(resolve(s, "user%remote.test@example.test")),
            ["bob@example.test"]
        );
        assert!(matches!(
            resolve(s, "whoever@other.test"),
            Err(ResolveError::Unknown)
        ));
    }
}
