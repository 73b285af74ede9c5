//! Message authentication: DKIM signing (RFC 6376, RFC 8463).

pub mod dkim;
pub mod spf;
