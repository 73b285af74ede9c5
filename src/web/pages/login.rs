//! Signing in and out. The password check is the mail services' own
//! (same verifier, same failure limiter as IMAP).

use super::{csrf, layout, redirect, reply, Ctx, Passwords, Reply, Req, Web};
use crate::web::{session_cookie, Verdict};
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use maud::html;
use std::time::Duration;

/// `GET /login` shows the form; `POST /login` signs in.
pub async fn page(web: &Web, req: &Req<'_>, pw: &dyn Passwords) -> Reply {
    if req.method != Method::POST {
        return form(StatusCode::OK, "", None);
    }
    let user = req.form.get("username").trim();
    let password = req.form.get("password");
    let why = match pw.check(req.peer, user, password).await {
        Verdict::Ok(address) => {
            let Some(token) = web.start_session(&address) else {
                return form(
                    StatusCode::SERVICE_UNAVAILABLE,
                    user,
                    Some("The server could not start a session; try again."),
                );
            };
            log::info!("web: {address} signed in from {}", req.peer);
            let to = if web.is_admin(&address).await {
                "/"
            } else {
                "/account"
            };
            let mut r = redirect(to);
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&token, None)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            return r;
        }
        Verdict::Failed => "Wrong address or password.",
        Verdict::Throttled => "Too many failed attempts: wait a few minutes and try again.",
        Verdict::TempFail => "The server could not check the password; try again.",
    };
    form(StatusCode::UNAUTHORIZED, user, Some(why))
}

fn form(status: StatusCode, user: &str, error: Option<&str>) -> Reply {
    reply(
        status,
        layout(
            None,
            "Sign in",
            html! {
                form.box method="post" action="/login" {
                    @if let Some(e) = error { p.problem { (e) } }
                    label for="username" { "Email address" }
                    input #username type="email" name="username" value=(user) autocomplete="username" required autofocus;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
            },
        ),
    )
}

/// `POST /logout`: ends the session (its token is refused from now on).
pub fn logout(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    if req.method != Method::POST {
        return reply(
            StatusCode::OK,
            layout(
                Some(ctx),
                "Sign out",
                html! { form method="post" action="/logout" { (csrf(ctx)) button type="submit" { "Sign out" } } },
            ),
        );
    }
    web.end_session(&ctx.token);
    log::info!("web: {} signed out", ctx.user);
    let mut r = redirect("/login");
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", Some(Duration::ZERO))) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
