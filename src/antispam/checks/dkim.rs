//! DKIM (RFC 6376, RFC 8463): scores the signatures the pipeline verified
//! while the message streamed in (`cx.facts().dkim`).

use crate::antispam::{Check, Context, Message, Verdict};
use crate::auth::dkim::verify::DkimResult;
use crate::dns::BoxFuture;

/// Scores of the DKIM results.
#[derive(Debug, Clone, Default)]
pub struct DkimCheck;

impl Check for DkimCheck {
    fn name(&self) -> &'static str {
        "dkim"
    }

    fn data<'a>(&'a self, cx: &'a Context, _msg: &'a Message<'a>) -> BoxFuture<'a, Vec<Verdict>> {
        let mut out = Vec::new();
        if let Some(dkim) = &cx.facts().dkim {
            let pass: Vec<_> = dkim
                .signatures
                .iter()
                .filter(|s| s.result == DkimResult::Pass)
                .collect();
            if let Some(s) = pass.first() {
                out.push(Verdict::score(
                    "DKIM_PASS",
                    -1.0,
                    format!("valid signature of {}", s.domain),
                ));
                // RFC 6376 §8.2: with l=, content can be appended after
                // the signed part; a passing signature that leaves bytes
                // unsigned is worth less.
                if let Some(s) = pass.iter().find(|s| s.unsigned_body_bytes > 0) {
                    out.push(Verdict::score(
                        "DKIM_LENGTH_UNSIGNED",
                        1.5,
                        format!(
                            "{} body bytes after the l= length of {}",
                            s.unsigned_body_bytes, s.domain
                        ),
                    ));
                }
            } else if let Some(s) = dkim
                .signatures
                .iter()
                .find(|s| s.result == DkimResult::Fail)
            {
                out.push(Verdict::score(
                    "DKIM_FAIL",
                    1.5,
                    format!("bad signature of {}: {}", s.domain, s.reason),
                ));
            } else if dkim.signatures.is_empty() {
                out.push(Verdict::score("DKIM_NONE", 0.2, "no signature"));
            }
        }
        Box::pin(std::future::ready(out))
    }
}
