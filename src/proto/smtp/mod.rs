//! SMTP server core (RFC 5321) with the extensions a small mail server
//! needs: PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152),
//! SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034, RFC 3463),
//! STARTTLS (RFC 3207), DSN (RFC 3461), CHUNKING (RFC 3030) and AUTH
//! (RFC 4954).
//!
//! The same [`session::Session`] serves port 25 and submission; only
//! [`session::Mode`] differs. It does no I/O: see `session` for the loop
//! that drives it.

pub mod address;
pub mod client;
pub mod command;
pub mod data;
pub mod received;
pub mod reply;
pub mod session;
