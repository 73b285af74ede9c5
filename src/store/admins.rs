//! Accounts, with who may administer the box, and the first setup of a
//! box (domains and accounts in one transaction).
//!
//! The admin flag is a key in the `admins` tree, not a field of
//! [`Account`]: account records are postcard-encoded without field names,
//! so a new field would make every record written before unreadable.

use super::records::{encode, Account, Domain};
use super::{
    abort, mailbox_key, new_mailbox, normalise_address, normalise_domain, unix_now, Store,
    StoreError, DEFAULT_MAILBOXES,
};
use sled::transaction::TransactionError;
use sled::Transactional;

/// An account to create with [`Store::setup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// `local@domain`.
    pub address: String,
    /// argon2id hash in PHC string format.
    pub password_hash: String,
    /// Whether the account may administer the box.
    pub admin: bool,
}

impl Store {
    pub(super) fn lock_admins(&self) -> std::sync::MutexGuard<'_, ()> {
        // Guards no data of its own: usable after a panic.
        self.admin_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `domains` (those that exist already are kept) and `accounts`
    /// with their default mailboxes (subscribed) and admin flags, in one
    /// transaction: either all of it is done, or nothing (an account that
    /// exists, a bad address, an account outside the local domains fail
    /// the whole call). Returns the accounts, in order.
    pub fn setup(
        &self,
        domains: &[String],
        accounts: &[NewAccount],
    ) -> Result<Vec<Account>, StoreError> {
        let domains = domains
            .iter()
            .map(|d| normalise_domain(d))
            .collect::<Result<Vec<_>, _>>()?;
        let now = unix_now();
        let mut new = Vec::with_capacity(accounts.len());
        for a in accounts {
            let address = normalise_address(&a.address)?;
            let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            if !domains.iter().any(|d| d == domain) && !self.is_local_domain(domain)? {
                return Err(StoreError::Invalid(format!(
                    "{domain} is not a local domain; add it first with `facteur domain add {domain}`"
                )));
            }
            if new
                .iter()
                .any(|(n, _): &(Account, bool)| n.address == address)
            {
                return Err(StoreError::Invalid(format!("{address} is given twice")));
            }
            let account = Account {
                address,
                password_hash: a.password_hash.clone(),
                quota: 0,
                created: now,
            };
            new.push((account, a.admin));
        }
        let ids: Vec<u64> = (0..new.len() * DEFAULT_MAILBOXES.len())
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        let _admins = self.lock_admins();
        let trees = (
            &self.domains,
            &self.accounts,
            &self.aliases,
            &self.mailboxes,
            &self.mailbox_ids,
            &self.subscriptions,
            &self.admins,
        );
        let r: Result<(), TransactionError<StoreError>> =
            trees.transaction(|(dom, acc, ali, mbx, mids, subs, adm)| {
                for name in &domains {
                    if dom.get(name.as_bytes())?.is_none() {
                        let d = Domain {
                            name: name.clone(),
                            created: now,
                        };
                        dom.insert(name.as_bytes(), encode(&d))?;
                    }
                }
                let mut ids = ids.iter();
                for (account, admin) in &new {
                    let address = &account.address;
                    if acc.get(address.as_bytes())?.is_some() {
                        return abort(StoreError::Exists(format!("user {address}")));
                    }
                    if ali.get(address.as_bytes())?.is_some() {
                        return abort(StoreError::Exists(format!("alias {address}")));
                    }
                    acc.insert(address.as_bytes(), encode(account))?;
                    for ((name, special), id) in DEFAULT_MAILBOXES.iter().zip(ids.by_ref()) {
                        let m = new_mailbox(*id, address, name, *special);
                        let key = mailbox_key(address, name);
                        mbx.insert(key.as_slice(), encode(&m))?;
                        mids.insert(&id.to_be_bytes(), key.as_slice())?;
                        subs.insert(key.as_slice(), &[])?;
                    }
                    if *admin {
                        adm.insert(address.as_bytes(), &[])?;
                    }
                }
                Ok(())
            });
        r?;
        self.flush()?;
        Ok(new.into_iter().map(|(a, _)| a).collect())
    }

    /// Whether `address` is an admin account.
    pub fn is_admin(&self, address: &str) -> Result<bool, StoreError> {
        Ok(self
            .admins
            .contains_key(address.to_ascii_lowercase().as_bytes())?)
    }

    /// The admin accounts, sorted.
    pub fn admins(&self) -> Result<Vec<String>, StoreError> {
        self.admins
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// Whether any admin account exists (a box without one is unclaimed).
    pub fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(!self.admins.is_empty())
    }

    /// Makes an existing account an admin, or takes the flag away. The
    /// last admin's flag cannot be taken away: a box must keep a way to
    /// be administered.
    pub fn set_admin(&self, address: &str, on: bool) -> Result<(), StoreError> {
        let address = address.to_ascii_lowercase();
        let _admins = self.lock_admins();
        if !on {
            self.refuse_last_admin(&address)?;
        }
        let r: Result<(), TransactionError<StoreError>> = (&self.accounts, &self.admins)
            .transaction(|(acc, adm)| {
                if acc.get(address.as_bytes())?.is_none() {
                    return abort(StoreError::NotFound(format!("user {address}")));
                }
                if on {
                    adm.insert(address.as_bytes(), &[])?;
                } else {
                    adm.remove(address.as_bytes())?;
                }
                Ok(())
            });
        r?;
        self.flush()
    }

    /// Fails when `address` is the only admin. Called with the admin lock
    /// held, before a change that would take its flag away.
    pub(super) fn refuse_last_admin(&self, address: &str) -> Result<(), StoreError> {
        if self.is_admin(address)? && self.admins.len() == 1 {
            return Err(StoreError::Invalid(format!(
                "{address} is the last admin; make another account an admin first"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> std::path::PathBuf {
        crate::testing::temp_dir("admins")
    }

    fn account(address: &str, admin: bool) -> NewAccount {
        NewAccount {
            address: address.into(),
            password_hash: "hash".into(),
            admin,
        }
    }

    #[test]
    fn the_admin_flag_is_set_and_the_last_one_kept() {
        let dir = tmp();
        let s = Store::open(&dir, 1 << 20).unwrap();
        s.add_domain("example.test").unwrap();
        s.add_account("alice@example.test", "h").unwrap();
        s.add_account("bob@example.test", "h").unwrap();
        assert!(!s.has_admin().unwrap());
        assert!(!s.is_admin("alice@example.test").unwrap());
        s.set_admin("Alice@example.test", true).unwrap();
        assert!(s.is_admin("alice@example.test").unwrap());
        assert!(s.has_admin().unwrap());
        assert!(matches!(
            s.set_admin("carol@example.test", true),
            Err(StoreError::NotFound(_))
        ));
        // The last admin keeps the flag, and the account.
        assert!(matches!(
            s.set_admin("alice@example.test", false),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.remove_account("alice@example.test"),
            Err(StoreError::Invalid(_))
        ));
        assert!(s.account("alice@example.test").unwrap().is_some());
        // With a second admin, either may go.
        s.set_admin("bob@example.test", true).unwrap();
        assert_eq!(
            s.admins().unwrap(),
            ["alice@example.test", "bob@example.test"]
        );
        s.set_admin("alice@example.test", false).unwrap();
        assert_eq!(s.admins().unwrap(), ["bob@example.test"]);
        s.set_admin("alice@example.test", true).unwrap();
        s.remove_account("alice@example.test").unwrap();
        assert_eq!(s.admins().unwrap(), ["bob@example.test"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// An index written before the admin flag existed (no `admins` tree)
    /// opens with its accounts readable and no admin: the box is
    /// unclaimed until an account is made an admin.
    #[test]
    fn an_index_from_before_the_admin_flag_opens() {
        let dir = tmp();
        {
            let s = Store::open(&dir, 1 << 20).unwrap();
            s.add_domain("example.test").unwrap();
            s.add_account("alice@example.test", "h").unwrap();
            s.db.drop_tree("admins").unwrap();
            s.flush().unwrap();
        }
        let s = Store::open(&dir, 1 << 20).unwrap();
        let a = s.account("alice@example.test").unwrap().unwrap();
        assert_eq!(a.password_hash, "h");
        assert!(!s.has_admin().unwrap());
        s.set_admin("alice@example.test", true).unwrap();
        drop(s);
        let s = Store::open(&dir, 1 << 20).unwrap();
        assert!(s.is_admin("alice@example.test").unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn setup_is_all_or_nothing() {
        let dir = tmp();
        let s = Store::open(&dir, 1 << 20).unwrap();
        s.add_domain("example.test").unwrap();
        s.add_account("taken@example.test", "h").unwrap();
        let domains = ["new.test".to_string(), "example.test".to_string()];
        // One account exists: nothing is added, not even the domain.
        let r = s.setup(
            &domains,
            &[
                account("boss@new.test", true),
                account("taken@example.test", false),
            ],
        );
        assert!(matches!(r, Err(StoreError::Exists(_))), "{r:?}");
        assert!(!s.is_local_domain("new.test").unwrap());
        assert!(s.account("boss@new.test").unwrap().is_none());
        assert!(!s.has_admin().unwrap());
        // A bad address or a foreign domain: the same.
        for bad in ["not an address", "x@elsewhere.test"] {
            let r = s.setup(
                &domains,
                &[account("boss@new.test", true), account(bad, false)],
            );
            assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
            assert!(!s.is_local_domain("new.test").unwrap());
        }
        // All good: everything at once.
        let added = s
            .setup(
                &domains,
                &[
                    account("Boss@new.test", true),
                    account("staff@example.test", false),
                ],
            )
            .unwrap();
        assert_eq!(added[0].address, "boss@new.test");
        assert!(s.is_local_domain("new.test").unwrap());
        assert_eq!(s.admins().unwrap(), ["boss@new.test"]);
        assert_eq!(s.mailboxes("staff@example.test").unwrap().len(), 6);
        assert_eq!(s.subscriptions("boss@new.test").unwrap().len(), 6);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
