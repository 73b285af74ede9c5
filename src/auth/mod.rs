//! Message authentication: DKIM signing (RFC 6376, RFC 8463), and the DNS
//! records a domain publishes for it.

pub mod dkim;
pub mod records;
pub mod spf;
