//! The stub resolver: DNS over UDP and TCP on smol.
