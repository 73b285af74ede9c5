//! SASL PLAIN (RFC 4616) and LOGIN exchanges, shared by SMTP AUTH
//! (RFC 4954), POP3 AUTH (RFC 5034) and IMAP AUTHENTICATE (RFC 9051 6.2.2).
//!
//! The exchange only decodes what the client sends; it never checks
//! credentials. Each protocol frames the challenges its own way (`334 ` in
//! SMTP, `+ ` in POP3 and IMAP) and hands the client's response lines back.
//! Response lines are the base64 text without the line terminator; `*`
//! cancels (RFC 4954 4, RFC 5034 4, RFC 9051 6.2.2).

use super::base64;

/// A supported SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: `authzid NUL authcid NUL passwd` in one response.
    Plain,
    /// The de facto LOGIN mechanism: user name, then password.
    Login,
}

impl Mechanism {
    /// Parses a mechanism name (case-insensitive).
    pub fn parse(name: &[u8]) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case(b"LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }

    /// The registered name, as advertised.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// Credentials decoded from a finished exchange, to be verified by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Authorization identity; empty when the client asked for none.
    pub authzid: String,
    /// Authentication identity (the user name).
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never let a password reach a log line.
        f.debug_struct("Credentials")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why an exchange stopped without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// The client sent `*`.
    Cancelled,
    /// A response was not valid base64.
    BadBase64,
    /// The decoded response did not have the mechanism's shape.
    Malformed,
}

/// What the protocol must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (already base64-encoded) and wait for a line.
    Challenge(&'static str),
    /// The exchange is complete.
    Done(Credentials),
    /// The exchange failed; send the protocol's error reply.
    Failed(SaslError),
}

/// Upper bound on one decoded identity or password, to keep memory bounded
/// (RFC 4616 section 2 allows 255 octets per field as a minimum to support).
const MAX_FIELD: usize = 1024;

/// A PLAIN or LOGIN exchange in progress.
#[derive(Debug, Clone)]
pub struct Exchange {
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    PlainResponse,
    LoginUser,
    LoginPassword(String),
    Finished,
}

const LOGIN_USERNAME: &str = "VXNlcm5hbWU6"; // "Username:"
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6"; // "Password:"

impl Exchange {
    /// Starts an exchange. `initial` is the initial response as sent on the
    /// command line (base64, or `=` for an empty one, RFC 4954 4).
    pub fn start(mechanism: Mechanism, initial: Option<&[u8]>) -> (Exchange, Step) {
        let mut ex = Exchange {
            state: match mechanism {
                Mechanism::Plain => State::PlainResponse,
                Mechanism::Login => State::LoginUser,
            },
        };
        let step = match initial {
            // "=" is an empty initial response; for PLAIN that is malformed,
            // for LOGIN an empty user name: both are answered by `respond`.
            Some(b"=") => ex.respond_decoded(Vec::new()),
            Some(text) => ex.respond(text),
            None => match mechanism {
                // RFC 4616: the server sends an empty challenge.
                Mechanism::Plain => Step::Challenge(""),
                Mechanism::Login => Step::Challenge(LOGIN_USERNAME),
            },
        };
        (ex, step)
    }

    /// Feeds one client response line (without its terminator).
    pub fn respond(&mut self, line: &[u8]) -> Step {
        if line == b"*" {
            self.state = State::Finished;
            return Step::Failed(SaslError::Cancelled);
        }
        match base64::decode(line) {
            Ok(bytes) => self.respond_decoded(bytes),
            Err(_) => {
                self.state = State::Finished;
                Step::Failed(SaslError::BadBase64)
            }
        }
    }

    fn respond_decoded(&mut self, bytes: Vec<u8>) -> Step {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PlainResponse => match parse_plain(bytes) {
                Some(c) => Step::Done(c),
                None => Step::Failed(SaslError::Malformed),
            },
            State::LoginUser => match field(bytes) {
                Some(user) => {
                    self.state = State::LoginPassword(user);
                    Step::Challenge(LOGIN_PASSWORD)
                }
                None => Step::Failed(SaslError::Malformed),
            },
            State::LoginPassword(username) => match field(bytes) {
                Some(password) => Step::Done(Credentials {
                    authzid: String::new(),
                    username,
                    password,
                }),
                None => Step::Failed(SaslError::Malformed),
            },
            State::Finished => Step::Failed(SaslError::Malformed),
        }
    }
}

/// A non-empty UTF-8 field without NUL, of bounded length.
fn field(bytes: Vec<u8>) -> Option<String> {
    if bytes.is_empty() || bytes.len() > MAX_FIELD || bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// RFC 4616 section 2: `[authzid] UTF8NUL authcid UTF8NUL passwd`, where
/// authcid and passwd are non-empty.
fn parse_plain(bytes: Vec<u8>) -> Option<Credentials> {
    let mut parts = bytes.split(|&b| b == 0);
    let authzid = parts.next()?;
    let username = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || authzid.len() > MAX_FIELD {
        return None;
    }
    let authzid = std::str::from_utf8(authzid).ok()?.to_owned();
    Some(Credentials {
        authzid,
        username: field(username.to_vec())?,
        password: field(password.to_vec())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(authzid: &str, user: &str, pass: &str) -> Credentials {
        Credentials {
            authzid: authzid.into(),
            username: user.into(),
            password: pass.into(),
        }
    }

    #[test]
    fn plain_with_initial_response() {
        let ir = base64::encode(b"\0alice\0secret");
        let (_, step) = Exchange::start(Mechanism::Plain, Some(ir.as_bytes()));
        assert_eq!(step, Step::Done(creds("", "alice", "secret")));
        let ir = base64::encode(b"bob\0alice\0secret");
        let (_, step) = Exchange::start(Mechanism::Plain, Some(ir.as_bytes()));
        assert_eq!(step, Step::Done(creds("bob", "alice", "secret")));
    }

    #[test]
    fn plain_without_initial_response_gets_empty_challenge() {
        let (mut ex, step) = Exchange::start(Mechanism::Plain, None);
        assert_eq!(step, Step::Challenge(""));
        let line = base64::encode(b"\0alice\0secret");
        assert_eq!(
            ex.respond(line.as_bytes()),
            Step::Done(creds("", "alice", "secret"))
        );
    }

    #[test]
    fn plain_rejects_malformed_responses() {
        for bad in [
            &b"alice\0secret"[..],
            b"\0\0secret",
            b"\0alice\0",
            b"a\0b\0c\0d",
            b"\0al\xffice\0pw",
        ] {
            let ir = base64::encode(bad);
            let (_, step) = Exchange::start(Mechanism::Plain, Some(ir.as_bytes()));
            assert_eq!(step, Step::Failed(SaslError::Malformed), "{bad:?}");
        }
        let (_, step) = Exchange::start(Mechanism::Plain, Some(b"="));
        assert_eq!(step, Step::Failed(SaslError::Malformed));
    }

    #[test]
    fn login_two_steps_and_with_initial_user() {
        let (mut ex, step) = Exchange::start(Mechanism::Login, None);
        assert_eq!(step, Step::Challenge(LOGIN_USERNAME));
        assert_eq!(ex.respond(b"YWxpY2U="), Step::Challenge(LOGIN_PASSWORD));
        assert_eq!(
            ex.respond(b"c2VjcmV0"),
            Step::Done(creds("", "alice", "secret"))
        );

        let (mut ex, step) = Exchange::start(Mechanism::Login, Some(b"YWxpY2U="));
        assert_eq!(step, Step::Challenge(LOGIN_PASSWORD));
        assert_eq!(
            ex.respond(b"c2VjcmV0"),
            Step::Done(creds("", "alice", "secret"))
        );
    }

    #[test]
    fn cancel_and_bad_base64() {
        let (mut ex, _) = Exchange::start(Mechanism::Login, None);
        assert_eq!(ex.respond(b"*"), Step::Failed(SaslError::Cancelled));
        let (mut ex, _) = Exchange::start(Mechanism::Plain, None);
        assert_eq!(
            ex.respond(b"not base64!"),
            Step::Failed(SaslError::BadBase64)
        );
        let (_, step) = Exchange::start(Mechanism::Plain, Some(b"*"));
        assert_eq!(step, Step::Failed(SaslError::Cancelled));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", creds("", "alice", "hunter2"));
        assert!(shown.contains("alice") && !shown.contains("hunter2"));
    }
}
