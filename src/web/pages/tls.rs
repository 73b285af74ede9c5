//! `/tls`: the server certificate (subject, names, issuer, validity) and
//! the upload of a new PEM chain and key, which the engine checks before
//! anything is replaced.

use super::{csrf, layout, reply, Ctx, Reply, Req, Web};
use crate::provision::cert;
use hyper::{Method, StatusCode};
use maud::html;

/// `/tls`.
pub async fn page(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let now = crate::time::unix_now();
    let mut error = None;
    if req.method == Method::POST {
        let cfg = web.config();
        let chain = req.form.get("chain").to_string();
        let key = req.form.get("key").to_string();
        let installed = web
            .engine(move |a| a.install_certificate(&cfg, chain.as_bytes(), key.as_bytes(), now))
            .await;
        match installed {
            Ok(info) => {
                let message = format!(
                    "New certificate installed for {}; it expires on {}",
                    info.names.join(", "),
                    crate::time::rfc3339(info.not_after)
                );
                return super::after(web, ctx, "/tls", Ok(vec![message]))
                    .unwrap_or_else(|e| super::status(StatusCode::INTERNAL_SERVER_ERROR, &e));
            }
            Err(e) => error = Some(e),
        }
    }
    let cfg = web.config();
    let current = blocking::unblock(move || cert::current(&cfg)).await;
    let body = html! {
        h2 { "Current certificate" }
        @match &current {
            Ok(c) => {
                dl.facts {
                    dt { "Subject" } dd { (c.subject) }
                    dt { "Names" } dd { (c.names.join(", ")) }
                    dt { "Issuer" } dd { (c.issuer) }
                    dt { "Valid from" } dd { (crate::time::rfc3339(c.not_before)) }
                    dt { "Valid until" } dd { (crate::time::rfc3339(c.not_after)) }
                    dt { "Days left" } dd { (c.days_left(now)) }
                }
            }
            Err(e) => { p.problem { (e) } }
        }
        h2 { "Install a new certificate" }
        p { "Paste the certificate chain (the server's certificate first, then the intermediates) and its private key, both in PEM. They are checked to match and to be valid now before they replace the current ones." }
        form.box method="post" action="/tls" {
            (csrf(ctx))
            @if let Some(e) = &error { p.problem { (e) } }
            label for="chain" { "Certificate chain (PEM)" }
            textarea id="chain" name="chain" rows="10" spellcheck="false" { (req.form.get("chain")) }
            label for="key" { "Private key (PEM)" }
            textarea id="key" name="key" rows="6" spellcheck="false" autocomplete="off" {}
            button type="submit" { "Install" }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    reply(status, layout(Some(ctx), "TLS certificate", body))
}
