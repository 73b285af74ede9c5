//! The serial console (`facteur console`): menus on a serial line or a
//! terminal, for a box with no screen and maybe no network yet. Another
//! face of the admin engine ([`crate::admin`]), like the command line and
//! the web pages: it asks and shows, the engine decides.
//!
//! - [`editor`]: bytes to lines (line endings, backspace, line noise).
//! - [`core`]: the menus, sans-I/O: keys and `now` in, text and engine
//!   calls out.
//! - [`tty`]: the terminal in raw mode, and the session loop.

pub mod core;
pub mod editor;
mod sys;
pub mod tty;
