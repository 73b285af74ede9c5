//! POP3 server core (RFC 1939), sans I/O.
//!
//! Implements the base protocol with CAPA (RFC 2449), STLS (RFC 2595),
//! SASL AUTH PLAIN (RFC 5034, RFC 4616), response codes (RFC 2449 §8,
//! RFC 3206) and the UTF8 command (RFC 6856). The [`Session`] is fed bytes
//! and `now`; it answers with [`Action`]s: bytes to write, and requests
//! (authenticate, start TLS, stream a message, apply deletions) that the
//! network adapter carries out and reports back. Sockets, TLS, the clock
//! and the store all stay outside.
//!
//! Message bodies are streamed by the adapter through a [`DotStuffer`]:
//! for RETR and TOP the session asks for [`Action::Retrieve`] with the
//! "+OK" status line; the adapter opens the message, writes that line, the
//! encoded body and the terminator from [`DotStuffer::finish`], then calls
//! [`Session::retrieve_done`]. A message it cannot open gets -ERR.

mod command;
mod dotstuff;
mod session;

use std::fmt;
use std::time::Duration;

pub use dotstuff::{crlf_size, CrlfCounter, DotStuffer};
pub use session::Session;

/// RFC 2449 §4: a command line is at most 255 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 255;

/// RFC 1939 §3: the autologout timer must be at least 10 minutes.
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Settings shared by all POP3 sessions of a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Host name shown in the greeting and the sign-off.
    pub hostname: String,
    /// Longest accepted command line, CRLF included (RFC 2449 §4: 255).
    /// Longer lines get "-ERR" and are skipped up to the next line end.
    pub max_line: usize,
    /// Errors (unknown or malformed commands, commands in the wrong state,
    /// failed logins) after which the connection is closed.
    pub max_bad_commands: u32,
    /// Whether STLS may be offered (a certificate is configured).
    pub stls_available: bool,
    /// Whether USER/PASS and AUTH PLAIN are accepted without TLS.
    pub allow_plaintext_auth: bool,
    /// Inactivity before autologout (RFC 1939 §3: at least 10 minutes).
    pub idle_timeout: Duration,
    /// Text for the IMPLEMENTATION capability (RFC 2449 §6.9); empty hides it.
    pub implementation: String,
}

impl Config {
    /// A configuration with the usual limits for the given host name.
    pub fn new(hostname: impl Into<String>) -> Config {
        Config {
            hostname: hostname.into(),
            max_line: MAX_COMMAND_LINE,
            max_bad_commands: 10,
            stls_available: false,
            allow_plaintext_auth: false,
            idle_timeout: MIN_IDLE_TIMEOUT,
            implementation: String::from("facteur"),
        }
    }
}

/// The messages of a mailbox at login: POP3 numbers them 1, 2, ... in this
/// order for the whole session (RFC 1939 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maildrop {
    /// Messages in POP3 order.
    pub messages: Vec<MaildropMessage>,
}

/// One message of a [`Maildrop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildropMessage {
    /// The store's id for the message, handed back in actions.
    pub uid: u32,
    /// Size with CRLF line ends, as STAT and LIST report it ([`crlf_size`]).
    pub size: u64,
    /// Unique id for UIDL: 1 to 70 characters in 0x21..=0x7E, never reused
    /// for another message of the mailbox (RFC 1939 §7).
    pub uidl: String,
}

/// The adapter's answer to [`Action::Retrieve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrieved {
    /// The status line, the message and its terminator were written.
    Sent,
    /// The message could not be opened (expunged by another session
    /// meanwhile): nothing was written.
    Missing,
    /// Writing failed after the status line: the reply cannot be taken
    /// back, so the session closes without deletions.
    Failed,
}

/// The adapter's answer to [`Action::Auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Credentials valid and the maildrop is now locked for this session.
    Ok(Maildrop),
    /// Unknown user or wrong password; the reply does not say which.
    Failed,
    /// Another POP3 session holds the maildrop (RFC 2449 §8.1.2).
    InUse,
    /// Too many recent failures for this user or address.
    Throttled,
    /// The store could not be read; the client may retry later.
    TempFail,
}

/// What the session wants the adapter to do next.
#[derive(PartialEq, Eq)]
pub enum Action {
    /// Bytes to send to the client, in order.
    Write(Vec<u8>),
    /// Start a TLS handshake (after writing everything before it), then
    /// call [`Session::tls_established`]. On failure, drop the connection.
    StartTls,
    /// Check these credentials, then call [`Session::auth_result`].
    Auth {
        /// The user name as given (USER, or the PLAIN authentication id).
        username: String,
        /// The password as given.
        password: String,
    },
    /// Open message `uid`; once it is open, write `status`, then stream
    /// the message through `DotStuffer::new(top_lines)`, writing the
    /// encoded data and then `finish`. Then call
    /// [`Session::retrieve_done`] with how it went.
    Retrieve {
        /// The message to send.
        uid: u32,
        /// `Some(n)` for TOP: header, blank line and `n` body lines.
        top_lines: Option<u32>,
        /// The "+OK" line, CRLF included, to write before the message.
        status: Vec<u8>,
    },
    /// QUIT in the TRANSACTION state (RFC 1939 §6): remove these messages
    /// atomically, release the maildrop, then call [`Session::update_done`].
    /// The list may be empty.
    Update {
        /// Messages marked as deleted.
        delete: Vec<u32>,
    },
    /// Close the connection after writing everything before it.
    Close,
}

impl fmt::Debug for Action {
    /// Never shows passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Write(bytes) => f
                .debug_tuple("Write")
                .field(&String::from_utf8_lossy(bytes))
                .finish(),
            Action::StartTls => f.write_str("StartTls"),
            Action::Auth { username, .. } => f
                .debug_struct("Auth")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Action::Retrieve { uid, top_lines, .. } => f
                .debug_struct("Retrieve")
                .field("uid", uid)
                .field("top_lines", top_lines)
                .finish(),
            Action::Update { delete } => f.debug_struct("Update").field("delete", delete).finish(),
            Action::Close => f.write_str("Close"),
        }
    }
}
