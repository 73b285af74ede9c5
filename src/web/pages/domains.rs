//! Mail domains: list, add, remove; the DNS records each should publish
//! and their live check.

use super::{
    button, csrf, field_error, layout, not_found, post, reply, status, status_of, Ctx, Reply, Req,
    Web,
};
use crate::admin::Request;
use crate::net::dns::StubResolver;
use crate::provision::{dns_check, records};
use crate::web::form::encode;
use hyper::StatusCode;
use maud::html;
use std::time::Duration;

/// The longest a live DNS check may take: each query is bounded by the
/// resolver's timeout and attempts, this bounds the dozen of them.
const DNS_CHECK_LIMIT: Duration = Duration::from_secs(30);

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
                tr { th { "Domain" } th {} th {} }
                @for d in list {
                    tr {
                        td { (d) }
                        td { a href={ "/domains/dns?domain=" (encode(d)) } { "DNS records" } }
                        td { (button(ctx, "/domains", "remove", &[("name", d)], "Remove", true)) }
                    }
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

/// `/domains/dns?domain=D`: the records D should publish; with `check`,
/// what DNS answers for each through our resolver. A check changes
/// nothing, so it is a GET.
pub async fn dns(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let typed = req.form.get("domain").trim();
    let Some(domain) = web
        .domains()
        .await
        .into_iter()
        .find(|d| d.eq_ignore_ascii_case(typed))
    else {
        return not_found();
    };
    let cfg = web.config();
    let expected = {
        let (cfg, domain) = (cfg.clone(), domain.clone());
        // It reads the DKIM keys from the data directory.
        blocking::unblock(move || records::domain_records(&cfg, &domain)).await
    };
    let expected = match expected {
        Ok(r) => r,
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let checks = if req.form.has("check") {
        let resolver = StubResolver::from_config(&cfg.dns);
        let check = async {
            Some(dns_check::dns_check(&resolver, &cfg.server.hostname.0, &expected).await)
        };
        let limit = async {
            smol::Timer::after(DNS_CHECK_LIMIT).await;
            None
        };
        Some(smol::future::or(check, limit).await)
    } else {
        None
    };
    let query = encode(&domain);
    let body = html! {
        p { "Publish these records at the DNS host of " strong { (domain) } "." }
        table {
            tr { th { "Name" } th { "Type" } th { "Value" } }
            @for r in &expected {
                tr.record {
                    td { code { (r.name) } }
                    td { (r.kind.name()) }
                    td {
                        code { (r.value) }
                        @if r.template { " " span.muted { "(fill in your part)" } }
                        br; span.muted { (r.purpose) }
                    }
                }
            }
        }
        h2 { "Live check" }
        @match &checks {
            None => p {
                a href={ "/domains/dns?domain=" (query) "&check=1" } { "Check what DNS has now" }
            },
            Some(None) => p.problem { "The DNS check did not finish in time: the name servers do not answer." },
            Some(Some(list)) => table {
                tr { th { "Record" } th { "Expected" } th { "Found" } th { "Status" } }
                @for c in list {
                    tr.check {
                        td { code { (c.record) } }
                        td { code { (c.expected) } }
                        td { code { (c.found) } }
                        td.verdict { (c.label()) }
                    }
                }
            },
        }
    };
    reply(
        StatusCode::OK,
        layout(Some(ctx), &format!("DNS records of {domain}"), body),
    )
}
