//! The outbound queue: list, retry, remove.

use super::{button, layout, post, reply, status_of, Ctx, Reply, Req, Web};
use crate::admin::Request;
use maud::html;

/// `/queue`.
pub async fn page(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let failed = match post(web, ctx, req, "/queue", |action, f| {
        let id = || f.get("id").parse::<u64>().ok();
        match action {
            "retry" => id().map(Request::QueueRetry),
            "remove" => id().map(Request::QueueRemove),
            "retry-all" => Some(Request::QueueRetryAll),
            _ => None,
        }
    })
    .await
    {
        Ok(failed) => failed,
        Err(done) => return done,
    };
    let entries = web.call(Request::QueueList).await;
    let body = html! {
        @if let Some(f) = &failed { p.problem { (f.error) } }
        @match &entries {
            Err(e) => p.problem { (e) },
            Ok(list) if list.is_empty() => p.muted { "The queue is empty: every message has been delivered." },
            Ok(list) => {
                (button(ctx, "/queue", "retry-all", &[], "Retry all now", false))
                table {
                    tr { th { "Message" } th {} }
                    @for line in list {
                        @let (id, rest) = line.split_once(' ').unwrap_or(("", line.as_str()));
                        tr {
                            td { @if id.parse::<u64>().is_ok() { code { (id) } " " } (rest) }
                            td {
                                @if id.parse::<u64>().is_ok() {
                                    (button(ctx, "/queue", "retry", &[("id", id)], "Retry", false))
                                    (button(ctx, "/queue", "remove", &[("id", id)], "Remove", true))
                                }
                            }
                        }
                    }
                }
            },
        }
    };
    reply(
        status_of(&failed),
        layout(Some(ctx), "Outbound queue", body),
    )
}
