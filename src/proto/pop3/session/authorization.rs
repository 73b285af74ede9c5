//! AUTHORIZATION state (RFC 1939 §4): USER/PASS, SASL PLAIN (RFC 5034),
//! STLS (RFC 2595) and UTF8 (RFC 6856).

use super::*;

impl Session {
    pub(super) fn authorization(&mut self, cmd: Command, user: Option<String>) {
        match cmd {
            Command::User(name) => {
                if let Some(refusal) = self.plaintext_refusal() {
                    return self.reply(refusal);
                }
                self.state = State::Authorization { user: Some(name) };
                self.reply("+OK send PASS");
            }
            Command::Pass(password) => match user {
                Some(username) => self.request_auth(username, password),
                None => self.error("-ERR send USER first"),
            },
            Command::Apop => self.error("-ERR APOP not supported"),
            // RFC 5034 §4 leaves AUTH without a mechanism undefined; like
            // most servers, list the mechanisms as a multi-line reply.
            Command::Auth(None) => {
                if self.auth_allowed() {
                    self.reply("+OK\r\nPLAIN\r\n.");
                } else {
                    self.reply("+OK\r\n.");
                }
            }
            Command::Auth(Some(AuthArgs { mechanism, initial })) => {
                if mechanism != "PLAIN" {
                    return self.error("-ERR unsupported authentication mechanism");
                }
                if let Some(refusal) = self.plaintext_refusal() {
                    return self.reply(refusal);
                }
                match initial {
                    Some(response) => self.sasl_response(response.as_bytes()),
                    // RFC 5034 §4: an empty challenge is "+ ".
                    None => {
                        self.reply("+ ");
                        self.wait = Wait::SaslResponse;
                    }
                }
            }
            // RFC 2595 §4: STLS only in AUTHORIZATION and only once.
            Command::Stls if self.tls => self.error("-ERR already using TLS"),
            Command::Stls if !self.cfg.stls_available => self.error("-ERR STLS not available"),
            Command::Stls => {
                self.reply("+OK begin TLS negotiation");
                // Anything pipelined after STLS was sent in clear and could
                // have been injected: it must not run after the handshake.
                self.input.clear();
                self.skipping = false;
                self.wait = Wait::Tls;
                self.action = Some(Action::StartTls);
            }
            // RFC 6856 §2: valid in AUTHORIZATION only. User names and
            // passwords are taken as UTF-8 whether or not it was sent.
            Command::Utf8 => {
                self.utf8 = true;
                self.reply("+OK UTF8 enabled");
            }
            Command::Stat
            | Command::List(_)
            | Command::Uidl(_)
            | Command::Retr(_)
            | Command::Top(..)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset => self.error("-ERR not logged in"),
            Command::Capa | Command::Quit => {}
        }
    }

    /// A SASL PLAIN response line (RFC 5034 §4), or its initial response.
    pub(super) fn sasl_response(&mut self, response: &[u8]) {
        // RFC 5034 §4: "*" cancels, and the server must answer -ERR.
        if response == b"*" {
            return self.reply("-ERR authentication cancelled");
        }
        // "=" is an empty response, which PLAIN cannot use.
        // The shared PLAIN decoder (RFC 4616 §2). Acting as another user
        // (an authzid other than the authcid) is not offered.
        match sasl::Exchange::start(sasl::Mechanism::Plain, Some(response)).1 {
            sasl::Step::Done(c) if c.authzid.is_empty() || c.authzid == c.username => {
                self.request_auth(c.username, c.password)
            }
            _ => self.error("-ERR invalid SASL PLAIN response"),
        }
    }

    fn request_auth(&mut self, username: String, password: String) {
        self.wait = Wait::Auth;
        self.action = Some(Action::Auth { username, password });
    }

    /// Passwords travel in clear unless TLS is on or the administrator
    /// allowed it.
    pub(super) fn auth_allowed(&self) -> bool {
        self.tls || self.cfg.allow_plaintext_auth
    }

    /// The reply refusing a plaintext login, if it must be refused.
    fn plaintext_refusal(&self) -> Option<&'static str> {
        if self.auth_allowed() {
            None
        } else if self.cfg.stls_available {
            Some("-ERR [AUTH] plaintext login requires TLS, use STLS first")
        } else {
            Some("-ERR [AUTH] plaintext login not allowed")
        }
    }
}
