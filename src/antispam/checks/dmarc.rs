//! DMARC (RFC 7489) of the From domain, from the SPF and DKIM results.
//! `p=reject` refuses with 550 5.7.1 and `p=quarantine` files in Junk
//! (§6.6.3 leaves both to the receiver: each can be turned off).

use crate::antispam::{Check, Context, Message, Reject, Verdict};
use crate::auth::dkim::verify::DkimOutcome;
use crate::auth::dmarc::{self, AuthInputs, DmarcResult, Policy};
use crate::dns::BoxFuture;

/// What to do with a failing message whose domain asks for it.
#[derive(Debug, Clone)]
pub struct DmarcCheck {
    /// Refuse when the disposition is `reject`.
    pub honour_reject: bool,
    /// Send to Junk when the disposition is `quarantine` (or `reject`
    /// when not honoured).
    pub honour_quarantine: bool,
    /// The `pct=` sample source: a number in 0..100 per message.
    pub sample: fn() -> u8,
}

/// A uniformly random number in 0..100, for `pct=` sampling.
pub fn random_sample() -> u8 {
    (crate::dns::random_u32() % 100) as u8
}

impl Check for DmarcCheck {
    fn name(&self) -> &'static str {
        "dmarc"
    }

    fn data<'a>(&'a self, cx: &'a Context, msg: &'a Message<'a>) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(async move {
            let from_values = msg.field_values("From");
            let refs: Vec<&[u8]> = from_values.iter().map(|v| &v[..]).collect();
            let domains = dmarc::from_domains(&refs);
            let inputs = {
                let facts = cx.facts();
                let none = DkimOutcome::default();
                AuthInputs::new(facts.spf.as_ref(), facts.dkim.as_ref().unwrap_or(&none))
            };
            let o = dmarc::evaluate(cx.resolver.as_ref(), &domains, &inputs, (self.sample)()).await;
            let why = format!("{} ({})", o.from_domain, o.reason);
            let verdict = match (o.result, o.disposition) {
                (DmarcResult::Pass, _) => Verdict::score("DMARC_PASS", -1.0, why),
                (DmarcResult::Fail, Policy::Reject) if self.honour_reject => Verdict::reject(
                    "DMARC_REJECT",
                    Reject::new(
                        550,
                        "5.7.1",
                        format!("Message rejected by the DMARC policy of {}", o.from_domain),
                    ),
                ),
                (DmarcResult::Fail, Policy::Reject | Policy::Quarantine)
                    if self.honour_quarantine =>
                {
                    Verdict::score("DMARC_QUARANTINE", 3.0, why).to_junk()
                }
                (DmarcResult::Fail, _) => Verdict::score("DMARC_FAIL", 2.0, why),
                (DmarcResult::PermError, _) => Verdict::score("DMARC_PERMERROR", 0.5, why),
                (DmarcResult::TempError, _) => Verdict::score("DMARC_TEMPERROR", 0.0, why),
                (DmarcResult::None, _) => Verdict::score("DMARC_NONE", 0.0, why),
            };
            cx.facts().dmarc = Some(o);
            vec![verdict]
        })
    }
}
