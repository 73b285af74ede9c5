//! MIME structure of a stored message (RFC 2045, RFC 2046).
