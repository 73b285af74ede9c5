//! The Bayesian filter learns from IMAP moves end to end: into Junk is
//! spam, out of Junk (not to Trash) is ham, and what was learnt is in the
//! store after the server stops, as `facteur spam stats` shows.

mod common;

use common::dns::{DnsServer, Zone};
use common::server::{Lines, Server};

const ANN: &str = "ann@example.test";
const PASSWORD: &str = "secret-ann";

/// Sends `cmd` tagged `tag`; returns the untagged lines before the tagged OK.
fn command(c: &mut Lines, tag: &str, cmd: &[u8]) -> Vec<String> {
    c.send(format!("{tag} ").as_bytes());
    c.send(cmd);
    c.send(b"\r\n");
    c.until_ok(tag)
}

fn append(c: &mut Lines, tag: &str, mailbox: &str, subject: &str, words: &str) {
    let msg = format!(
        "From: Someone <someone@remote.test>\r\nTo: {ANN}\r\nSubject: {subject}\r\n\r\n{words}\r\n"
    );
    let cmd = format!("APPEND {mailbox} {{{}+}}\r\n{msg}", msg.len());
    command(c, tag, cmd.as_bytes());
}

#[test]
fn moves_into_and_out_of_junk_train_spam_and_ham() {
    let dns = DnsServer::start(Zone::new());
    let mut s = Server::start(&format!(
        "[tls]\nallow_plaintext_auth = true\n\
         [dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\nattempts = 1\n\n\
         [antispam]\ndnsbl = []\ngreylisting = false\nbayes = true\n",
        dns.addr()
    ));
    s.add_user(ANN, PASSWORD);
    let mut c = Lines::connect(s.addr("imap"));
    assert!(c.line().starts_with("* OK"));
    command(
        &mut c,
        "a",
        format!("LOGIN {ANN} \"{PASSWORD}\"").as_bytes(),
    );
    // Appending to INBOX trains nothing; to Junk trains spam, and moving
    // that one out again reverses it to ham.
    append(&mut c, "b", "INBOX", "cheap pills", "buy cheap pills now");
    append(
        &mut c,
        "c",
        "Junk",
        "lunch friday",
        "shall we meet for lunch",
    );
    command(&mut c, "d", b"SELECT INBOX");
    command(&mut c, "e", b"MOVE 1 Junk");
    command(&mut c, "f", b"SELECT Junk");
    let search = command(&mut c, "g", b"SEARCH SUBJECT lunch");
    let n = search[0].strip_prefix("* SEARCH ").expect("found");
    command(&mut c, "h", format!("MOVE {n} INBOX").as_bytes());
    command(&mut c, "i", b"LOGOUT");
    assert!(s.stop(), "clean stop");

    let (ok, out, err) = s.cli(&["spam", "stats", ANN], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains(&format!("{ANN}: 1 spam, 1 ham,")), "{out}");
}
