//! Mail domains: list, add, remove.

use super::{button, csrf, field_error, layout, post, reply, status_of, Ctx, Reply, Req, Web};
use crate::admin::Request;
use maud::html;

/// `/domains`.
pub async fn page(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let failed = match post(web, ctx, req, "/domains", |action, f| match action {
        "add" => Some(Request::DomainAdd(f.get("name").trim().to_string())),
        "remove" => Some(Request::DomainRemove(f.get("name").to_string())),
        _ => None,
    })
    .await
    {
        Ok(failed) => failed,
        Err(done) => return done,
    };
    let domains = web.call(Request::DomainList).await;
    let typed = if req.method == hyper::Method::POST {
        req.form.get("name")
    } else {
        ""
    };
    let body = html! {
        @if let Some(e) = failed.as_ref().and_then(|f| f.of("remove")) { p.problem { (e) } }
        @match &domains {
            Err(e) => p.problem { (e) },
            Ok(list) => table {
                tr { th { "Domain" } th {} }
                @for d in list {
                    tr { td { (d) } td { (button(ctx, "/domains", "remove", &[("name", d)], "Remove", true)) } }
                }
            },
        }
        h2 { "Add a domain" }
        form.box method="post" action="/domains" {
            (csrf(ctx))
            input type="hidden" name="action" value="add";
            label for="name" { "Domain name" }
            input #name type="text" name="name" value=(typed) placeholder="example.com" required;
            (field_error(failed.as_ref().and_then(|f| f.of("add"))))
            button type="submit" { "Add" }
        }
    };
    reply(status_of(&failed), layout(Some(ctx), "Domains", body))
}
