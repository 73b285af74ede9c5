//! facteur: a small-office mail appliance in one low-memory binary.
//!
//! The crate is laid out by responsibility:
//! - [`proto`]: sans-I/O protocol cores (no sockets, no clock reads, no store).
// Unsafe code is denied everywhere but in `malloc`, the calls into glibc's
// allocator, and `console::sys`, the terminal's termios and poll calls.
#![deny(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod admin;
pub mod antispam;
pub mod app;
pub mod auth;
pub mod backup;
pub mod config;
pub mod config_edit;
pub mod console;
pub mod delivery;
pub mod dns;
pub mod import;
pub mod logger;
pub mod mail;
pub mod malloc;
pub mod metrics;
pub mod mta;
pub mod net;
pub mod password;
pub mod proto;
pub mod provision;
pub mod queue;
pub mod setup;
pub mod stats;
pub mod store;
#[cfg(test)]
mod testing;
pub mod time;
pub mod tls;
pub mod web;
