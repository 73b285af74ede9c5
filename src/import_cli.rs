//! `facteur import` and `facteur export` (see [`facteur::import`]): through
//! the running server, which holds the store, or on the store directly
//! when none runs.

use super::{admin_answer, command_error, print_lines, take_flag, take_option};
use facteur::admin::{ImportOptions, Request};
use facteur::config::Config;
use std::path::Path;
use std::process::ExitCode;

/// Runs `import ...` or `export ...`; `args` starts with the command.
pub fn run(cfg: &Config, args: &mut Vec<String>) -> ExitCode {
    let import = args.first().map(String::as_str) == Some("import");
    let command = if import { "import" } else { "export" };
    let mut options = ImportOptions {
        insecure: take_flag(args, "--insecure"),
        ..ImportOptions::default()
    };
    loop {
        match take_option(args, "--folder-map") {
            Ok(Some(pair)) => match pair.split_once('=') {
                Some((old, new)) if !old.is_empty() => {
                    options
                        .folder_map
                        .push((old.to_string(), new.trim_matches('/').to_string()));
                }
                _ => {
                    return command_error(
                        command,
                        &format!("--folder-map {pair:?}: OLD=NEW expected"),
                    )
                }
            },
            Ok(None) => break,
            Err(e) => return command_error(command, &e),
        }
    }
    match take_option(args, "--ca") {
        Ok(ca) => options.ca = ca.map(|c| absolute(&c)),
        Err(e) => return command_error(command, &e),
    }
    let req = match args.as_slice() {
        [_, user, source] if import => {
            let source = if source.contains("://") {
                options.password = match super::stdin_password() {
                    Ok(p) => Some(p),
                    Err(e) => return super::fail(&e),
                };
                source.clone()
            } else {
                absolute(source)
            };
            Request::Import {
                user: user.clone(),
                source,
                options,
            }
        }
        [_, user, dir] if !import && options == ImportOptions::default() => {
            // The server resolves the path: make it absolute here.
            Request::Export {
                user: user.clone(),
                dir: absolute(dir),
            }
        }
        _ => return command_error(command, "wrong arguments"),
    };
    print_lines(admin_answer(cfg, None, req))
}

fn absolute(path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        return path.to_string();
    }
    std::env::current_dir()
        .map(|d| d.join(p).display().to_string())
        .unwrap_or_else(|_| path.to_string())
}
