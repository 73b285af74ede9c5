//! Setting up a new box: the setup code that claims it, and the plan the
//! first-boot wizard (web page, console or profile file) builds and the
//! admin service applies at once.

pub mod code;
pub mod plan;
pub mod profile;
