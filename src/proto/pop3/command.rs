//! POP3 command parser (RFC 1939 §3, RFC 2449 §3).
//!
//! A command is a case-insensitive keyword, optionally followed by
//! arguments each separated by a single space. Parsing turns a line (CRLF
//! already removed) into a [`Command`] or says why it cannot.

/// A parsed client command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// RFC 1939 §7: USER name.
    User(String),
    /// RFC 1939 §7: PASS string (the rest of the line, spaces included).
    Pass(String),
    /// RFC 1939 §7: APOP; recognised only to refuse it.
    Apop,
    /// RFC 5034 §4: AUTH [mechanism [initial-response]].
    Auth(Option<AuthArgs>),
    /// RFC 2449 §5.
    Capa,
    /// RFC 2595 §4.
    Stls,
    /// RFC 6856 §2.
    Utf8,
    /// RFC 1939 §5.
    Stat,
    /// RFC 1939 §5.
    List(Option<u32>),
    /// RFC 1939 §7.
    Uidl(Option<u32>),
    /// RFC 1939 §5.
    Retr(u32),
    /// RFC 1939 §7: TOP msg n.
    Top(u32, u32),
    /// RFC 1939 §5.
    Dele(u32),
    /// RFC 1939 §5.
    Noop,
    /// RFC 1939 §5.
    Rset,
    /// RFC 1939 §4 and §6.
    Quit,
}

/// Arguments of AUTH when a mechanism is named.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthArgs {
    /// Upper-cased mechanism name.
    pub(crate) mechanism: String,
    /// The initial response, still base64; "=" stands for an empty one.
    pub(crate) initial: Option<String>,
}

/// Why a line is not a valid command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// The keyword is not one we know.
    Unknown,
    /// The keyword is known but its arguments are wrong.
    Syntax(&'static str),
}

/// Parses one command line without its CRLF.
pub(crate) fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Syntax("invalid UTF-8"))?;
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    // RFC 1939 §3: keywords are three or four characters, case-insensitive.
    let keyword = keyword.to_ascii_uppercase();
    match keyword.as_str() {
        "USER" => match args(rest)?.as_slice() {
            [name] => Ok(Command::User((*name).to_owned())),
            _ => Err(ParseError::Syntax("usage: USER name")),
        },
        // RFC 1939 §7: the server may treat spaces in the PASS argument as
        // part of the password.
        "PASS" => match rest {
            Some(p) if !p.is_empty() => Ok(Command::Pass(p.to_owned())),
            _ => Err(ParseError::Syntax("usage: PASS password")),
        },
        "APOP" => Ok(Command::Apop),
        "AUTH" => match args(rest)?.as_slice() {
            [] => Ok(Command::Auth(None)),
            [mech] => Ok(Command::Auth(Some(AuthArgs {
                mechanism: mech.to_ascii_uppercase(),
                initial: None,
            }))),
            [mech, ir] => Ok(Command::Auth(Some(AuthArgs {
                mechanism: mech.to_ascii_uppercase(),
                initial: Some((*ir).to_owned()),
            }))),
            _ => Err(ParseError::Syntax("usage: AUTH [mechanism [response]]")),
        },
        "CAPA" => none(rest, Command::Capa),
        "STLS" => none(rest, Command::Stls),
        "UTF8" => none(rest, Command::Utf8),
        "STAT" => none(rest, Command::Stat),
        "NOOP" => none(rest, Command::Noop),
        "RSET" => none(rest, Command::Rset),
        "QUIT" => none(rest, Command::Quit),
        "LIST" => optional_number(rest).map(Command::List),
        "UIDL" => optional_number(rest).map(Command::Uidl),
        "RETR" => one_number(rest).map(Command::Retr),
        "DELE" => one_number(rest).map(Command::Dele),
        "TOP" => match args(rest)?.as_slice() {
            [msg, n] => Ok(Command::Top(number(msg)?, number(n)?)),
            _ => Err(ParseError::Syntax("usage: TOP msg lines")),
        },
        _ => Err(ParseError::Unknown),
    }
}

/// Splits the arguments on single spaces (RFC 1939 §3); an empty argument
/// (two spaces, or a trailing space) is an error.
fn args(rest: Option<&str>) -> Result<Vec<&str>, ParseError> {
    let Some(rest) = rest else {
        return Ok(Vec::new());
    };
    let parts: Vec<&str> = rest.split(' ').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ParseError::Syntax("arguments are separated by one space"));
    }
    Ok(parts)
}

fn none(rest: Option<&str>, command: Command) -> Result<Command, ParseError> {
    match rest {
        None => Ok(command),
        Some(_) => Err(ParseError::Syntax("no argument expected")),
    }
}

fn optional_number(rest: Option<&str>) -> Result<Option<u32>, ParseError> {
    match args(rest)?.as_slice() {
        [] => Ok(None),
        [n] => number(n).map(Some),
        _ => Err(ParseError::Syntax("one message number expected")),
    }
}

fn one_number(rest: Option<&str>) -> Result<u32, ParseError> {
    match args(rest)?.as_slice() {
        [n] => number(n),
        _ => Err(ParseError::Syntax("one message number expected")),
    }
}

/// A plain decimal number: digits only (no sign, no spaces), fitting u32.
fn number(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("invalid number"));
    }
    s.parse()
        .map_err(|_| ParseError::Syntax("number too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Command, ParseError> {
        parse(line.as_bytes())
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(p("stat"), Ok(Command::Stat));
        assert_eq!(p("StAt"), Ok(Command::Stat));
        assert_eq!(p("top 1 0"), Ok(Command::Top(1, 0)));
        assert_eq!(p("capa"), Ok(Command::Capa));
    }

    #[test]
    fn numbers_are_plain_decimal() {
        assert_eq!(p("RETR 42"), Ok(Command::Retr(42)));
        assert_eq!(p("LIST"), Ok(Command::List(None)));
        assert_eq!(p("UIDL 7"), Ok(Command::Uidl(Some(7))));
        assert_eq!(p("DELE 4294967295"), Ok(Command::Dele(u32::MAX)));
        for bad in [
            "RETR +1",
            "RETR -1",
            "RETR 0x1",
            "RETR 1.0",
            "RETR 4294967296",
            "RETR",
            "RETR 1 2",
            "RETR  1",
            "RETR 1 ",
            "LIST ",
            "TOP 1",
            "TOP 1 -1",
        ] {
            assert!(matches!(p(bad), Err(ParseError::Syntax(_))), "{bad}");
        }
    }

    #[test]
    fn arguments_and_their_absence() {
        assert!(matches!(p("STAT 1"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("QUIT "), Err(ParseError::Syntax(_))));
        assert_eq!(p("USER alice"), Ok(Command::User("alice".into())));
        assert!(matches!(p("USER a b"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("USER"), Err(ParseError::Syntax(_))));
        assert_eq!(p("PASS a b  c"), Ok(Command::Pass("a b  c".into())));
        assert!(matches!(p("PASS"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("PASS "), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn auth_forms() {
        assert_eq!(p("AUTH"), Ok(Command::Auth(None)));
        assert_eq!(
            p("auth plain"),
            Ok(Command::Auth(Some(AuthArgs {
                mechanism: "PLAIN".into(),
                initial: None
            })))
        );
        assert_eq!(
            p("AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth(Some(AuthArgs {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into())
            })))
        );
        assert!(matches!(p("AUTH PLAIN a b"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn unknown_and_invalid() {
        assert_eq!(p("HELO"), Err(ParseError::Unknown));
        assert_eq!(p(""), Err(ParseError::Unknown));
        assert_eq!(p(" STAT"), Err(ParseError::Unknown));
        assert!(matches!(parse(b"USER \xff"), Err(ParseError::Syntax(_))));
    }
}
