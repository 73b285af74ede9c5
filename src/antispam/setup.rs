//! Builds the pipeline from `[antispam]`.

use super::checks::{
    bayes::BayesCheck,
    dkim::DkimCheck,
    dmarc::{self, DmarcCheck},
    dnsbl::DnsblCheck,
    greylist::Greylist,
    headers::HeaderCheck,
    helo::HeloCheck,
    iprev::IprevCheck,
    ratelimit::{RateLimit, RateLimits},
    spf::SpfCheck,
};
use super::pipeline::Pipeline;
use super::policy::Policy;
use super::Check;
use crate::config::Config;
use crate::dns::Resolver;
use crate::store::Store;
use std::sync::Arc;

/// Which checks to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// The server: every check.
    Server,
    /// `facteur check message`: only what judges the message itself, not
    /// the sender's retry behaviour (no greylisting, no rate limits).
    Diagnosis,
}

/// The pipeline the config describes. `store` is given to checks that
/// keep state; without it they are left out.
pub fn pipeline(
    cfg: &Config,
    store: Option<&Arc<Store>>,
    resolver: Arc<dyn Resolver>,
    usage: Use,
) -> Result<Pipeline, String> {
    let a = &cfg.antispam;
    let mut checks: Vec<Box<dyn Check>> = Vec::new();
    // The sender's behaviour: only for the live server. Rate limits go
    // first so that a flood is refused before any DNS lookup.
    if usage == Use::Server {
        checks.push(Box::new(RateLimit::new(RateLimits::from_config(a))));
    }
    checks.push(Box::new(IprevCheck::new()));
    checks.push(Box::new(HeloCheck::new()));
    if !a.dnsbl.is_empty() {
        checks.push(Box::new(DnsblCheck::new(
            a.dnsbl.clone(),
            a.dnsbl_check_private,
        )));
    }
    checks.push(Box::new(SpfCheck {
        softfail_to_junk: a.spf_softfail_to_junk,
    }));
    checks.push(Box::new(DkimCheck));
    checks.push(Box::new(DmarcCheck {
        honour_reject: a.dmarc_reject,
        honour_quarantine: a.dmarc_quarantine,
        sample: dmarc::random_sample,
    }));
    checks.push(Box::new(HeaderCheck::new()));
    if let Some(store) = store {
        if usage == Use::Server && a.greylisting {
            let tree = store
                .antispam_tree("greylist")
                .map_err(|e| format!("greylisting: {e}"))?;
            checks.push(Box::new(Greylist::from_config(tree, a)));
        }
        let bayes = BayesCheck::open(cfg, store).map_err(|e| format!("bayes: {e}"))?;
        if let Some(bayes) = bayes {
            checks.push(Box::new(bayes));
        }
    }
    let policy = Policy {
        junk_score: a.junk_score,
        reject_score: a.reject_score,
        tempfail_on_dns_error: a.tempfail_on_dns_error,
    };
    Ok(Pipeline::new(
        checks,
        policy,
        a.dns_deadline.0,
        resolver,
        &cfg.server.hostname.0,
    )
    .with_trusted(a.trusted_networks.clone()))
}
