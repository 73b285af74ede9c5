//! Settings pages (relay, spam filtering): forms over keys of the config
//! file, written by the engine's `ConfigSet` (checked as `check-config`
//! checks a file, all or nothing) and shown as the file has them.

use super::{csrf, field_error, layout, reply, Ctx, Reply, Req, Web};
use crate::admin::Request;
use crate::config_edit::Edit;
use crate::net::dns::StubResolver;
use hyper::{Method, StatusCode};
use maud::{html, Markup};

/// How a setting is typed.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string.
    Text,
    /// A string never shown; left empty, it stays as it is.
    Secret,
    /// A number (or a duration or size, as the config file writes them).
    Number,
    /// On or off.
    Bool,
    /// One of (value, label).
    Choice(&'static [(&'static str, &'static str)]),
}

/// One field of a settings form.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The config key (`relay.host`).
    pub key: &'static str,
    /// What the form calls it.
    pub label: &'static str,
    /// Its type.
    pub kind: Kind,
}

/// A settings page: `intro` above the form of `fields`, `extra` below.
pub async fn page(
    web: &Web,
    ctx: &Ctx,
    req: &Req<'_>,
    title: &str,
    path: &str,
    intro: Markup,
    fields: &[Field],
) -> Reply {
    let mut error = None;
    if req.method == Method::POST {
        let edits = edits(fields, &req.form);
        if edits.is_empty() {
            return super::redirect(path);
        }
        // The engine's answer names each change, a secret without its
        // value.
        let answer = web.call(Request::ConfigSet(edits)).await;
        match super::after(web, ctx, path, answer) {
            Ok(done) => return done,
            Err(e) => error = Some(e),
        }
    }
    let current = web.settings().await;
    let value = |key: &str| -> String {
        current
            .as_ref()
            .ok()
            .and_then(|c| crate::config_edit::get(c, key).ok())
            .and_then(|lines| lines.into_iter().next())
            .and_then(|l| l.split_once(" = ").map(|(_, v)| unquote(v)))
            .unwrap_or_default()
    };
    // The error beside the field it names, or above the form.
    let beside = |key: &str| error.as_deref().filter(|e| e.contains(key));
    let general = error
        .as_deref()
        .filter(|e| !fields.iter().any(|f| e.contains(f.key)));
    let body = html! {
        (intro)
        @if let Err(e) = &current { p.problem { (e) } }
        form.box method="post" action=(path) {
            (csrf(ctx))
            @if let Some(e) = general { p.problem { (e) } }
            @for f in fields {
                @let v = value(f.key);
                @let id = f.key.replace('.', "-");
                @match f.kind {
                    Kind::Bool => {
                        label {
                            @if v == "true" { input type="checkbox" name=(f.key) value="true" checked; }
                            @else { input type="checkbox" name=(f.key) value="true"; }
                            " " (f.label)
                        }
                        input type="hidden" name="present" value=(f.key);
                    }
                    Kind::Choice(options) => {
                        label for=(id) { (f.label) }
                        select id=(id) name=(f.key) {
                            @for (o, l) in options {
                                @if *o == v { option value=(o) selected { (l) } } @else { option value=(o) { (l) } }
                            }
                        }
                    }
                    Kind::Secret => {
                        label for=(id) { (f.label) }
                        input id=(id) type="password" name=(f.key) autocomplete="off" placeholder=(if v.is_empty() { "not set" } else { "unchanged" });
                    }
                    Kind::Text | Kind::Number => {
                        label for=(id) { (f.label) }
                        input id=(id) type="text" name=(f.key) value=(v);
                    }
                }
                (field_error(beside(f.key)))
            }
            button type="submit" { "Save" }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    reply(status, layout(Some(ctx), title, body))
}

/// The changes a posted form asks for: every field it sent (a checkbox
/// by its hidden `present` twin), a secret only when typed.
fn edits(fields: &[Field], form: &crate::web::form::Form) -> Vec<Edit> {
    let mut out = Vec::new();
    for f in fields {
        let typed = form.get(f.key);
        let value = match f.kind {
            Kind::Bool => {
                if !form.has("present") {
                    continue;
                }
                (if form.has(f.key) { "true" } else { "false" }).to_string()
            }
            Kind::Secret if typed.is_empty() => continue,
            Kind::Text | Kind::Secret | Kind::Choice(_) => {
                if !form.has(f.key) {
                    continue;
                }
                crate::config_edit::toml_string(typed.trim())
            }
            Kind::Number => {
                if !form.has(f.key) {
                    continue;
                }
                let t = typed.trim();
                // A duration or size ("30m", "25 MiB") is a TOML string.
                if t.parse::<f64>().is_ok() {
                    t.to_string()
                } else {
                    crate::config_edit::toml_string(t)
                }
            }
        };
        out.push(Edit::Set(f.key.to_string(), value));
    }
    out
}

/// A TOML value as a form shows it: a string without its quotes.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    }
}

/// `/relay`: the smarthost.
pub async fn relay(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    const TLS: &[(&str, &str)] = &[
        ("starttls", "STARTTLS (port 587)"),
        ("tls", "TLS (port 465)"),
        ("none", "None (not recommended)"),
    ];
    let fields = [
        Field {
            key: "relay.host",
            label: "Relay host (empty: deliver directly)",
            kind: Kind::Text,
        },
        Field {
            key: "relay.port",
            label: "Port",
            kind: Kind::Number,
        },
        Field {
            key: "relay.tls",
            label: "Security",
            kind: Kind::Choice(TLS),
        },
        Field {
            key: "relay.username",
            label: "User name (empty: no login)",
            kind: Kind::Text,
        },
        Field {
            key: "relay.password",
            label: "Password",
            kind: Kind::Secret,
        },
        Field {
            key: "relay.verify_certificate",
            label: "Check the relay's certificate",
            kind: Kind::Bool,
        },
    ];
    let intro = html! {
        p { "Send outgoing mail through your provider's server (a smarthost) instead of delivering it to each domain directly." }
        form method="post" action="/relay/test" {
            (csrf(ctx))
            button.secondary type="submit" { "Test the saved settings" }
        }
    };
    page(
        web,
        ctx,
        req,
        "Outgoing mail relay",
        "/relay",
        intro,
        &fields,
    )
    .await
}

/// `/relay/test` (POST): connects to the relay as saved in the config
/// file, starts TLS and logs in, sends no mail, and shows the
/// conversation. The password is never in it.
pub async fn relay_test(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    if req.method != Method::POST {
        return super::redirect("/relay");
    }
    let cfg = match web.settings().await {
        Ok(c) => c,
        Err(e) => return super::status(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let report = if cfg.relay.host.is_empty() {
        None
    } else {
        let resolver = StubResolver::from_config(&cfg.dns);
        Some(
            crate::net::relay_test::relay_test(&cfg.relay, &cfg.server.hostname.0, &resolver).await,
        )
    };
    let body = html! {
        @match &report {
            None => p.problem { "No relay is set: mail is delivered to each domain directly." },
            Some(r) => (relay_report(r, &cfg.relay.password)),
        }
        p { a href="/relay" { "Back to the relay settings" } }
    };
    reply(StatusCode::OK, layout(Some(ctx), "Relay test", body))
}

/// The outcome of a relay test and its conversation, with `secret` (the
/// password) masked should the server echo it.
pub fn relay_report(r: &crate::net::relay_test::Report, secret: &str) -> Markup {
    html! {
        @if r.ok { p.flash { "The relay works." } }
        @else { p.problem { "The relay test failed." } }
        pre.transcript {
            @for line in &r.transcript {
                @if secret.is_empty() { (line) } @else { (line.replace(secret, "********")) }
                "\n"
            }
        }
    }
}

/// `/spam`: the spam filter's thresholds and switches.
pub async fn spam(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let fields = [
        Field {
            key: "antispam.enabled",
            label: "Check incoming mail",
            kind: Kind::Bool,
        },
        Field {
            key: "antispam.junk_score",
            label: "Score from which mail goes to Junk",
            kind: Kind::Number,
        },
        Field {
            key: "antispam.reject_score",
            label: "Score from which mail is refused",
            kind: Kind::Number,
        },
        Field {
            key: "antispam.greylisting",
            label: "Greylisting (unknown senders must retry)",
            kind: Kind::Bool,
        },
        Field {
            key: "antispam.bayes",
            label: "Learning filter (trained from moves into and out of Junk)",
            kind: Kind::Bool,
        },
    ];
    let lists = web
        .settings()
        .await
        .map(|c| {
            c.antispam
                .dnsbl
                .iter()
                .map(|l| format!("{} (weight {})", l.zone.0, l.weight))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let learned = web.engine(|a| a.bayes_stats()).await;
    let intro = html! {
        p { "Each check adds to a message's score; the thresholds decide what happens to it." }
        h2 { "What the learning filter knows" }
        p.muted { "Learned from the messages each person moves into and out of Junk; all of them also teach the shared pool." }
        @match &learned {
            Err(e) => p.problem { (e) },
            Ok(pools) => table.bayes {
                tr { th { "Mailbox" } th { "Learned as spam" } th { "Learned as good" } th { "Words known" } }
                @for (user, s) in pools {
                    tr {
                        td { @if user.is_empty() { "Shared (everyone)" } @else { (user) } }
                        td { (s.spam) } td { (s.ham) } td { (s.tokens) }
                    }
                }
            },
        }
        h2 { "DNS block lists" }
        @if lists.is_empty() { p.muted { "None." } }
        @else { ul { @for l in &lists { li { (l) } } } }
        p.muted { "The lists are set in the configuration file (antispam.dnsbl)." }
        h2 { "Settings" }
    };
    page(web, ctx, req, "Spam filtering", "/spam", intro, &fields).await
}
