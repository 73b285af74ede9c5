//! IMAP server core (RFC 3501, RFC 9051).
//!
//! - [`reader`]: the incremental, bounded command reader. A session feeds
//!   it the bytes received and gets [`Event`]s: complete [`Command`]s,
//!   literal decisions, streamed APPEND data, raw lines for IDLE and
//!   AUTHENTICATE, and errors with the response to send.
//! - [`command`]: the typed commands; [`parse`] turns a command text into
//!   one (with [`search`], [`fetch`] and [`store`] for the big ones).
//! - [`sequence`]: sequence sets, with `*` and `$`.
//! - [`utf7`]: modified UTF-7 mailbox names.
//! - [`response`]: helpers for writing responses.
//! - [`envelope`]: ENVELOPE and BODYSTRUCTURE rendering.
//! - [`sort`]: SORT keys and the base subject (RFC 5256, RFC 5957).
//!
//! # Examples
//!
//! ```
//! use facteur::proto::imap::{CommandBody, Event, Limits, Reader};
//!
//! let mut reader = Reader::new(Limits::new(50 * 1024 * 1024));
//! let mut input = b"a1 LOGIN {5}\r\n".to_vec();
//! let (n, event) = reader.next(&input);
//! assert!(matches!(event, Event::LiteralRequest { size: 5, .. }));
//! input.drain(..n);
//! // The session writes "+ Ready" and lets the literal come.
//! reader.accept_literal();
//! input.extend_from_slice(b"alice secret\r\n");
//! let (n, event) = reader.next(&input);
//! assert_eq!(n, input.len());
//! let Event::Command(cmd) = event else { panic!() };
//! assert_eq!(cmd.tag, "a1");
//! assert!(matches!(cmd.body, CommandBody::Login { username, .. } if username == "alice"));
//! ```

pub mod client;
pub mod command;
pub mod envelope;
pub mod exec;
mod fetch;
pub mod parse;
pub mod reader;
pub mod response;
mod search;
pub mod sequence;
pub mod session;
pub mod sort;
mod store;
pub mod utf7;

pub use command::*;
pub use parse::{parse_command, ErrorKind, ParseError};
pub use reader::{Event, Limits, Reader};
pub use sequence::{SeqNum, SequenceSet};

/// Deepest nesting of parenthesised search keys, NOT and OR (RFC 9051 §9
/// sets no bound). Parsing recurses once per level, so this bounds the
/// stack a client can make us use.
pub const MAX_DEPTH: usize = 32;

/// Items (sequence ranges, search keys, list entries, flags) in one
/// command. Each costs 16 to 64 octets of parsed form, so this keeps one
/// parsed command under about 256 KiB even when its text is all commas.
pub const MAX_ITEMS: usize = 4096;
