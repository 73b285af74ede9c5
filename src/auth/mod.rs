//! Message authentication: DKIM signing and verification (RFC 6376, RFC
//! 8463), SPF (RFC 7208), DMARC (RFC 7489), and the DNS
//! records a domain publishes for them.

pub mod dkim;
pub mod dmarc;
pub mod records;
pub mod spf;
