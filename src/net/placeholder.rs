//! Interim handlers for services whose protocol cores are not in this
//! build yet. Each answers in its own protocol that the service is not
//! available, so clients fail clearly instead of hanging.
//!
//! NOT FINISHED: SMTP, POP3, IMAP and the web page replace these.

use super::{Service, Shared};
use smol::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use smol::net::TcpStream;
use std::net::SocketAddr;

/// Greets, refuses every command, and closes on QUIT or after a few lines.
pub async fn serve(service: Service, stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let host = &shared.config.server.hostname;
    log::debug!("{service}: connection from {peer}");
    let mut w = stream.clone();
    let (greeting, reply, bye): (String, &str, &str) = match service {
        Service::Smtp | Service::Submission => (
            format!("220 {host} ESMTP facteur\r\n"),
            "502 5.5.1 this service is not available yet\r\n",
            "221 2.0.0 bye\r\n",
        ),
        Service::Pop3 => (
            format!("-ERR [SYS/PERM] POP3 is not available yet on {host}\r\n"),
            "",
            "",
        ),
        Service::Imap => (
            format!("* BYE [UNAVAILABLE] IMAP is not available yet on {host}\r\n"),
            "",
            "",
        ),
        Service::Web => (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 35\r\nConnection: close\r\n\r\nThe setup page is not available yet\n"
                .to_string(),
            "",
            "",
        ),
        // Implicit TLS ports: no plaintext to speak.
        Service::Submissions | Service::Pop3s | Service::Imaps => return,
    };
    if w.write_all(greeting.as_bytes()).await.is_err() || reply.is_empty() {
        return;
    }
    let mut lines = BufReader::new(stream.take(16 * 1024));
    let mut line = String::new();
    for _ in 0..10 {
        line.clear();
        let read = smol::future::or(async { lines.read_line(&mut line).await.ok() }, async {
            smol::Timer::after(shared.config.timeouts.smtp_command.0).await;
            None
        })
        .await;
        match read {
            Some(n) if n > 0 => {}
            _ => return,
        }
        let quit = line.trim().eq_ignore_ascii_case("quit");
        let out = if quit { bye } else { reply };
        if w.write_all(out.as_bytes()).await.is_err() || quit {
            return;
        }
    }
}
