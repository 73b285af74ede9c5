//! DNS: the resolver trait shared by outbound delivery and antispam, and its
//! answer types.
