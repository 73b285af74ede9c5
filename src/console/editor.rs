//! The console's line editor: the bytes of a dumb terminal (minicom,
//! screen, PuTTY, tio) in raw mode, turned into lines.
//!
//! - A line ends with CR, LF or CRLF (one line, not two).
//! - Backspace (BS or DEL) erases a character, Ctrl-U the line.
//! - Escape sequences (arrow and function keys) are dropped whole, as are
//!   other control characters (a break or line noise reads as NUL).
//! - Bytes past [`MAX_LINE`] are not kept, and the line is refused.
//! - Without a UTF-8 terminal only ASCII is taken; a line with other
//!   bytes (or with invalid UTF-8 on a UTF-8 terminal) is refused.
//! - A hidden line (a password) is not echoed at all.

/// Longest line kept, in bytes: an address, a password, a list of
/// domains. A longer line is refused rather than cut and used.
pub const MAX_LINE: usize = 512;

/// What a finished line, or a key, means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A line, without its ending.
    Line(String),
    /// A line longer than [`MAX_LINE`]: refused.
    TooLong,
    /// A line with bytes the terminal should not send (not ASCII, or
    /// invalid UTF-8): refused.
    Garbage,
    /// Ctrl-C: give up the question.
    Cancel,
    /// Ctrl-D on an empty line.
    End,
}

/// Where an escape sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After ESC [ or ESC O: up to a final byte.
    Sequence,
}

/// A line being typed.
#[derive(Debug)]
pub struct Editor {
    buf: Vec<u8>,
    too_long: bool,
    garbage: bool,
    after_cr: bool,
    escape: Escape,
    /// Not echoed (a password).
    pub hidden: bool,
    /// The terminal sends and shows UTF-8.
    utf8: bool,
}

impl Editor {
    /// An empty line; `utf8` when the terminal says it speaks UTF-8.
    pub fn new(utf8: bool) -> Editor {
        Editor {
            buf: Vec::new(),
            too_long: false,
            garbage: false,
            after_cr: false,
            escape: Escape::None,
            hidden: false,
            utf8,
        }
    }

    /// Forgets the line typed so far.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.too_long = false;
        self.garbage = false;
        self.escape = Escape::None;
    }

    /// Takes one byte; what to echo goes to `echo`. Returns a key when the
    /// byte ends a line or is one.
    pub fn push(&mut self, b: u8, echo: &mut Vec<u8>) -> Option<Key> {
        match self.escape {
            Escape::Start => {
                self.escape = match b {
                    b'[' | b'O' => Escape::Sequence,
                    _ => Escape::None,
                };
                return None;
            }
            Escape::Sequence => {
                // ECMA-48 §5.4: parameters and intermediates, then a final
                // byte in 0x40..=0x7E. Anything else ends it too.
                if !(0x20..0x40).contains(&b) {
                    self.escape = Escape::None;
                }
                return None;
            }
            Escape::None => {}
        }
        let after_cr = std::mem::take(&mut self.after_cr);
        match b {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => {
                self.after_cr = b == b'\r';
                echo.extend_from_slice(b"\r\n");
                Some(self.finish())
            }
            0x08 | 0x7f => {
                if self.pop() && !self.hidden {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                None
            }
            0x15 => {
                while self.pop() {
                    if !self.hidden {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                self.clear();
                None
            }
            0x03 => {
                self.clear();
                echo.extend_from_slice(b"^C\r\n");
                Some(Key::Cancel)
            }
            0x04 if self.buf.is_empty() => {
                echo.extend_from_slice(b"\r\n");
                Some(Key::End)
            }
            0x1b => {
                self.escape = Escape::Start;
                None
            }
            0x00..=0x1f => None,
            0x80..=0xff if !self.utf8 => {
                self.garbage = true;
                None
            }
            _ => {
                if self.buf.len() >= MAX_LINE {
                    self.too_long = true;
                    return None;
                }
                self.buf.push(b);
                if !self.hidden {
                    echo.push(b);
                }
                None
            }
        }
    }

    /// Erases the last character (all its UTF-8 bytes); false when the
    /// line is empty.
    fn pop(&mut self) -> bool {
        let Some(mut b) = self.buf.pop() else {
            return false;
        };
        while (0x80..0xc0).contains(&b) {
            match self.buf.pop() {
                Some(prev) => b = prev,
                None => break,
            }
        }
        true
    }

    fn finish(&mut self) -> Key {
        let line = std::mem::take(&mut self.buf);
        let key = if self.too_long {
            Key::TooLong
        } else if self.garbage {
            Key::Garbage
        } else {
            match String::from_utf8(line) {
                Ok(s) => Key::Line(s),
                Err(_) => Key::Garbage,
            }
        };
        self.clear();
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key and the echo of `input`, fed whole.
    fn keys(ed: &mut Editor, input: &[u8]) -> (Vec<Key>, Vec<u8>) {
        let mut echo = Vec::new();
        let keys = input
            .iter()
            .filter_map(|&b| ed.push(b, &mut echo))
            .collect();
        (keys, echo)
    }

    #[test]
    fn every_line_ending_ends_one_line() {
        let mut ed = Editor::new(false);
        let (k, echo) = keys(&mut ed, b"one\rtwo\nthree\r\nfour\n\nfive\r\r");
        let line = |s: &str| Key::Line(s.into());
        assert_eq!(
            k,
            [
                line("one"),
                line("two"),
                line("three"),
                line("four"),
                line(""),
                line("five"),
                line("")
            ]
        );
        assert!(echo.starts_with(b"one\r\ntwo\r\nthree\r\n"));
    }

    #[test]
    fn backspace_and_kill_edit_the_line() {
        let mut ed = Editor::new(true);
        let (k, echo) = keys(&mut ed, b"adx\x08min\x7f\x7fn\r");
        assert_eq!(k, [Key::Line("admn".into())]);
        assert_eq!(echo, b"adx\x08 \x08min\x08 \x08\x08 \x08n\r\n");
        let (k, _) = keys(&mut ed, b"\x08\x08x\x15yes\n");
        assert_eq!(k, [Key::Line("yes".into())]);
        // A UTF-8 character goes in one stroke.
        let (k, _) = keys(&mut ed, "caf\u{e9}\x7fe\r".as_bytes());
        assert_eq!(k, [Key::Line("cafe".into())]);
    }

    #[test]
    fn hidden_lines_echo_nothing_but_the_end() {
        let mut ed = Editor::new(false);
        ed.hidden = true;
        let (k, echo) = keys(&mut ed, b"secret pass\x08s\r");
        assert_eq!(k, [Key::Line("secret pass".into())]);
        assert_eq!(echo, b"\r\n");
    }

    #[test]
    fn escapes_and_control_bytes_are_dropped() {
        let mut ed = Editor::new(false);
        let (k, echo) = keys(&mut ed, b"1\x1b[A\x1b[1;5C\x1bOP\x00\x07\x1bx2\r");
        assert_eq!(k, [Key::Line("12".into())]);
        assert_eq!(echo, b"12\r\n");
        let (k, _) = keys(&mut ed, b"ab\x03\x04x\x04\r");
        assert_eq!(k, [Key::Cancel, Key::End, Key::Line("x".into())]);
    }

    #[test]
    fn an_over_long_line_is_refused_and_the_next_one_taken() {
        let mut ed = Editor::new(false);
        let mut long = vec![b'a'; MAX_LINE + 10];
        long.extend_from_slice(b"\r2\r");
        let (k, echo) = keys(&mut ed, &long);
        assert_eq!(k, [Key::TooLong, Key::Line("2".into())]);
        assert_eq!(echo.len(), MAX_LINE + 5);
        let mut exact = vec![b'b'; MAX_LINE];
        exact.push(b'\n');
        let (k, _) = keys(&mut ed, &exact);
        assert_eq!(k, [Key::Line("b".repeat(MAX_LINE))]);
    }

    #[test]
    fn non_ascii_is_refused_unless_the_terminal_speaks_utf8() {
        let mut ascii = Editor::new(false);
        let (k, echo) = keys(&mut ascii, "\u{e9}t\u{e9}\r1\r".as_bytes());
        assert_eq!(k, [Key::Garbage, Key::Line("1".into())]);
        assert_eq!(echo, b"t\r\n1\r\n");
        let mut utf8 = Editor::new(true);
        let (k, _) = keys(&mut utf8, "\u{e9}t\u{e9}\r".as_bytes());
        assert_eq!(k, [Key::Line("\u{e9}t\u{e9}".into())]);
        let (k, _) = keys(&mut utf8, b"\xff\xfe\r");
        assert_eq!(k, [Key::Garbage]);
    }

    #[test]
    fn fed_byte_by_byte_or_whole_the_same() {
        let input = b"a\x1b[Ab\x7fc\r\nd\re\n";
        let mut whole = Editor::new(false);
        let (k1, e1) = keys(&mut whole, input);
        let mut split = Editor::new(false);
        let mut k2 = Vec::new();
        let mut e2 = Vec::new();
        for &b in input.iter() {
            let (k, e) = keys(&mut split, &[b]);
            k2.extend(k);
            e2.extend(e);
        }
        assert_eq!((k1, e1), (k2, e2));
    }
}
