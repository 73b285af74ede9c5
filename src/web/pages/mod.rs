//! The pages: a route table, the common layout, and one module per page.

pub mod account;
pub mod aliases;
pub mod autoconfig;
pub mod dashboard;
pub mod domains;
pub mod login;
pub mod metrics;
pub mod queue;
pub mod settings;
pub mod tls;
pub mod users;
pub mod wizard;

use super::{Ctx, Passwords, Reply, Req, Web};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use maud::{html, Markup, DOCTYPE};

/// The stylesheet, the only one: no inline styles (the CSP forbids them).
const STYLE: &str = include_str!("style.css");

/// Every path the web listener knows; anything else is 404 and touches
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/style.css`.
    Style,
    /// `/setup`: the first-boot wizard.
    Setup,
    /// `/login` (GET form, POST sign-in).
    Login,
    /// `/logout` (POST).
    Logout,
    /// `/`: the dashboard.
    Dashboard,
    /// `/domains` and its actions.
    Domains,
    /// `/domains/dns?domain=D`: the records of D to publish, and their
    /// live check (`&check=1`).
    DomainDns,
    /// `/users` and its actions.
    Users,
    /// `/aliases` and its actions.
    Aliases,
    /// `/queue` and its actions.
    Queue,
    /// `/relay`: the smarthost settings.
    Relay,
    /// `/relay/test` (POST): a test connection to the smarthost.
    RelayTest,
    /// `/spam`: the spam filter settings.
    Spam,
    /// `/tls`: the certificate, and the upload of a new one.
    Tls,
    /// `/log`: the last lines of the log.
    Log,
    /// `/account`: one's own password and client settings.
    Account,
    /// `/account/mobileconfig`: one's Apple configuration profile.
    MobileConfig,
    /// Thunderbird's autoconfig document (no login).
    Autoconfig,
    /// Outlook's autodiscover (no login).
    Autodiscover,
    /// `/metrics`: Prometheus text, for loopback or the metrics token.
    Metrics,
}

impl Route {
    /// The route of `path`.
    pub fn of(path: &str) -> Option<Route> {
        Some(match path {
            "/style.css" => Route::Style,
            "/setup" => Route::Setup,
            "/login" => Route::Login,
            "/logout" => Route::Logout,
            "/" => Route::Dashboard,
            "/domains" => Route::Domains,
            "/domains/dns" => Route::DomainDns,
            "/users" => Route::Users,
            "/aliases" => Route::Aliases,
            "/queue" => Route::Queue,
            "/relay" => Route::Relay,
            "/relay/test" => Route::RelayTest,
            "/spam" => Route::Spam,
            "/tls" => Route::Tls,
            "/log" => Route::Log,
            "/account" => Route::Account,
            "/account/mobileconfig" => Route::MobileConfig,
            "/metrics" => Route::Metrics,
            "/.well-known/autoconfig/mail/config-v1.1.xml" | "/mail/config-v1.1.xml" => {
                Route::Autoconfig
            }
            "/autodiscover/autodiscover.xml" | "/Autodiscover/Autodiscover.xml" => {
                Route::Autodiscover
            }
            _ => return None,
        })
    }

    /// Whether only admin accounts may open it.
    pub fn admin_only(self) -> bool {
        matches!(
            self,
            Route::Dashboard
                | Route::Domains
                | Route::DomainDns
                | Route::Users
                | Route::Aliases
                | Route::Queue
                | Route::Relay
                | Route::RelayTest
                | Route::Spam
                | Route::Tls
                | Route::Log
        )
    }

    /// Whether its POST carries a certificate upload (larger body limit).
    pub fn is_upload(self) -> bool {
        self == Route::Tls
    }
}

/// Runs the page of `route` for a signed-in user.
pub async fn dispatch(
    web: &Web,
    route: Route,
    ctx: &mut Ctx,
    req: &Req<'_>,
    pw: &dyn Passwords,
) -> Reply {
    match route {
        Route::Logout => login::logout(web, ctx, req),
        Route::Dashboard => dashboard::page(web, ctx).await,
        Route::Domains => domains::page(web, ctx, req).await,
        Route::DomainDns => domains::dns(web, ctx, req).await,
        Route::Users => users::page(web, ctx, req).await,
        Route::Aliases => aliases::page(web, ctx, req).await,
        Route::Queue => queue::page(web, ctx, req).await,
        Route::Relay => settings::relay(web, ctx, req).await,
        Route::RelayTest => settings::relay_test(web, ctx, req).await,
        Route::Spam => settings::spam(web, ctx, req).await,
        Route::Tls => tls::page(web, ctx, req).await,
        Route::Log => dashboard::log(web, ctx).await,
        Route::Account => account::page(web, ctx, req, pw).await,
        Route::MobileConfig => account::mobileconfig(web, ctx).await,
        Route::Style
        | Route::Setup
        | Route::Login
        | Route::Autoconfig
        | Route::Autodiscover
        | Route::Metrics => not_found(),
    }
}

/// The layout around every page: navigation for the signed-in user
/// (admin pages for admins only), the flash message, then `body`.
pub fn layout(ctx: Option<&Ctx>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · facteur" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header {
                    span.brand { "facteur" }
                    @if let Some(ctx) = ctx {
                        nav {
                            @if ctx.admin {
                                a href="/" { "Dashboard" }
                                a href="/domains" { "Domains" }
                                a href="/users" { "Users" }
                                a href="/aliases" { "Aliases" }
                                a href="/queue" { "Queue" }
                                a href="/relay" { "Relay" }
                                a href="/spam" { "Spam" }
                                a href="/tls" { "TLS" }
                                a href="/log" { "Log" }
                            }
                            a href="/account" { "My account" }
                        }
                        form.logout method="post" action="/logout" {
                            (csrf(ctx))
                            span.who { (ctx.user) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(msg) = ctx.and_then(|c| c.flash.as_ref()) {
                        p.flash { (msg) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// An error beside a form field, when there is one.
pub fn field_error(err: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = err {
            span.error { (e) }
        }
    }
}

/// An HTML response.
pub fn reply(status: StatusCode, page: Markup) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(page.into_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// A page saying only `message`, with `status`.
pub fn status(status: StatusCode, message: &str) -> Reply {
    let title = status.canonical_reason().unwrap_or("Error");
    reply(
        status,
        layout(
            None,
            title,
            html! { p { (message) } p { a href="/" { "Home" } } },
        ),
    )
}

/// 404.
pub fn not_found() -> Reply {
    status(StatusCode::NOT_FOUND, "There is no such page.")
}

/// 303 See Other to `to` (after a POST, RFC 9110 §15.4.4).
pub fn redirect(to: &str) -> Reply {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The stylesheet.
pub fn stylesheet() -> Reply {
    let mut r = Response::new(Full::new(Bytes::from_static(STYLE.as_bytes())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    r
}

/// After an action: its answer as the next page's message and a redirect
/// to `back` when it succeeded; the page again with the error when not.
pub fn after(
    web: &Web,
    ctx: &Ctx,
    back: &str,
    result: Result<Vec<String>, String>,
) -> Result<Reply, String> {
    let lines = result?;
    web.set_flash(&ctx.token, lines.join("\n"));
    Ok(redirect(back))
}

/// What a POST to a list page left to show: the error of the action that
/// failed, beside the form it came from, and the values to fill back in.
#[derive(Debug, Default)]
pub struct Failed {
    /// The `action` field of the failed form.
    pub action: String,
    /// The engine's answer.
    pub error: String,
}

impl Failed {
    /// The error if `action` failed.
    pub fn of(&self, action: &str) -> Option<&str> {
        (self.action == action).then_some(self.error.as_str())
    }
}

/// Runs the POST of a list page: `to_request` turns the form's `action`
/// into an engine request. Done (`Err`): the page again by a redirect,
/// with the engine's answer as its message. Not done (`Ok`): the caller
/// renders the page, with the failure when there is one.
pub async fn post(
    web: &Web,
    ctx: &Ctx,
    req: &Req<'_>,
    back: &str,
    to_request: impl FnOnce(&str, &super::form::Form) -> Option<crate::admin::Request>,
) -> Result<Option<Failed>, Reply> {
    if req.method != hyper::Method::POST {
        return Ok(None);
    }
    let action = req.form.get("action");
    let Some(request) = to_request(action, &req.form) else {
        return Err(status(StatusCode::BAD_REQUEST, "Unknown action"));
    };
    match after(web, ctx, back, web.call(request).await) {
        Ok(r) => Err(r),
        Err(error) => Ok(Some(Failed {
            action: action.to_string(),
            error,
        })),
    }
}

/// A small form with one button posting `action` with hidden `fields`.
pub fn button(
    ctx: &Ctx,
    to: &str,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    danger: bool,
) -> Markup {
    html! {
        form method="post" action=(to) {
            (csrf(ctx))
            input type="hidden" name="action" value=(action);
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            @if danger { button.danger type="submit" { (label) } } @else { button type="submit" { (label) } }
        }
    }
}

/// The status of a page after a failed action.
pub fn status_of(failed: &Option<Failed>) -> StatusCode {
    if failed.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}
