//! Importing from an IMAP account (`imaps://LOGIN@HOST[:PORT]`): each
//! selectable folder is examined read-only, the flags, date, size and
//! Message-ID of its messages are fetched a page at a time, and only the
//! bodies of messages not already in the target folder are fetched, one at
//! a time and streamed to the store. A connection lost mid-message loses
//! only that message's temp file: the client logs in again and goes on
//! from the page it was on, and what was stored already is skipped.

use super::{header_field, DupKey, Target};
use crate::net::imap_client::{Client, Folder};
use crate::net::smtp_client::{opportunistic_tls, read_certificates, verified_tls};
use std::sync::Arc;

/// Messages whose summaries are fetched at once (about 150 bytes each).
const PAGE: u32 = 500;

/// Times the connection is made again after it fails in one import.
const RECONNECTS: u32 = 5;

/// The IMAP account to import from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login (an address may be written as is: the last `@` starts
    /// the host).
    pub login: String,
    /// The server's host name.
    pub host: String,
    /// Its port (993 by default: IMAP over TLS, RFC 8314).
    pub port: u16,
}

impl Account {
    /// Reads `imaps://LOGIN@HOST[:PORT]` (`%40` in LOGIN is `@`).
    pub fn parse(url: &str) -> Result<Account, String> {
        let bad = || format!("{url}: expected imaps://LOGIN@HOST[:PORT]");
        let rest = url.strip_prefix("imaps://").ok_or_else(|| {
            if url.starts_with("imap://") {
                "imap:// is not offered: the password would travel in the clear; use imaps://"
                    .to_string()
            } else {
                bad()
            }
        })?;
        let rest = rest.trim_end_matches('/');
        let (login, hostport) = rest.rsplit_once('@').ok_or_else(bad)?;
        let login = login.replace("%40", "@");
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse().map_err(|_| bad())?)
            }
            _ => (hostport, 993),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if login.is_empty() || host.is_empty() {
            return Err(bad());
        }
        Ok(Account {
            login,
            host: host.to_string(),
            port,
        })
    }
}

/// Why a pass over a folder stopped.
enum Stop {
    /// The connection failed: connect again and go on.
    Net(std::io::Error),
    /// The store failed: give up.
    Store(String),
}

/// Imports every selectable folder of the account.
pub fn import(
    acct: &Account,
    opts: &super::Options,
    target: &mut Target<'_>,
) -> Result<(), String> {
    let password = opts
        .password
        .clone()
        .ok_or("an IMAP source needs the password (on stdin)")?;
    let tls = if opts.insecure {
        opportunistic_tls()?
    } else {
        let extra = match &opts.ca {
            Some(path) => read_certificates(path)?,
            None => Vec::new(),
        };
        verified_tls(&extra)?
    };
    smol::block_on(run(acct, &password, tls, target))
}

async fn connect(
    acct: &Account,
    password: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Client, String> {
    Client::login(&acct.host, acct.port, tls.clone(), &acct.login, password)
        .await
        .map_err(|e| format!("{}:{}: {e}", acct.host, acct.port))
}

async fn run(
    acct: &Account,
    password: &str,
    tls: Arc<rustls::ClientConfig>,
    target: &mut Target<'_>,
) -> Result<(), String> {
    let mut client = connect(acct, password, &tls).await?;
    let folders = client.folders().await.map_err(|e| format!("LIST: {e}"))?;
    let mut reconnects = 0;
    for f in folders {
        let noselect = f.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        });
        if noselect {
            continue;
        }
        let special = f
            .attributes
            .iter()
            .find(|a| {
                [
                    "\\sent",
                    "\\drafts",
                    "\\junk",
                    "\\trash",
                    "\\archive",
                    "\\all",
                    "\\flagged",
                ]
                .contains(&a.to_ascii_lowercase().as_str())
            })
            .map(String::as_str);
        let Some(folder) = target.folder(&f.name, special)? else {
            continue;
        };
        let mut next = 1;
        let mut counted = 0;
        loop {
            match pass(&mut client, &f, &folder, target, &mut next, &mut counted).await {
                Ok(()) => break,
                Err(Stop::Store(e)) => return Err(e),
                Err(Stop::Net(e)) if reconnects < RECONNECTS => {
                    reconnects += 1;
                    log::warn!(
                        "import: {}:{} {}: {e}; connecting again",
                        acct.host,
                        acct.port,
                        f.name
                    );
                    client = connect(acct, password, &tls).await?;
                }
                Err(Stop::Net(e)) => {
                    return Err(format!(
                        "{}:{} {}: {e} (run the import again to go on)",
                        acct.host, acct.port, f.name
                    ))
                }
            }
        }
    }
    client.logout().await;
    Ok(())
}

/// Imports a folder's messages from sequence number `next` on; `next`
/// moves on a page at a time, so a new connection repeats at most one
/// page (whose stored messages are then skipped). `counted`: the
/// messages already in the progress totals.
async fn pass(
    client: &mut Client,
    f: &Folder,
    folder: &str,
    target: &mut Target<'_>,
    next: &mut u32,
    counted: &mut u32,
) -> Result<(), Stop> {
    let exists = client.examine(&f.name).await.map_err(Stop::Net)?;
    while *next <= exists {
        let last = (*next + PAGE - 1).min(exists);
        let page = client.summaries(*next, last).await.map_err(Stop::Net)?;
        if last > *counted {
            target
                .progress
                .add_total(page.len() as u64, page.iter().map(|s| s.size).sum());
            *counted = last;
        }
        for s in page {
            let id = s
                .message_id_header
                .as_deref()
                .and_then(|h| header_field(h, "Message-ID"));
            if let Some(key) = DupKey::new(id.as_deref(), s.size, s.internal_date) {
                if target.has(folder, &key, s.size) {
                    continue;
                }
            }
            let mut msg = target.begin().map_err(Stop::Store)?;
            let got = client
                .fetch_body(s.uid, &mut |d| msg.write(d))
                .await
                .map_err(Stop::Net)?;
            if !got {
                // Expunged at the source meanwhile.
                continue;
            }
            let label = format!("{} UID {}", f.name, s.uid);
            target
                .commit(folder, msg, s.flags, s.keywords, s.internal_date, &label)
                .map_err(Stop::Store)?;
        }
        *next = last + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_urls() {
        let a = |login: &str, host: &str, port| Account {
            login: login.into(),
            host: host.into(),
            port,
        };
        assert_eq!(
            Account::parse("imaps://alice@old.test@imap.old.test"),
            Ok(a("alice@old.test", "imap.old.test", 993))
        );
        assert_eq!(
            Account::parse("imaps://alice%40old.test@127.0.0.1:9993/"),
            Ok(a("alice@old.test", "127.0.0.1", 9993))
        );
        assert_eq!(
            Account::parse("imaps://bob@[::1]:993"),
            Ok(a("bob", "::1", 993))
        );
        assert!(Account::parse("imap://bob@host")
            .unwrap_err()
            .contains("clear"));
        assert!(Account::parse("imaps://host").is_err());
        assert!(Account::parse("imaps://bob@host:x").is_err());
    }
}
