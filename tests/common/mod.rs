//! Shared helpers for the integration tests. Each test crate uses only part
//! of them.
#![allow(dead_code)]

pub mod dkim;
pub mod dns;
pub mod server;
pub mod smtp_peer;
