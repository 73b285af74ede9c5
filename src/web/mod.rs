//! The web pages: administration for admin accounts, one's own settings
//! for every account. A thin face over the admin engine
//! ([`crate::admin::Admin`]): a handler turns a form into an engine call
//! and its answer into HTML, and decides nothing else.
//!
//! No sockets here: [`Web::respond`] takes an HTTP request and returns
//! the response; `crate::net::web` runs the listeners.

pub mod form;
pub mod pages;
pub mod session;

use crate::admin::{self, Admin};
use bytes::Bytes;
use form::Form;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use session::{Sessions, COOKIE};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A response.
pub type Reply = Response<Full<Bytes>>;

/// Largest form body; larger ones get 413 unread.
pub const FORM_LIMIT: usize = 64 * 1024;
/// Largest certificate upload (a PEM chain and key).
pub const UPLOAD_LIMIT: usize = 1024 * 1024;

/// The outcome of a password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified; the account's address.
    Ok(String),
    /// Wrong user name or password.
    Failed,
    /// Too many failures: not checked.
    Throttled,
    /// The check could not be made.
    TempFail,
}

/// Checks passwords: the same verifier and failure limiter as IMAP.
pub trait Passwords: Send + Sync {
    /// Checks `user`'s `password` for a client at `ip`.
    fn check<'a>(
        &'a self,
        ip: IpAddr,
        user: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;
}

/// The web pages' state: the engine and the sessions.
pub struct Web {
    admin: Arc<Admin>,
    config: ConfigInForce,
    source: crate::config_edit::Source,
    sessions: Mutex<Sessions>,
    rng: ring::rand::SystemRandom,
}

pub use crate::admin::ConfigInForce;

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The session token.
    pub token: String,
    /// The account.
    pub user: String,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// Whether the account is an admin.
    pub admin: bool,
    /// A message left by the previous request.
    pub flash: Option<String>,
}

/// A request as the pages see it.
pub struct Req<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path.
    pub path: &'a str,
    /// The query (GET) or body (POST) fields.
    pub form: Form,
    /// The client's address.
    pub peer: IpAddr,
}

impl Web {
    /// Pages over `admin`.
    pub fn new(
        admin: Arc<Admin>,
        config: ConfigInForce,
        source: crate::config_edit::Source,
    ) -> Web {
        let start = config();
        let limits = session::Limits {
            max: start.web.max_sessions as usize,
            idle: start.web.session_idle.0,
            lifetime: start.web.session_lifetime.0,
        };
        Web {
            admin,
            config,
            source,
            sessions: Mutex::new(Sessions::new(limits)),
            rng: ring::rand::SystemRandom::new(),
        }
    }

    /// The configuration in force (it follows reloads).
    pub fn config(&self) -> Arc<crate::config::Config> {
        (self.config)()
    }

    /// The settings as the config file has them now (it is their one
    /// source of truth; the running server may wait for a reload).
    pub async fn settings(&self) -> Result<crate::config::Config, String> {
        let source = self.source.clone();
        blocking::unblock(move || source.load().map_err(|e| e.to_string())).await
    }

    /// The mail domains (empty when the store fails: nothing is offered).
    pub async fn domains(&self) -> Vec<String> {
        self.call(admin::Request::DomainList)
            .await
            .unwrap_or_default()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one request, with the security headers on every response.
    pub async fn respond<B>(&self, req: Request<B>, peer: IpAddr, pw: &dyn Passwords) -> Reply
    where
        B: Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut reply = self.route(req, peer, pw).await;
        let h = reply.headers_mut();
        // No inline script or style anywhere: the stylesheet is a file.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        reply
    }

    async fn route<B>(&self, req: Request<B>, peer: IpAddr, pw: &dyn Passwords) -> Reply
    where
        B: Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        let method = &parts.method;
        let Some(route) = pages::Route::of(path) else {
            return pages::not_found();
        };
        if route == pages::Route::Style {
            return pages::stylesheet();
        }
        if route == pages::Route::Metrics {
            return pages::metrics::page(self, method, &parts.headers, peer).await;
        }
        let raw = match *method {
            Method::GET | Method::HEAD => Vec::new(),
            Method::POST => {
                let limit = if route.is_upload() {
                    UPLOAD_LIMIT
                } else {
                    FORM_LIMIT
                };
                match read_body(body, &parts.headers, limit).await {
                    Ok(b) => b,
                    Err(reply) => return reply,
                }
            }
            _ => return pages::status(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        };
        let form = if *method == Method::POST {
            Form::parse(&raw)
        } else {
            Form::parse(parts.uri.query().unwrap_or("").as_bytes())
        };
        let req = Req {
            method,
            path,
            form,
            peer,
        };
        match route {
            pages::Route::Autoconfig => return pages::autoconfig::thunderbird(self, &req).await,
            pages::Route::Autodiscover => {
                return pages::autoconfig::outlook(self, &req, &raw).await
            }
            _ => {}
        }
        let token = cookie(&parts.headers, COOKIE).unwrap_or_default();
        // An unclaimed box shows only the setup wizard.
        if self.unclaimed().await {
            if route != pages::Route::Setup {
                return pages::redirect("/setup");
            }
            let ctx = self.session(&token).await;
            let wizard = ctx.as_ref().and_then(|c| self.wizard(&c.token));
            if let (Some(ctx), true) = (&ctx, req.method == Method::POST) {
                if !session::same_token(req.form.get("csrf"), &ctx.csrf) {
                    return pages::status(
                        StatusCode::FORBIDDEN,
                        "This form has expired: reload the page and try again",
                    );
                }
            }
            return pages::wizard::page(self, ctx, wizard, &req).await;
        }
        if route == pages::Route::Setup {
            return pages::redirect("/");
        }
        if route == pages::Route::Login {
            return pages::login::page(self, &req, pw).await;
        }
        let Some(mut ctx) = self.session(&token).await.filter(|c| !c.user.is_empty()) else {
            return if req.method == Method::POST {
                pages::status(
                    StatusCode::FORBIDDEN,
                    "Your session has ended: sign in again",
                )
            } else {
                pages::redirect("/login")
            };
        };
        if req.method == Method::POST && !session::same_token(req.form.get("csrf"), &ctx.csrf) {
            log::info!(
                "web: refused a POST to {} without the session's token",
                req.path
            );
            return pages::status(
                StatusCode::FORBIDDEN,
                "This form has expired: reload the page and try again",
            );
        }
        if route.admin_only() && !ctx.admin {
            return pages::status(StatusCode::FORBIDDEN, "This page is for administrators");
        }
        pages::dispatch(self, route, &mut ctx, &req, pw).await
    }

    /// The live session under `token`, with its flash message taken.
    async fn session(&self, token: &str) -> Option<Ctx> {
        if token.is_empty() {
            return None;
        }
        let (user, csrf, flash) = {
            let mut t = self.sessions();
            let s = t.get(token, Instant::now())?;
            (s.user.clone(), s.csrf.clone(), s.flash.take())
        };
        let admin = self.is_admin(&user).await;
        Some(Ctx {
            token: token.to_string(),
            user,
            csrf,
            admin,
            flash,
        })
    }

    /// Starts a session for `user`; returns its token.
    pub fn start_session(&self, user: &str) -> Option<String> {
        let token = self.random_token()?;
        let csrf = self.random_token()?;
        self.sessions()
            .create(token.clone(), user, csrf, Instant::now());
        Some(token)
    }

    /// Starts a setup wizard session (no account yet); returns its token.
    pub fn start_wizard(&self) -> Option<String> {
        let token = self.start_session("")?;
        self.save_wizard(&token, session::Wizard::default());
        Some(token)
    }

    /// The wizard progress of the session under `token`.
    pub fn wizard(&self, token: &str) -> Option<session::Wizard> {
        let mut t = self.sessions();
        t.get(token, Instant::now())?.wizard.as_deref().cloned()
    }

    /// Keeps the wizard progress of the session under `token`.
    pub fn save_wizard(&self, token: &str, w: session::Wizard) {
        if let Some(s) = self.sessions().get(token, Instant::now()) {
            s.wizard = Some(Box::new(w));
        }
    }

    /// Whether no admin account exists yet (a store failure counts as
    /// claimed: the wizard never shows by accident).
    async fn unclaimed(&self) -> bool {
        let a = self.admin.clone();
        blocking::unblock(move || {
            a.claim_state()
                .is_ok_and(|s| s == crate::admin::ClaimState::Unclaimed)
        })
        .await
    }

    /// Checks a setup code typed at `peer` (the login failure limiter).
    pub async fn check_setup_code(&self, code: &str, peer: IpAddr) -> crate::admin::CodeCheck {
        self.admin.check_setup_code(code, peer).await
    }

    /// Ends the session under `token`.
    pub fn end_session(&self, token: &str) {
        self.sessions().remove(token);
    }

    /// Ends every session of `user` (removed).
    pub fn end_sessions_of(&self, user: &str) {
        let user = crate::mail::idna::address_to_ascii(user.trim()).to_lowercase();
        self.sessions().remove_user(&user);
    }

    /// Leaves `message` for the next page the session shows.
    pub fn set_flash(&self, token: &str, message: String) {
        if let Some(s) = self.sessions().get(token, Instant::now()) {
            s.flash = Some(message);
        }
    }

    /// 128 random bits, hex.
    fn random_token(&self) -> Option<String> {
        use ring::rand::SecureRandom;
        let mut b = [0u8; 16];
        self.rng.fill(&mut b).ok()?;
        Some(b.iter().map(|x| format!("{x:02x}")).collect())
    }

    pub(crate) async fn is_admin(&self, user: &str) -> bool {
        let a = self.admin.clone();
        let user = user.to_string();
        blocking::unblock(move || a.is_admin(&user).unwrap_or(false)).await
    }

    /// Runs an engine request (it blocks: on the blocking pool).
    pub async fn call(&self, req: admin::Request) -> Result<Vec<String>, String> {
        let a = self.admin.clone();
        match blocking::unblock(move || a.handle(req)).await {
            admin::Response::Ok(lines) => Ok(lines),
            admin::Response::Error(e) => Err(e),
        }
    }

    /// Runs `f` on the engine, on the blocking pool.
    pub async fn engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Admin) -> T + Send + 'static,
    ) -> T {
        let a = self.admin.clone();
        blocking::unblock(move || f(&a)).await
    }
}

/// Reads a body of at most `limit` bytes; a larger one (by its
/// Content-Length, or once it passes the limit) gets 413 without the rest
/// being read.
async fn read_body<B>(body: B, headers: &hyper::HeaderMap, limit: usize) -> Result<Vec<u8>, Reply>
where
    B: Body<Data = Bytes> + Send + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        pages::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("The form is too large (at most {} KiB)", limit / 1024),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // A client that stops sending is cut off by the connection's idle
    // timeout (net::web).
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(pages::status(
            StatusCode::BAD_REQUEST,
            &format!("Could not read the form: {e}"),
        )),
    }
}

/// The value of cookie `name`.
fn cookie(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The Set-Cookie value for a session (RFC 6265 §4.1; SameSite from
/// RFC 6265bis): never readable by scripts, sent only over HTTPS (and
/// loopback, which browsers count as secure), never on cross-site requests.
pub fn session_cookie(token: &str, max_age: Option<Duration>) -> String {
    let age = match max_age {
        Some(d) => format!("; Max-Age={}", d.as_secs()),
        None => String::new(),
    };
    format!("{COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/{age}")
}
