//! Outbound SMTP connections: drives the client core over TCP and TLS.
