//! One's own account: the password, the settings to type into a mail
//! client, and an Apple configuration profile.

use super::{csrf, field_error, layout, reply, Ctx, Passwords, Reply, Req, Web};
use crate::admin::Request;
use crate::web::Verdict;
use hyper::{Method, StatusCode};
use maud::html;

/// `/account`.
pub async fn page(web: &Web, ctx: &Ctx, req: &Req<'_>, pw: &dyn Passwords) -> Reply {
    let mut error = None;
    if req.method == Method::POST {
        match change_password(web, ctx, req, pw).await {
            Ok(reply) => return reply,
            Err(e) => error = Some(e),
        }
    }
    let domains = web.domains().await;
    let settings =
        crate::provision::settings::ClientSettings::for_address(&web.config(), &domains, &ctx.user);
    let body = html! {
        h2 { "Mail client settings" }
        @match &settings {
            Err(e) => p.problem { (e.to_string()) },
            Ok(s) => {
                p { "Most mail programs find these by themselves from your address. If yours asks, use these, with your email address as the user name." }
                table {
                    tr { th { "Server" } th { "Host" } th { "Port" } th { "Security" } }
                    @for (kind, e) in s.incoming.iter().map(|e| ("Incoming", e)).chain(s.outgoing.iter().map(|e| ("Outgoing", e))) {
                        tr { td { (kind) " (" (e.protocol.name()) ")" } td { (e.host) } td { (e.port) } td { (e.security.label()) } }
                    }
                }
                p { a href="/account/mobileconfig" download="mail.mobileconfig" { "Download the profile for iPhone, iPad and Mac" } }
            }
        }
        h2 { "Change my password" }
        form.box method="post" action="/account" {
            (csrf(ctx))
            label for="current" { "Current password" }
            input #current type="password" name="current" autocomplete="current-password" required;
            label for="new" { "New password" }
            input #new type="password" name="new" autocomplete="new-password" required;
            label for="confirm" { "New password again" }
            input #confirm type="password" name="confirm" autocomplete="new-password" required;
            (field_error(error.as_deref()))
            button type="submit" { "Change" }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    reply(status, layout(Some(ctx), "My account", body))
}

async fn change_password(
    web: &Web,
    ctx: &Ctx,
    req: &Req<'_>,
    pw: &dyn Passwords,
) -> Result<Reply, String> {
    let f = &req.form;
    if f.get("new") != f.get("confirm") {
        return Err("The two new passwords differ.".into());
    }
    // The current password first, through the login limiter: a session
    // left open must not let someone else take the account.
    match pw.check(req.peer, &ctx.user, f.get("current")).await {
        Verdict::Ok(_) => {}
        Verdict::Failed => return Err("The current password is wrong.".into()),
        Verdict::Throttled => return Err("Too many failed attempts: wait a few minutes.".into()),
        Verdict::TempFail => return Err("The password could not be checked; try again.".into()),
    }
    let result = web
        .call(Request::UserPasswd {
            address: ctx.user.clone(),
            password: Some(f.get("new").to_string()),
        })
        .await;
    super::after(web, ctx, "/account", result)
}

/// `/account/mobileconfig`: the Apple configuration profile for one's
/// own address.
pub async fn mobileconfig(web: &Web, ctx: &Ctx) -> Reply {
    use bytes::Bytes;
    use hyper::header::{self, HeaderValue};
    let domains = web.domains().await;
    match crate::provision::mobileconfig::mobileconfig(&web.config(), &domains, &ctx.user) {
        Ok(doc) => {
            let mut r = hyper::Response::new(http_body_util::Full::new(Bytes::from(doc)));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-apple-aspen-config"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"mail.mobileconfig\""),
            );
            r
        }
        Err(e) => super::status(StatusCode::NOT_FOUND, &e.to_string()),
    }
}
