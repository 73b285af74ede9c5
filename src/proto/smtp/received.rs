//! The Received: trace field (RFC 5321 4.4), with the `with` protocol
//! names of RFC 3848 and RFC 6531 3.7.3.

use std::net::IpAddr;

/// TLS parameters of a connection, as reported by the TLS layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// Protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// Cipher suite name, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher: String,
}

/// Everything a Received: field states.
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    /// The EHLO/HELO argument (sanitised when written).
    pub helo: &'a str,
    /// The client's address.
    pub peer: IpAddr,
    /// Our host name.
    pub by: &'a str,
    /// EHLO (not HELO) was used.
    pub esmtp: bool,
    /// TLS, if the session was encrypted.
    pub tls: Option<&'a TlsInfo>,
    /// The client authenticated.
    pub authenticated: bool,
    /// The transaction used SMTPUTF8.
    pub utf8: bool,
    /// Our queue or message id.
    pub id: &'a str,
    /// The recipient, stated only when there is exactly one (privacy:
    /// RFC 5321 7.2 warns against listing recipients).
    pub recipient: Option<&'a str>,
    /// RFC 5322 3.3 date-time, already formatted.
    pub date: &'a str,
}

/// RFC 3848 / RFC 6531 3.7.3 protocol name.
pub fn protocol(esmtp: bool, tls: bool, authenticated: bool, utf8: bool) -> &'static str {
    match (esmtp || utf8, utf8, tls, authenticated) {
        (false, _, _, _) => "SMTP",
        (true, false, false, false) => "ESMTP",
        (true, false, false, true) => "ESMTPA",
        (true, false, true, false) => "ESMTPS",
        (true, false, true, true) => "ESMTPSA",
        (true, true, false, false) => "UTF8SMTP",
        (true, true, false, true) => "UTF8SMTPA",
        (true, true, true, false) => "UTF8SMTPS",
        (true, true, true, true) => "UTF8SMTPSA",
    }
}

/// Keeps printable characters that cannot break the field's structure.
fn clean(s: &str) -> String {
    let c: String = s
        .chars()
        .take(255)
        .map(|c| {
            if c.is_control() || c.is_whitespace() || "()<>;\\\"".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if c.is_empty() {
        "unknown".to_owned()
    } else {
        c
    }
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 4.1.3).
pub fn address_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("[{a}]"),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => format!("[{v4}]"),
            None => format!("[IPv6:{a}]"),
        },
    }
}

/// Most columns of a folded line (RFC 5322 2.1.1 recommends 78).
const FOLD_AT: usize = 78;

/// Builds the complete field, `Received: ...` folded under 78 columns
/// where its tokens allow, ending in CR LF.
pub fn received(t: &Trace<'_>) -> String {
    // Each group is kept on one line when it fits.
    let mut groups: Vec<String> = vec![
        format!("from {}", clean(t.helo)),
        format!("({})", address_literal(t.peer)),
        format!("by {}", clean(t.by)),
        format!(
            "with {}",
            protocol(t.esmtp, t.tls.is_some(), t.authenticated, t.utf8)
        ),
    ];
    if let Some(tls) = t.tls {
        groups.push(format!("({} {})", clean(&tls.version), clean(&tls.cipher)));
    }
    groups.push(format!("id {}", clean(t.id)));
    match t.recipient {
        Some(r) => groups.push(format!("for <{}>;", clean(r))),
        None => {
            if let Some(last) = groups.last_mut() {
                last.push(';');
            }
        }
    }
    groups.push(t.date.chars().filter(|c| !c.is_control()).collect());

    let mut out = String::from("Received:");
    let mut col = out.len();
    for g in groups {
        if col + 1 + g.len() > FOLD_AT && col > 1 {
            out.push_str("\r\n\t");
            col = 8; // a tab counts as up to 8 columns
        } else {
            out.push(' ');
            col += 1;
        }
        col += g.chars().count();
        out.push_str(&g);
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace<'a>(tls: Option<&'a TlsInfo>) -> Trace<'a> {
        Trace {
            helo: "client.example",
            peer: "192.0.2.7".parse().unwrap(),
            by: "mx.example.org",
            esmtp: true,
            tls,
            authenticated: false,
            utf8: false,
            id: "0123456789ab",
            recipient: Some("bob@example.org"),
            date: "Tue, 3 Nov 2026 10:00:00 +0000",
        }
    }

    #[test]
    fn protocol_names() {
        assert_eq!(protocol(false, false, false, false), "SMTP");
        assert_eq!(protocol(true, false, false, false), "ESMTP");
        assert_eq!(protocol(true, true, false, false), "ESMTPS");
        assert_eq!(protocol(true, false, true, false), "ESMTPA");
        assert_eq!(protocol(true, true, true, false), "ESMTPSA");
        assert_eq!(protocol(true, true, true, true), "UTF8SMTPSA");
    }

    #[test]
    fn plain_field() {
        let r = received(&trace(None));
        assert_eq!(
            r,
            "Received: from client.example ([192.0.2.7]) by mx.example.org with ESMTP\r\n\
             \tid 0123456789ab for <bob@example.org>; Tue, 3 Nov 2026 10:00:00 +0000\r\n"
        );
    }

    #[test]
    fn tls_field_is_folded_and_sanitised() {
        let tls = TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
        };
        let mut t = trace(Some(&tls));
        t.helo = "evil\r\nX-Injected: yes";
        t.recipient = None;
        t.authenticated = true;
        let r = received(&t);
        for line in r.split("\r\n") {
            assert!(line.len() <= 78, "{line:?}");
        }
        assert!(r.contains("with ESMTPSA (TLSv1.3 TLS13_AES_256_GCM_SHA384)"));
        assert!(r.contains("from evil__X-Injected:_yes"));
        assert!(r.contains("id 0123456789ab;"));
        assert!(!r.contains("for <"));
        assert!(r.ends_with("+0000\r\n"));
        assert_eq!(r.matches("\r\n").count(), r.matches("\r\n\t").count() + 1);
    }

    #[test]
    fn ipv6_literal() {
        assert_eq!(
            address_literal("2001:db8::1".parse().unwrap()),
            "[IPv6:2001:db8::1]"
        );
        assert_eq!(
            address_literal("::ffff:192.0.2.1".parse().unwrap()),
            "[192.0.2.1]"
        );
    }
}
