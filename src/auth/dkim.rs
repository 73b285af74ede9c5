//! DKIM (RFC 6376) signatures.
