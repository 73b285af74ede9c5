//! Pure message handling: MIME structure and delivery status notifications.

pub mod dsn;
pub mod mime;
