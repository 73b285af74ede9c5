//! The first-boot wizard, the only page of an unclaimed box: the setup
//! code first (only someone with the console, the serial line or a shell
//! can read it), then the six steps of the plan, each checked before the
//! next, applied all at once at the end ([`crate::admin::Admin::apply_plan`]).

use super::{field_error, layout, redirect, reply, Reply, Req, Web};
use crate::admin::{CodeCheck, PlanError};
use crate::setup::plan::{Plan, Relay, Staff};
use crate::web::session::Wizard;
use crate::web::{session_cookie, Ctx};
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use maud::{html, Markup};

/// The steps, with the plan fields each one sets (as
/// [`Plan::validate`] names them).
const STEPS: [(&str, &[&str]); 6] = [
    ("Host name", &["hostname"]),
    ("Mail domains", &["domains"]),
    ("Administrator", &["admin."]),
    ("Staff accounts", &["staff"]),
    ("Outgoing mail relay", &["relay"]),
    ("Review", &[]),
];

/// The step of the relay, whose "test" button tries it out.
const RELAY_STEP: usize = 4;

/// `/setup` (every path of an unclaimed box leads here).
pub async fn page(web: &Web, ctx: Option<Ctx>, wizard: Option<Wizard>, req: &Req<'_>) -> Reply {
    match (ctx, wizard) {
        (Some(ctx), Some(w)) => step(web, &ctx, w, req).await,
        _ => code(web, req).await,
    }
}

/// The setup code form, and its check through the login failure limiter.
async fn code(web: &Web, req: &Req<'_>) -> Reply {
    if req.method != Method::POST {
        return code_form(StatusCode::OK, None);
    }
    let typed = req.form.get("code").to_string();
    let peer = req.peer;
    let error = match web.check_setup_code(&typed, peer).await {
        CodeCheck::Accepted => {
            let Some(token) = web.start_wizard() else {
                return code_form(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("Could not start; try again."),
                );
            };
            log::info!("web: setup code accepted from {peer}");
            let mut r = redirect("/setup");
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&token, None)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            return r;
        }
        CodeCheck::Wrong => "That is not the setup code.",
        CodeCheck::Throttled => "Too many wrong codes: wait a few minutes and try again.",
        CodeCheck::NoCode => "This box is already set up.",
    };
    code_form(StatusCode::UNAUTHORIZED, Some(error))
}

fn code_form(status: StatusCode, error: Option<&str>) -> Reply {
    reply(
        status,
        layout(
            None,
            "Set up this mail server",
            html! {
                p { "Welcome. To prove you own this box, type the setup code. It is printed in the server's log at every start, and kept in the file " code { "setup-code" } " of its data directory." }
                form.box method="post" action="/setup" {
                    label for="code" { "Setup code" }
                    input #code type="text" name="code" autocomplete="off" placeholder="XXXX-XXXX-XXXX" required autofocus;
                    (field_error(error))
                    button type="submit" { "Continue" }
                }
            },
        ),
    )
}

/// One step: the fields of the posted step go into the plan; "next"
/// checks them (the engine's checks) and moves on only when they pass;
/// the last step applies the whole plan.
async fn step(web: &Web, ctx: &Ctx, mut w: Wizard, req: &Req<'_>) -> Reply {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut tested = None;
    if req.method == Method::POST {
        let f = &req.form;
        read_step(&mut w, f);
        if f.get("go") == "back" {
            w.step = w.step.saturating_sub(1);
        } else if f.get("go") == "test" && w.step == RELAY_STEP {
            errors = step_errors(&w, w.step);
            match (&w.plan.relay, errors.is_empty()) {
                (Some(r), true) => tested = Some(test_relay(web, r).await),
                (None, _) => errors.push((
                    "relay.host".into(),
                    "Type the relay's host name to test it.".into(),
                )),
                _ => {}
            }
        } else if w.step + 1 < STEPS.len() {
            errors = step_errors(&w, w.step);
            if f.get("admin.password") != f.get("admin.confirm") && w.step == 2 {
                errors.push(("admin.password".into(), "The two passwords differ.".into()));
            }
            if errors.is_empty() {
                w.step += 1;
            }
        } else {
            let plan = w.plan.clone();
            match web.engine(move |a| a.apply_plan(plan)).await {
                Ok(applied) => {
                    web.end_session(&ctx.token);
                    log::info!("web: the box was set up from {}", req.peer);
                    return done(&w.plan, &applied);
                }
                Err(PlanError::Fields(e)) => {
                    // Back to the first step with an error.
                    w.step = (0..STEPS.len())
                        .find(|&i| !step_errors_in(&e, i).is_empty())
                        .unwrap_or(0);
                    errors = step_errors_in(&e, w.step);
                }
                Err(PlanError::Failed(e)) => errors.push((String::new(), e)),
            }
        }
        web.save_wizard(&ctx.token, w.clone());
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    reply(
        status,
        layout(
            None,
            "Set up this mail server",
            form(ctx, &w, &errors, tested.as_ref()),
        ),
    )
}

/// Tries the relay typed in the wizard as the server would use it (its
/// resolver, its trusted CAs): connect, TLS, login; no mail is sent.
async fn test_relay(web: &Web, r: &Relay) -> crate::net::relay_test::Report {
    let cfg = web.config();
    let relay = crate::admin::relay_of_plan(r, &cfg.relay);
    let resolver = crate::net::dns::StubResolver::from_config(&cfg.dns);
    crate::net::relay_test::relay_test(&relay, &cfg.server.hostname.0, &resolver).await
}

/// The errors of `plan` for the fields of step `i`.
fn step_errors(w: &Wizard, i: usize) -> Vec<(String, String)> {
    step_errors_in(&w.plan.clone().normalised().validate(), i)
}

fn step_errors_in(all: &[(String, String)], i: usize) -> Vec<(String, String)> {
    let prefixes = STEPS.get(i).map_or(&[][..], |s| s.1);
    all.iter()
        .filter(|(field, _)| prefixes.iter().any(|p| field.starts_with(p)))
        .cloned()
        .collect()
}

/// Takes the fields of the step shown into the plan.
fn read_step(w: &mut Wizard, f: &crate::web::form::Form) {
    let p = &mut w.plan;
    let list = |s: &str| -> Vec<String> {
        s.split([',', ' ', '\n', '\r'])
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    match w.step {
        0 => p.hostname = f.get("hostname").to_string(),
        1 => p.domains = list(f.get("domains")),
        2 => {
            p.admin.address = f.get("admin.address").to_string();
            p.admin.password = f.get("admin.password").to_string();
        }
        3 => {
            p.staff = list(f.get("staff"))
                .into_iter()
                .map(|address| Staff {
                    address,
                    password: None,
                })
                .collect()
        }
        4 => {
            let host = f.get("relay.host").trim();
            // The password field is never filled back in: empty keeps
            // the one typed before.
            let kept = p.relay.take().map(|r| r.password).unwrap_or_default();
            let typed = f.get("relay.password");
            p.relay = (!host.is_empty()).then(|| Relay {
                host: host.to_string(),
                port: f.get("relay.port").trim().parse().unwrap_or(0),
                tls: f.get("relay.tls").to_string(),
                username: f.get("relay.username").trim().to_string(),
                password: if typed.is_empty() {
                    kept
                } else {
                    typed.to_string()
                },
            });
        }
        _ => {}
    }
}

fn error_of<'a>(errors: &'a [(String, String)], prefix: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|(f, _)| f.starts_with(prefix))
        .map(|(_, e)| e.as_str())
}

fn form(
    ctx: &Ctx,
    w: &Wizard,
    errors: &[(String, String)],
    tested: Option<&crate::net::relay_test::Report>,
) -> Markup {
    let p = &w.plan;
    let e = |prefix: &str| field_error(error_of(errors, prefix));
    let (title, _) = STEPS.get(w.step).copied().unwrap_or(STEPS[0]);
    let relay = p.relay.clone();
    html! {
        ol.steps {
            @for (i, (name, _)) in STEPS.iter().enumerate() {
                @if i == w.step { li.current { (name) } } @else { li { (name) } }
            }
        }
        h2 { "Step " (w.step + 1) " of " (STEPS.len()) ": " (title) }
        @if let Some(general) = error_of(errors, "").filter(|_| errors.iter().any(|(f, _)| f.is_empty())) {
            p.problem { (general) }
        }
        form.box method="post" action="/setup" {
            (super::csrf(ctx))
            @match w.step {
                0 => {
                    p { "The name of this box on the internet: mail clients connect to it, and other mail servers deliver to it." }
                    label for="hostname" { "Host name" }
                    input #hostname type="text" name="hostname" value=(p.hostname) placeholder="mail.example.com" required autofocus;
                    (e("hostname"))
                }
                1 => {
                    p { "The domains whose mail this box receives: the part after the @ of your addresses." }
                    label for="domains" { "Mail domains (one per line)" }
                    textarea #domains name="domains" rows="3" required { (p.domains.join("\n")) }
                    (e("domains"))
                }
                2 => {
                    p { "The administrator signs in to these pages. It is also a mail account." }
                    label for="admin-address" { "Administrator's email address" }
                    input id="admin-address" type="email" name="admin.address" value=(p.admin.address) required;
                    (e("admin.address"))
                    label for="admin-password" { "Password" }
                    input id="admin-password" type="password" name="admin.password" autocomplete="new-password" required;
                    label for="admin-confirm" { "Password again" }
                    input id="admin-confirm" type="password" name="admin.confirm" autocomplete="new-password" required;
                    (e("admin.password"))
                }
                3 => {
                    p { "The staff's mail accounts (you can add more later). A password is made for each and shown at the end." }
                    label for="staff" { "Staff addresses (one per line, may be empty)" }
                    textarea #staff name="staff" rows="5" {
                        (p.staff.iter().map(|s| s.address.as_str()).collect::<Vec<_>>().join("\n"))
                    }
                    (e("staff"))
                }
                4 => {
                    p { "Optional: send outgoing mail through your provider's server (a smarthost). Leave the host empty to deliver directly." }
                    label for="relay-host" { "Relay host" }
                    input id="relay-host" type="text" name="relay.host" value=(relay.as_ref().map_or("", |r| r.host.as_str())) placeholder="smtp.provider.example";
                    (e("relay.host"))
                    label for="relay-port" { "Port" }
                    input id="relay-port" type="text" name="relay.port" value=(relay.as_ref().map_or(587, |r| r.port));
                    (e("relay.port"))
                    label for="relay-tls" { "Security" }
                    select id="relay-tls" name="relay.tls" {
                        @for (v, label) in [("starttls", "STARTTLS (port 587)"), ("tls", "TLS (port 465)"), ("none", "None")] {
                            @if relay.as_ref().map_or("starttls", |r| r.tls.as_str()) == v {
                                option value=(v) selected { (label) }
                            } @else {
                                option value=(v) { (label) }
                            }
                        }
                    }
                    (e("relay.tls"))
                    label for="relay-username" { "User name" }
                    input id="relay-username" type="text" name="relay.username" value=(relay.as_ref().map_or("", |r| r.username.as_str())) autocomplete="off";
                    (e("relay.username"))
                    label for="relay-password" { "Password" }
                    @let has_password = relay.as_ref().is_some_and(|r| !r.password.is_empty());
                    input id="relay-password" type="password" name="relay.password" autocomplete="off" placeholder=(if has_password { "unchanged" } else { "" });
                    (e("relay.password"))
                    button.secondary type="submit" name="go" value="test" { "Test the relay" }
                    @if let Some(report) = tested {
                        (super::settings::relay_report(report, relay.as_ref().map_or("", |r| r.password.as_str())))
                    }
                }
                _ => {
                    p { "Check, then set up the box. Nothing is changed before this button; then everything is, at once." }
                    dl.facts {
                        dt { "Host name" } dd { (p.hostname) }
                        dt { "Mail domains" } dd { (p.domains.join(", ")) }
                        dt { "Administrator" } dd { (p.admin.address) }
                        dt { "Staff" } dd { @if p.staff.is_empty() { "none" } @else { (p.staff.iter().map(|s| s.address.as_str()).collect::<Vec<_>>().join(", ")) } }
                        dt { "Relay" } dd { @match &relay { Some(r) => { (r.host) ":" (r.port) " (" (r.tls) ")" }, None => "none: direct delivery" } }
                    }
                }
            }
            div.buttons {
                @if w.step > 0 { button.secondary type="submit" name="go" value="back" formnovalidate { "Back" } }
                @if w.step + 1 < STEPS.len() {
                    button type="submit" name="go" value="next" { "Next" }
                } @else {
                    button type="submit" name="go" value="apply" { "Set up the box" }
                }
            }
        }
    }
}

/// The end: what was made, the passwords generated (shown once) and the
/// DNS records to publish.
fn done(plan: &Plan, applied: &crate::admin::Applied) -> Reply {
    reply(
        StatusCode::OK,
        layout(
            None,
            "Your mail server is set up",
            html! {
                p.flash { "Done. Sign in as " (plan.admin.address) " to manage the box." }
                @if !applied.generated_passwords.is_empty() {
                    h2 { "Staff passwords" }
                    p { "Write these down and give them to each person: they are shown only once." }
                    table {
                        tr { th { "Address" } th { "Password" } }
                        @for (a, pw) in &applied.generated_passwords { tr { td { (a) } td { code { (pw) } } } }
                    }
                }
                @for note in &applied.notes { p.muted { (note) } }
                h2 { "DNS records to publish" }
                p { "Add these records at your domain's DNS provider, so that other servers find this box and trust its mail." }
                @for (domain, zone) in &applied.dns_records {
                    h3 { (domain) }
                    pre { (zone) }
                }
                p { a href="/login" { "Sign in" } }
            },
        ),
    )
}
