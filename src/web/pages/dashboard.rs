//! The dashboard: the state of the box at a glance.

use super::{layout, reply, Ctx, Reply, Web};
use crate::admin::Request;
use hyper::StatusCode;
use maud::html;

/// `/`.
pub async fn page(web: &Web, ctx: &Ctx) -> Reply {
    let count =
        |r: Result<Vec<String>, String>| r.map(|l| l.len().to_string()).unwrap_or_else(|e| e);
    let domains = count(web.call(Request::DomainList).await);
    let users = count(web.call(Request::UserList).await);
    let body = html! {
        dl.facts {
            dt { "Version" } dd { (env!("CARGO_PKG_VERSION")) }
            dt { "Domains" } dd { a href="/domains" { (domains) } }
            dt { "Users" } dd { a href="/users" { (users) } }
        }
    };
    reply(StatusCode::OK, layout(Some(ctx), "Dashboard", body))
}
