//! The dashboard: the state of the box at a glance (the engine's
//! [`crate::admin::Dashboard`]), and the last lines of the log.

use super::{layout, reply, Ctx, Reply, Web};
use hyper::StatusCode;
use maud::html;

/// Lines of the log shown on the log page.
const LOG_LINES: usize = 200;

/// `/`.
pub async fn page(web: &Web, ctx: &Ctx) -> Reply {
    let d = match web.engine(|a| a.dashboard()).await {
        Ok(d) => d,
        Err(e) => return super::status(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
    let unknown = || "unknown".to_string();
    let body = html! {
        dl.facts {
            dt { "Version" } dd { (d.version) }
            dt { "Up for" } dd { (uptime(d.uptime_secs)) }
            dt { "Memory" } dd { (d.rss_bytes.map_or_else(unknown, mib)) }
            dt { "Free disk space" } dd { (d.disk_free.map_or_else(unknown, mib)) }
            dt { "Outbound queue" } dd { a href="/queue" { (d.queue_length) " message(s)" } }
            dt { "Certificate expires" } dd { (d.certificate_expiry.map_or_else(unknown, crate::time::rfc3339)) }
        }
        h2 { "Today" }
        dl.facts {
            dt { "Received" } dd { (d.today.received) }
            dt { "Delivered" } dd { (d.today.delivered) }
            dt { "Refused" } dd { (d.today.refused) }
            dt { "Sent to Junk" } dd { (d.today.junked) }
        }
        h2 { "Services" }
        table {
            tr { th { "Service" } th { "State" } th { "Addresses" } }
            @for s in &d.services {
                tr {
                    td { (s.name) }
                    td { @if s.up { "up" } @else { span.muted { "off" } } }
                    td { (s.addrs.join(", ")) }
                }
            }
        }
    };
    reply(StatusCode::OK, layout(Some(ctx), "Dashboard", body))
}

/// `/log`: the last lines of the server's log.
pub async fn log(web: &Web, ctx: &Ctx) -> Reply {
    let lines = web.engine(|a| a.log_tail(LOG_LINES)).await;
    let body = html! {
        p.muted { "The last " (LOG_LINES) " lines, oldest first." }
        pre { @for l in &lines { (l) "\n" } }
    };
    reply(StatusCode::OK, layout(Some(ctx), "Log", body))
}

fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}
