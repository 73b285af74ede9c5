//! The checks, one per file. Each implements [`super::Check`].

pub mod bayes;
pub mod dkim;
pub mod dmarc;
pub mod dnsbl;
pub mod greylist;
pub mod headers;
pub mod helo;
pub mod iprev;
pub mod ratelimit;
pub mod spf;

use crate::dns::BoxFuture;
use std::task::Poll;

/// Polls all futures to completion, concurrently, on the current task
/// (DNS lookups of one check that do not depend on each other).
pub(crate) async fn join_all<T>(mut futures: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    let mut done: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|task| {
        let mut pending = false;
        for (fut, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(task) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// A peer-supplied string made safe and short for a reason or a log line:
/// at most `max` characters, controls and non-ASCII shown as `?`.
pub(crate) fn shown(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// Whether a name is a syntactically valid host name (RFC 1035 §2.3.1,
/// RFC 1123 §2.1: letters, digits and hyphens, labels of 1 to 63 bytes
/// that neither start nor end with a hyphen, 253 bytes in all), without
/// a trailing dot. `_` is accepted in labels, as DNS allows it and some
/// real hosts use it.
pub(crate) fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
