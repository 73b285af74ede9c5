//! Shared helpers for the integration tests. Each test crate uses only part
//! of them.
#![allow(dead_code)]

pub mod dkim;
pub mod dns;
pub mod server;
pub mod smtp_peer;

/// Whether the tests run in strict mode: `FACTEUR_TEST_STRICT=1`, as
/// scripts/test.sh sets under CI. Then a missing client tool fails the test
/// that needs it instead of skipping it. Unset, empty or `0` is off; any
/// other value is refused, so that a typo cannot turn strict mode off.
pub fn strict() -> bool {
    match std::env::var("FACTEUR_TEST_STRICT").as_deref() {
        Err(_) | Ok("") | Ok("0") => false,
        Ok("1") => true,
        Ok(other) => panic!("FACTEUR_TEST_STRICT is {other:?}; set it to 1 or leave it unset"),
    }
}

/// Reports that `what` a test needs is missing: fails in strict mode,
/// otherwise prints a note; the caller then skips.
pub fn missing(what: &str) {
    assert!(
        !strict(),
        "{what} is required (install the packages scripts/test.sh lists)"
    );
    eprintln!("note: {what} is not available here, test skipped");
}
