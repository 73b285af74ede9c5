//! The Bayes filter as a check: at the end of DATA, classifies the message
//! once per local account it reaches, with that user's token statistics
//! (or the global pool while the user has too little training), and
//! scores each account's copy on its own.

use crate::antispam::bayes::{tokenise, Bayes, Classified, Pool, Settings};
use crate::antispam::{Check, Context, Message, Verdict};
use crate::dns::BoxFuture;
use std::sync::Arc;

/// Scores messages with the per-user Bayes filter.
pub struct BayesCheck {
    bayes: Arc<Bayes>,
}

impl BayesCheck {
    /// A check over the filter.
    pub fn new(bayes: Arc<Bayes>) -> BayesCheck {
        BayesCheck { bayes }
    }

    /// The check for the configuration: `None` when `antispam.bayes` is
    /// off.
    pub fn open(
        config: &crate::config::Config,
        store: &crate::store::Store,
    ) -> Result<Option<BayesCheck>, crate::store::StoreError> {
        if !config.antispam.bayes {
            return Ok(None);
        }
        let settings = Settings::from_config(&config.antispam);
        Ok(Some(BayesCheck::new(Arc::new(Bayes::open(
            store, settings,
        )?))))
    }
}

/// The verdict for one account's classification, if it scores.
pub fn verdict(bayes: &Bayes, account: &str, c: &Classified) -> Option<Verdict> {
    let score = bayes.score(c.indicator);
    let pool = match c.pool {
        Pool::User => "own",
        Pool::Global => "global",
    };
    let reason = format!(
        "indicator {:.3} over {} tokens ({pool} training)",
        c.indicator, c.clues
    );
    let rule = if score > 0.0 {
        "BAYES_SPAM"
    } else if score < 0.0 {
        "BAYES_HAM"
    } else {
        return None;
    };
    Some(Verdict::score(rule, score, reason).for_account(account))
}

impl Check for BayesCheck {
    fn name(&self) -> &'static str {
        "bayes"
    }

    fn data<'a>(&'a self, cx: &'a Context, msg: &'a Message<'a>) -> BoxFuture<'a, Vec<Verdict>> {
        let accounts = cx.accounts();
        if accounts.is_empty() {
            return crate::antispam::nothing();
        }
        let bayes = self.bayes.clone();
        let path = msg.path.to_path_buf();
        let structure = msg.structure.clone();
        // Reading the file and sled are blocking: off the executor.
        Box::pin(smol::unblock(move || {
            let tokens = match std::fs::File::open(&path)
                .and_then(|f| tokenise(std::io::BufReader::new(f), &structure))
            {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("bayes: cannot read {}: {e}", path.display());
                    return Vec::new();
                }
            };
            let mut out = Vec::new();
            for account in accounts {
                match bayes.classify(&account, &tokens) {
                    Ok(Some(c)) => out.extend(verdict(&bayes, &account, &c)),
                    Ok(None) => {}
                    Err(e) => log::warn!("bayes: cannot classify for {account}: {e}"),
                }
            }
            out
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::antispam::bayes::Tokens;
    use crate::antispam::Recipient;
    use crate::mail::mime::Parser;

    #[test]
    fn scores_each_account_with_its_own_training() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let settings = Settings {
            min_trained: 3,
            ..Settings::default()
        };
        let bayes = Arc::new(Bayes::with_tree(db.open_tree("b").unwrap(), settings));
        for i in 0..3u8 {
            let spam = Tokens::of_text("lottery winner claim prize now");
            let ham = Tokens::of_text("quarterly budget meeting tuesday");
            // Alice learnt that lotteries are spam; Bob that they are ham.
            bayes.train("alice@x", &[i; 32], &spam, true, 0).unwrap();
            bayes
                .train("alice@x", &[i + 10; 32], &ham, false, 0)
                .unwrap();
            bayes
                .train("bob@x", &[i + 20; 32], &spam, false, 0)
                .unwrap();
            bayes.train("bob@x", &[i + 30; 32], &ham, true, 0).unwrap();
        }
        let raw = b"Subject: You are a lottery winner\r\n\r\nClaim your prize now\r\n";
        let dir = std::env::temp_dir().join(format!("facteur-bayes-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("msg.eml");
        std::fs::write(&path, raw).unwrap();
        let mut p = Parser::new();
        p.feed(raw);
        let structure = p.finish();
        let msg = Message {
            header: raw,
            structure: &structure,
            path: &path,
            size: raw.len() as u64,
        };
        let mut cx = Context::new(
            "192.0.2.1".parse().unwrap(),
            "mx.x",
            vec!["x".into()],
            Arc::new(crate::dns::static_resolver::StaticResolver::new()),
            0,
        );
        cx.recipients.push(Recipient {
            address: "team@x".into(),
            accounts: vec!["alice@x".into(), "bob@x".into()],
        });
        let check = BayesCheck::new(bayes);
        let v = smol::block_on(check.data(&cx, &msg));
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(v.len(), 2, "{v:?}");
        let alice = v
            .iter()
            .find(|v| v.account.as_deref() == Some("alice@x"))
            .unwrap();
        let bob = v
            .iter()
            .find(|v| v.account.as_deref() == Some("bob@x"))
            .unwrap();
        assert_eq!(alice.rule, "BAYES_SPAM");
        assert!(alice.score >= 5.0, "{alice:?}");
        assert_eq!(bob.rule, "BAYES_HAM");
        assert!(bob.score < 0.0);
    }
}
