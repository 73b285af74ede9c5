//! Interim handlers for services whose protocol cores are not in this
//! build yet. Each says in its own protocol that the service is not
//! available, so clients fail clearly instead of hanging.
//!
//! NOT FINISHED: the web page replaces this.

use super::{Service, Shared};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::net::SocketAddr;

/// Sends a "not available" greeting and closes.
pub async fn serve(service: Service, mut stream: TcpStream, peer: SocketAddr, _shared: &Shared) {
    log::debug!("{service}: connection from {peer}");
    let greeting = match service {
        Service::Web => "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 36\r\nConnection: close\r\n\r\nThe setup page is not available yet\n"
            .to_string(),
        // Served by their own adapters; implicit TLS ports have no
        // plaintext to speak.
        Service::Smtp
        | Service::Submission
        | Service::Submissions
        | Service::Pop3
        | Service::Pop3s
        | Service::Imap
        | Service::Imaps => return,
    };
    let _ = stream.write_all(greeting.as_bytes()).await;
    let _ = stream.flush().await;
}
