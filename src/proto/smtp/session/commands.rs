//! Command lines: EHLO/HELO, MAIL, RCPT, DATA, BDAT, STARTTLS, AUTH and the
//! rest (RFC 5321 §4.1), each checked against the session's state.

use super::super::command::{self, Command};
use super::*;

impl Session {
    pub(super) fn sasl_step(&mut self, ex: Exchange, mechanism: Mechanism, step: sasl::Step) {
        match step {
            sasl::Step::Challenge(c) => {
                // RFC 4954 4: "334 " followed by the base64 challenge.
                self.reply(Reply::plain(334, c));
                self.framer.set_max(AUTH_LINE_MAX);
                self.phase = Phase::Sasl(ex, mechanism);
            }
            sasl::Step::Done(credentials) => {
                self.waiting = Some(Waiting::Auth(credentials.username.clone()));
                self.actions.push_back(Action::Auth {
                    mechanism,
                    credentials,
                });
            }
            // RFC 4954 4: 501 when the client cancels or sends bad base64.
            sasl::Step::Failed(SaslError::Cancelled) => {
                self.bad_command(Reply::new(501, "5.0.0", "Authentication cancelled"))
            }
            sasl::Step::Failed(SaslError::BadBase64) => {
                self.bad_command(Reply::new(501, "5.5.2", "Invalid base64 data"))
            }
            sasl::Step::Failed(SaslError::Malformed) => self.bad_command(Reply::new(
                501,
                "5.5.2",
                "Malformed authentication response",
            )),
        }
    }

    fn sequence(&mut self, text: &str) {
        self.bad_command(Reply::new(503, "5.5.1", text));
    }

    pub(super) fn command_line(&mut self, line: &[u8]) {
        if line.contains(&0) {
            return self.bad_command(Reply::new(500, "5.5.2", "NUL characters are not allowed"));
        }
        let utf8 = self.tx.as_ref().is_some_and(|t| t.params.smtputf8);
        let cmd = match command::parse(line, utf8) {
            Ok(c) => c,
            Err(r) => return self.bad_command(r),
        };
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        let idle = matches!(
            cmd,
            Command::Ehlo(_)
                | Command::Helo(_)
                | Command::Rset
                | Command::Noop
                | Command::Vrfy
                | Command::Help
        );
        if idle {
            self.idle_commands = self.idle_commands.saturating_add(1);
        }
        let late = self.idle_commands > self.config.max_idle_commands
            || self.now >= self.progress_deadline();
        if late && !matches!(cmd, Command::Quit) {
            let text = format!(
                "{} Too long without progress, closing connection",
                self.config.hostname
            );
            return self.shutdown(Reply::new(421, "4.4.2", text));
        }
        match cmd {
            Command::Ehlo(name) => {
                // RFC 5321 4.1.4: EHLO also resets the transaction.
                self.reset_transaction();
                self.helo = Some(Helo { name, esmtp: true });
                let ehlo = self.ehlo_reply();
                self.reply(ehlo);
            }
            Command::Helo(name) => {
                self.reset_transaction();
                self.helo = Some(Helo { name, esmtp: false });
                self.reply(Reply::plain(250, self.config.hostname.clone()));
            }
            Command::Mail { from, params } => self.mail(from, params, esmtp),
            Command::Rcpt { to, params } => self.rcpt(to, params, esmtp),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.reply(Reply::new(250, "2.0.0", "OK"));
            }
            Command::Noop => self.reply(Reply::new(250, "2.0.0", "OK")),
            Command::Quit => {
                self.reset_transaction();
                let text = format!("{} closing connection", self.config.hostname);
                self.reply(Reply::new(221, "2.0.0", text));
                self.close();
            }
            // RFC 5321 3.5.3: 252 without confirming anything.
            Command::Vrfy => self.reply(Reply::new(
                252,
                "2.5.2",
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Command::Expn => self.bad_command(Reply::new(502, "5.5.1", "EXPN not available")),
            Command::Help => self.reply(Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            )),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial),
        }
    }

    fn auth_offered(&self) -> bool {
        self.config.mode == Mode::Submission
            && (self.tls.is_some() || self.config.allow_plaintext_auth)
    }

    fn ehlo_reply(&self) -> Reply {
        let c = &self.config;
        let mut lines = vec![
            c.hostname.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {}", c.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if c.starttls_available && self.tls.is_none() {
            lines.push("STARTTLS".to_owned());
        }
        lines.push("DSN".to_owned());
        lines.push("CHUNKING".to_owned());
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        Reply::plain(250, lines.join("\n"))
    }

    fn mail(&mut self, from: ReversePath, params: MailParams, esmtp: bool) {
        if self.helo.is_none() {
            return self.sequence("Send EHLO first");
        }
        if self.tx.is_some() {
            return self.sequence("Nested MAIL command");
        }
        // RFC 4954 6 / RFC 6409 4.3: submission needs authentication.
        if self.config.mode == Mode::Submission && self.auth.is_none() {
            return self.bad_command(Reply::new(530, "5.7.0", "Authentication required"));
        }
        if !esmtp && params != MailParams::default() {
            return self.bad_command(Reply::new(555, "5.5.4", "Parameters need EHLO"));
        }
        // RFC 1870 6.1: a declared size over the limit is refused at once.
        if params
            .size
            .is_some_and(|s| s > self.config.max_message_size)
        {
            return self.reply(Reply::new(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            ));
        }
        self.actions.push_back(Action::Mail {
            from: from.clone(),
            params: params.clone(),
        });
        self.waiting = Some(Waiting::Mail(from, params));
    }

    fn rcpt(&mut self, to: ForwardPath, params: RcptParams, esmtp: bool) {
        let Some(tx) = &self.tx else {
            return self.sequence("Need MAIL before RCPT");
        };
        if tx.data_used || tx.bdat.is_some() {
            return self.sequence("RCPT not allowed during message content");
        }
        if !esmtp && params != RcptParams::default() {
            return self.bad_command(Reply::new(555, "5.5.4", "Parameters need EHLO"));
        }
        // RFC 5321 4.5.3.1.10: 452 for too many recipients.
        if tx.rcpts.len() >= self.config.max_recipients {
            return self.reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        self.actions.push_back(Action::Rcpt {
            to: to.clone(),
            params: params.clone(),
        });
        self.waiting = Some(Waiting::Rcpt(to, params));
    }

    fn data(&mut self) {
        let Some(tx) = &mut self.tx else {
            return self.sequence("Need MAIL before DATA");
        };
        if tx.bdat.is_some() {
            return self.sequence("DATA not allowed after BDAT");
        }
        // RFC 5321 3.3: 554 when no recipient was accepted.
        if tx.rcpts.is_empty() {
            return self.bad_command(Reply::new(554, "5.5.1", "No valid recipients"));
        }
        tx.data_used = true;
        self.reply(Reply::plain(
            354,
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
        self.open_body();
        let rx = DataReceiver::new(self.config.max_message_size, self.config.max_text_line);
        self.phase = Phase::Data(rx);
    }

    /// RFC 3030 2: the chunk is read whatever the verdict on the command,
    /// and the reply comes after it.
    fn bdat(&mut self, size: u64, last: bool) {
        let error = match &mut self.tx {
            None => Some(Reply::new(503, "5.5.1", "Need MAIL before BDAT")),
            Some(tx) if tx.data_used => {
                Some(Reply::new(503, "5.5.1", "BDAT not allowed after DATA"))
            }
            Some(tx) if tx.rcpts.is_empty() => {
                Some(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            Some(tx) => match &tx.bdat {
                Some(b) => b.error.clone(),
                None => {
                    tx.bdat = Some(Bdat::default());
                    self.open_body();
                    None
                }
            },
        };
        self.phase = Phase::Bdat {
            remaining: size,
            last,
            error,
        };
    }

    fn starttls(&mut self) {
        if self.tls.is_some() {
            return self.sequence("Already in TLS");
        }
        if !self.config.starttls_available {
            return self.bad_command(Reply::new(502, "5.5.1", "STARTTLS not available"));
        }
        self.reset_transaction();
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        // RFC 3207 4.2 (CVE-2011-0411): input pipelined after STARTTLS was
        // sent in plaintext and must not be executed after the handshake.
        self.discard_input();
        self.flush();
        self.actions.push_back(Action::StartTls);
        self.waiting = Some(Waiting::Tls);
    }

    fn auth(&mut self, mechanism: Mechanism, initial: Option<Vec<u8>>) {
        if self.config.mode != Mode::Submission {
            return self.bad_command(Reply::new(502, "5.5.1", "AUTH not available"));
        }
        if !self.helo.as_ref().is_some_and(|h| h.esmtp) {
            return self.sequence("Send EHLO first");
        }
        if self.auth.is_some() {
            return self.sequence("Already authenticated");
        }
        if self.tx.is_some() {
            return self.sequence("AUTH not allowed during a mail transaction");
        }
        if !self.auth_offered() {
            // RFC 4954 6: 538 5.7.11 encryption required.
            return self.bad_command(Reply::new(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            ));
        }
        let (ex, step) = Exchange::start(mechanism, initial.as_deref());
        self.sasl_step(ex, mechanism, step);
    }
}
