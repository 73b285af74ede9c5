//! TRANSACTION state (RFC 1939 §5): STAT, LIST, UIDL, RETR, TOP, DELE,
//! NOOP and RSET, and QUIT entering UPDATE (§6).

use super::*;

impl Session {
    pub(super) fn transaction(&mut self, cmd: Command) {
        let State::Transaction { messages, deleted } = &mut self.state else {
            return;
        };
        let out = &mut self.out;
        match cmd {
            Command::Stat => {
                let count = deleted.iter().filter(|d| !**d).count();
                let size = total_size(messages, deleted);
                push_line(out, &format!("+OK {count} {size}"));
            }
            Command::List(None) => {
                let count = deleted.iter().filter(|d| !**d).count();
                let size = total_size(messages, deleted);
                push_line(out, &format!("+OK {count} messages ({size} octets)"));
                for (n, m) in visible(messages, deleted) {
                    push_line(out, &format!("{n} {}", m.size));
                }
                push_line(out, ".");
            }
            Command::List(Some(n)) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    let size = messages.get(i).map_or(0, |m| m.size);
                    push_line(out, &format!("+OK {n} {size}"));
                }
                Err(e) => push_line(out, &e),
            },
            Command::Uidl(None) => {
                push_line(out, "+OK unique-id listing follows");
                for (n, m) in visible(messages, deleted) {
                    push_line(out, &format!("{n} {}", m.uidl));
                }
                push_line(out, ".");
            }
            Command::Uidl(Some(n)) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    let uidl = messages.get(i).map_or("", |m| m.uidl.as_str());
                    push_line(out, &format!("+OK {n} {uidl}"));
                }
                Err(e) => push_line(out, &e),
            },
            Command::Retr(n) | Command::Top(n, _) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    let Some(m) = messages.get(i) else { return };
                    let top_lines = match cmd {
                        Command::Top(_, lines) => Some(lines),
                        _ => None,
                    };
                    // Sent by the adapter once the message is open, so
                    // that a message gone meanwhile can still get -ERR.
                    let mut status = Vec::new();
                    if top_lines.is_some() {
                        push_line(&mut status, "+OK top of message follows");
                    } else {
                        push_line(&mut status, &format!("+OK {} octets", m.size));
                    }
                    self.action = Some(Action::Retrieve {
                        uid: m.uid,
                        top_lines,
                        status,
                    });
                    self.wait = Wait::Retrieve(n);
                }
                Err(e) => push_line(out, &e),
            },
            Command::Dele(n) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    if let Some(d) = deleted.get_mut(i) {
                        *d = true;
                    }
                    push_line(out, &format!("+OK message {n} deleted"));
                }
                Err(e) => push_line(out, &e),
            },
            Command::Noop => push_line(out, "+OK"),
            // RFC 1939 §5: RSET unmarks every message marked as deleted.
            Command::Rset => {
                deleted.iter_mut().for_each(|d| *d = false);
                let size = total_size(messages, deleted);
                push_line(
                    out,
                    &format!(
                        "+OK maildrop has {} messages ({size} octets)",
                        messages.len()
                    ),
                );
            }
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop
            | Command::Auth(_)
            | Command::Stls
            | Command::Utf8 => self.error("-ERR already logged in"),
            Command::Capa | Command::Quit => {}
        }
    }

    pub(super) fn quit(&mut self) {
        match &self.state {
            State::Transaction { messages, deleted } => {
                // RFC 1939 §6: QUIT in TRANSACTION enters UPDATE.
                let delete: Vec<u32> = messages
                    .iter()
                    .zip(deleted)
                    .filter(|(_, d)| **d)
                    .map(|(m, _)| m.uid)
                    .collect();
                let remaining = messages.len().saturating_sub(delete.len());
                self.state = State::Update { remaining };
                self.wait = Wait::Update;
                self.input.clear();
                self.action = Some(Action::Update { delete });
            }
            _ => {
                // RFC 1939 §4: QUIT in AUTHORIZATION closes, no UPDATE.
                let reply = format!("+OK {} POP3 server signing off", clean(&self.cfg.hostname));
                self.reply(&reply);
                self.close();
            }
        }
    }
}
