//! Sans-I/O protocol cores: parsers and session state machines that take
//! bytes (and `now`) in and give replies and actions out.
pub mod pop3;
