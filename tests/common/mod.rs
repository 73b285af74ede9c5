//! Shared end-to-end test support.
#![allow(dead_code)]

pub mod server;
