//! SPF (RFC 7208) of the MAIL FROM identity, or of the HELO identity for
//! the null sender (§2.4). The outcome is kept for DMARC and
//! Authentication-Results; a `Received-SPF` field is added (§9.1).

use crate::antispam::{Check, Context, Verdict};
use crate::auth::spf::{self, SpfResult};
use crate::dns::BoxFuture;

/// Scores of the SPF results.
#[derive(Debug, Clone)]
pub struct SpfCheck {
    /// Send a softfail to Junk, whatever the total (§8.5 asks for closer
    /// scrutiny, not refusal).
    pub softfail_to_junk: bool,
}

impl Check for SpfCheck {
    fn name(&self) -> &'static str {
        "spf"
    }

    fn mail_from<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(async move {
            let helo = cx.helo.as_deref().unwrap_or("");
            let from = cx.mail_from.as_deref().unwrap_or("");
            let now = cx.now as i64;
            let outcome =
                spf::check_mail_from(cx.resolver.as_ref(), cx.peer, from, helo, &cx.hostname, now)
                    .await;
            let header = spf::received_spf_header(&outcome);
            let reason = outcome.reason();
            let verdict = match outcome.result {
                SpfResult::Pass => Verdict::score("SPF_PASS", -0.5, reason),
                SpfResult::Fail => Verdict::score("SPF_FAIL", 4.0, reason),
                SpfResult::SoftFail => {
                    let v = Verdict::score("SPF_SOFTFAIL", 2.0, reason);
                    if self.softfail_to_junk {
                        v.to_junk()
                    } else {
                        v
                    }
                }
                SpfResult::Neutral => Verdict::score("SPF_NEUTRAL", 0.0, reason),
                SpfResult::None => Verdict::score("SPF_NONE", 0.5, reason),
                SpfResult::TempError => Verdict::score("SPF_TEMPERROR", 0.0, reason),
                SpfResult::PermError => Verdict::score("SPF_PERMERROR", 1.0, reason),
            };
            cx.facts().spf = Some(outcome);
            vec![verdict.with_header(header)]
        })
    }
}
