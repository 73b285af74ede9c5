//! Message content: DATA (RFC 5321 §4.1.1.4) and BDAT chunks (RFC 3030),
//! streamed to the adapter as body chunks.

use super::*;

impl Session {
    pub(super) fn step_data(&mut self) -> bool {
        let Phase::Data(rx) = &mut self.phase else {
            return false;
        };
        let before = self.chunk.len();
        let (n, progress) = rx.process(&self.input[self.start..], &mut self.chunk, BODY_CHUNK);
        self.start += n;
        self.headers.push(&self.chunk[before..]);
        if progress == DataProgress::More {
            if self.chunk.len() >= BODY_CHUNK {
                self.emit_chunk();
                return true;
            }
            return n > 0;
        }
        let (size, too_big, too_long) = (rx.size(), rx.too_big(), rx.line_too_long());
        self.phase = Phase::Command;
        if too_big || too_long {
            // RFC 1870 6.2: 552 once the content has been received.
            self.reset_transaction();
            let text = if too_big {
                "Message size exceeds fixed maximum message size"
            } else {
                "Message line too long"
            };
            self.reply(Reply::new(552, "5.3.4", text));
        } else {
            self.finish_body(size);
        }
        true
    }

    fn finish_body(&mut self, size: u64) {
        self.emit_chunk();
        self.body_open = false;
        let headers = std::mem::take(&mut self.headers).finish();
        self.actions.push_back(Action::BodyEnd { size, headers });
        self.waiting = Some(Waiting::BodyEnd);
    }

    pub(super) fn step_bdat(&mut self) -> bool {
        let Phase::Bdat {
            remaining, error, ..
        } = &mut self.phase
        else {
            return false;
        };
        if *remaining > 0 {
            let avail = &self.input[self.start..];
            let n = avail
                .len()
                .min(BODY_CHUNK)
                .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
            if n == 0 {
                return false;
            }
            *remaining -= n as u64;
            if error.is_none() {
                let bdat = self.tx.as_mut().and_then(|t| t.bdat.as_mut());
                if let Some(bdat) = bdat {
                    let before = self.chunk.len();
                    bdat.norm.push(&avail[..n], &mut self.chunk);
                    self.body_size += (self.chunk.len() - before) as u64;
                    self.headers.push(&self.chunk[before..]);
                    if self.body_size > self.config.max_message_size {
                        // RFC 3030 2 / RFC 1870: 552 for this chunk.
                        *error = Some(Reply::new(
                            552,
                            "5.3.4",
                            "Message size exceeds fixed maximum message size",
                        ));
                        self.chunk.clear();
                    } else if bdat.norm.longest_line() > self.config.max_text_line {
                        // The same limit as DATA (RFC 5322 §2.1.1).
                        *error = Some(Reply::new(552, "5.3.4", "Message line too long"));
                        self.chunk.clear();
                    }
                }
            }
            self.start += n;
            if self.chunk.len() >= BODY_CHUNK {
                self.emit_chunk();
            }
            return true;
        }
        let Phase::Bdat { last, error, .. } = std::mem::replace(&mut self.phase, Phase::Command)
        else {
            return false;
        };
        match error {
            Some(e) => {
                if last {
                    self.reset_transaction();
                } else if let Some(b) = self.tx.as_mut().and_then(|t| t.bdat.as_mut()) {
                    // RFC 3030 2: after a failed chunk the transaction has
                    // failed; later chunks get the same answer until LAST.
                    b.error = Some(e.clone());
                    self.abort_body();
                }
                self.reply(e);
            }
            None if last => {
                let size = self.body_size;
                self.finish_body(size);
            }
            None => {
                self.progress();
                self.emit_chunk();
                let text = format!("{} octets received", self.body_size);
                self.reply(Reply::new(250, "2.0.0", text));
            }
        }
        true
    }
}
