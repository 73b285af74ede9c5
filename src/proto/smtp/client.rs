//! SMTP client core (RFC 5321), sans-I/O.
