//! IMAP server core (RFC 3501, RFC 9051).

pub mod envelope;
