//! The AFL++ harness: runs the fuzz target named by `FACTEUR_AFL_TARGET`
//! (one of `tests/fuzz/targets.rs`) on each input AFL++ gives it.

#[path = "../../../tests/fuzz/targets.rs"]
mod targets;

fn main() {
    let name = std::env::var("FACTEUR_AFL_TARGET").unwrap_or_default();
    let Some(&(_, target)) = targets::ALL.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = targets::ALL.iter().map(|(n, _)| *n).collect();
        eprintln!("FACTEUR_AFL_TARGET must be one of: {}", names.join(" "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
