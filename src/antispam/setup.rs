//! Builds the pipeline from `[antispam]`.

use super::checks::{dkim::DkimCheck, dmarc, dmarc::DmarcCheck, spf::SpfCheck};
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
    let _ = (store, usage);
    let checks: Vec<Box<dyn Check>> = vec![
        Box::new(SpfCheck {
            softfail_to_junk: a.spf_softfail_to_junk,
        }),
        Box::new(DkimCheck),
        Box::new(DmarcCheck {
            honour_reject: a.dmarc_reject,
            honour_quarantine: a.dmarc_quarantine,
            sample: dmarc::random_sample,
        }),
    ];
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
    ))
}
