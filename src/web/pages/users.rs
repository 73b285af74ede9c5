//! Mail accounts: list, add, remove, reset a password, the admin flag.

use super::{
    button, csrf, field_error, layout, post, reply, status_of, Ctx, Failed, Reply, Req, Web,
};
use crate::admin::Request;
use maud::html;

/// `/users`.
pub async fn page(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let password =
        |f: &crate::web::form::Form| Some(f.get("password").to_string()).filter(|p| !p.is_empty());
    let quota = req.method == hyper::Method::POST && req.form.get("action") == "quota";
    let failed = if quota {
        let address = req.form.get("address").to_string();
        let typed = req.form.get("quota").to_string();
        let set = web
            .engine(move |a| a.set_quota_text(&address, &typed).map(|l| vec![l]))
            .await;
        match super::after(web, ctx, "/users", set) {
            Ok(done) => return done,
            Err(error) => Some(Failed {
                action: "quota".into(),
                error,
            }),
        }
    } else {
        match post(web, ctx, req, "/users", |action, f| match action {
            "add" => Some(Request::UserAdd {
                address: f.get("address").trim().to_string(),
                password: password(f),
                admin: f.has("admin"),
            }),
            "admin" => Some(Request::UserAdmin {
                address: f.get("address").to_string(),
                on: f.get("on") == "1",
            }),
            "passwd" => Some(Request::UserPasswd {
                address: f.get("address").to_string(),
                password: password(f),
            }),
            "remove" => Some(Request::UserRemove(f.get("address").to_string())),
            _ => None,
        })
        .await
        {
            Ok(failed) => failed,
            Err(done) => {
                if req.form.get("action") == "remove" {
                    web.end_sessions_of(req.form.get("address"));
                }
                return done;
            }
        }
    };
    // A quota error goes beside the field of its user.
    let quota_error = |u: &str| {
        failed
            .as_ref()
            .and_then(|f| f.of("quota"))
            .filter(|_| req.form.get("address") == u)
    };
    let users = web.engine(|a| a.users()).await;
    let typed = if failed.as_ref().is_some_and(|f| f.action == "add") {
        req.form.get("address")
    } else {
        ""
    };
    let body = html! {
        @if let Some(f) = failed.as_ref().filter(|f| f.action != "add" && f.action != "quota") { p.problem { (f.error) } }
        @match &users {
            Err(e) => p.problem { (e) },
            Ok(list) => table {
                tr { th { "Address" } th { "Used" } th { "Quota" } th { "Administrator" } th { "New password" } th {} }
                @for info in list {
                    @let u = &info.address;
                    tr {
                        td { (u) }
                        td { (mib(info.used)) @if info.quota > 0 { " of " (mib(info.quota)) } }
                        td {
                            form method="post" action="/users" {
                                (csrf(ctx))
                                input type="hidden" name="action" value="quota";
                                input type="hidden" name="address" value=(u);
                                input type="text" name="quota" size="8" placeholder="empty: default" aria-label="Quota, e.g. 500 MiB";
                                button type="submit" { "Set" }
                                (field_error(quota_error(u)))
                            }
                        }
                        td {
                            @if info.admin {
                                "yes " (button(ctx, "/users", "admin", &[("address", u), ("on", "0")], "Remove", false))
                            } @else {
                                (button(ctx, "/users", "admin", &[("address", u), ("on", "1")], "Make admin", false))
                            }
                        }
                        td {
                            form method="post" action="/users" {
                                (csrf(ctx))
                                input type="hidden" name="action" value="passwd";
                                input type="hidden" name="address" value=(u);
                                input type="password" name="password" placeholder="empty: generate one" autocomplete="new-password" aria-label="New password";
                                button type="submit" { "Set" }
                            }
                        }
                        td { (button(ctx, "/users", "remove", &[("address", u)], "Remove with their mail", true)) }
                    }
                }
            },
        }
        h2 { "Add a user" }
        form.box method="post" action="/users" {
            (csrf(ctx))
            input type="hidden" name="action" value="add";
            label for="address" { "Email address" }
            input #address type="text" name="address" value=(typed) placeholder="name@example.com" required;
            label for="password" { "Password" }
            input #password type="password" name="password" placeholder="empty: generate one" autocomplete="new-password";
            label { input type="checkbox" name="admin" value="1"; " Administrator (may use these pages)" }
            (field_error(failed.as_ref().and_then(|f| f.of("add"))))
            button type="submit" { "Add" }
        }
    };
    reply(status_of(&failed), layout(Some(ctx), "Users", body))
}

/// A byte count in MiB, one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
