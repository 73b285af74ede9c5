//! Sans-I/O protocol cores: parsers and session state machines that take
//! bytes (and `now`) in and give replies and actions out.

pub mod authlimit;
pub mod base64;
pub mod imap;
pub mod line;
pub mod pop3;
pub mod sasl;
pub mod smtp;
