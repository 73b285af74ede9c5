//! Pure message handling: MIME structure, header fields, addresses and
//! delivery status notifications.

pub mod address;
pub mod date;
pub mod dsn;
pub mod header;
pub mod idna;
pub mod mime;
