//! Aliases, catch-alls (`@domain`) included: list, add, remove.

use super::{button, csrf, field_error, layout, post, reply, status_of, Ctx, Reply, Req, Web};
use crate::admin::Request;
use maud::html;

/// `/aliases`.
pub async fn page(web: &Web, ctx: &Ctx, req: &Req<'_>) -> Reply {
    let failed = match post(web, ctx, req, "/aliases", |action, f| match action {
        "add" => Some(Request::AliasAdd {
            alias: f.get("alias").trim().to_string(),
            targets: f
                .get("targets")
                .split([',', ' ', '\n', '\r'])
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        }),
        "remove" => Some(Request::AliasRemove(f.get("alias").to_string())),
        _ => None,
    })
    .await
    {
        Ok(failed) => failed,
        Err(done) => return done,
    };
    let aliases = web.call(Request::AliasList).await;
    let (alias, targets) = if failed.is_some() {
        (req.form.get("alias"), req.form.get("targets"))
    } else {
        ("", "")
    };
    let body = html! {
        @if let Some(e) = failed.as_ref().and_then(|f| f.of("remove")) { p.problem { (e) } }
        @match &aliases {
            Err(e) => p.problem { (e) },
            Ok(list) => table {
                tr { th { "Alias" } th { "Delivered to" } th {} }
                @for line in list {
                    @let (a, t) = line.split_once(" -> ").unwrap_or((line.as_str(), ""));
                    tr {
                        td { (a) }
                        td { (t) }
                        td { (button(ctx, "/aliases", "remove", &[("alias", a)], "Remove", true)) }
                    }
                }
            },
        }
        h2 { "Add an alias" }
        form.box method="post" action="/aliases" {
            (csrf(ctx))
            input type="hidden" name="action" value="add";
            label for="alias" { "Alias" }
            input #alias type="text" name="alias" value=(alias) placeholder="sales@example.com, or @example.com for everything else" required;
            label for="targets" { "Deliver to (addresses, separated by commas)" }
            input #targets type="text" name="targets" value=(targets) required;
            (field_error(failed.as_ref().and_then(|f| f.of("add"))))
            button type="submit" { "Add" }
        }
    };
    reply(status_of(&failed), layout(Some(ctx), "Aliases", body))
}
