//! SMTP paths and mailboxes (RFC 5321 4.1.2), with the UTF-8 extensions of
//! RFC 6531 3.3 when the transaction uses SMTPUTF8.
//!
//! Parsing only: the core never interprets `%`, `!` or `@` inside a local
//! part, and resolves nothing. The relay decision belongs to the adapter,
//! which sees the decoded local part and the domain kind.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The domain of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A domain name, as sent (case preserved; compare case-insensitively).
    Name(String),
    /// `[1.2.3.4]`.
    Ipv4(Ipv4Addr),
    /// `[IPv6:...]`.
    Ipv6(Ipv6Addr),
    /// `[tag:content]`, a General-address-literal (RFC 5321 4.1.3).
    General {
        /// The standardized tag.
        tag: String,
        /// The literal's content.
        content: String,
    },
}

impl Domain {
    /// True for address literals (`[...]`).
    pub fn is_literal(&self) -> bool {
        !matches!(self, Domain::Name(_))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(n) => f.write_str(n),
            Domain::Ipv4(a) => write!(f, "[{a}]"),
            Domain::Ipv6(a) => write!(f, "[IPv6:{a}]"),
            Domain::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

/// A mailbox: decoded local part and domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part with quoting removed (`"a b"@x` gives `a b`).
    pub local: String,
    /// The domain.
    pub domain: Domain,
}

impl Mailbox {
    /// True when the local part or domain has non-ASCII characters.
    pub fn is_utf8(&self) -> bool {
        !self.local.is_ascii() || !matches!(&self.domain, Domain::Name(n) if n.is_ascii())
    }
}

impl fmt::Display for Mailbox {
    /// The canonical wire form, re-quoting the local part when needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_dot_string(&self.local, true) {
            f.write_str(&self.local)?;
        } else {
            f.write_str("\"")?;
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        write!(f, "@{}", self.domain)
    }
}

/// The argument of MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: bounces and other notifications (RFC 5321 4.5.5).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

/// The argument of RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<postmaster>` without a domain (RFC 5321 4.5.1).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Not a valid path (RFC 5321 4.1.2).
    Syntax,
    /// Non-ASCII without SMTPUTF8 (RFC 6531 3.4: 553 5.6.7).
    NeedsSmtpUtf8,
}

/// RFC 5321 4.5.3.1.1 and 4.5.3.1.2 limits, with room for UTF-8.
const MAX_LOCAL: usize = 256;
const MAX_DOMAIN: usize = 255;

/// Parses a reverse path including its angle brackets: `<>` or a Path.
pub fn parse_reverse_path(path: &[u8], utf8: bool) -> Result<ReversePath, AddressError> {
    if path == b"<>" {
        return Ok(ReversePath::Null);
    }
    parse_path(path, utf8).map(ReversePath::Mailbox)
}

/// Parses a forward path including its angle brackets.
pub fn parse_forward_path(path: &[u8], utf8: bool) -> Result<ForwardPath, AddressError> {
    if path.eq_ignore_ascii_case(b"<postmaster>") {
        return Ok(ForwardPath::Postmaster);
    }
    parse_path(path, utf8).map(ForwardPath::Mailbox)
}

/// `Path = "<" [ A-d-l ":" ] Mailbox ">"`. The source route (A-d-l) is
/// accepted and ignored (RFC 5321 4.1.1.3 and appendix C).
fn parse_path(path: &[u8], utf8: bool) -> Result<Mailbox, AddressError> {
    if !path.is_ascii() && !utf8 {
        return Err(AddressError::NeedsSmtpUtf8);
    }
    let s = std::str::from_utf8(path).map_err(|_| AddressError::Syntax)?;
    let inner = s
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .ok_or(AddressError::Syntax)?;
    let mailbox = match inner.strip_prefix('@') {
        Some(_) => {
            let colon = inner.find(':').ok_or(AddressError::Syntax)?;
            for at_domain in inner[..colon].split(',') {
                let d = at_domain.strip_prefix('@').ok_or(AddressError::Syntax)?;
                parse_domain_name(d, utf8)?;
            }
            &inner[colon + 1..]
        }
        None => inner,
    };
    parse_mailbox(mailbox, utf8)
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )`.
pub fn parse_mailbox(s: &str, utf8: bool) -> Result<Mailbox, AddressError> {
    if !s.is_ascii() && !utf8 {
        return Err(AddressError::NeedsSmtpUtf8);
    }
    let (local, rest) = if let Some(quoted) = s.strip_prefix('"') {
        let mut local = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(AddressError::Syntax),
                Some((i, '"')) => break i + 1,
                // quoted-pairSMTP = %d92 %d32-126
                Some((_, '\\')) => match chars.next() {
                    Some((_, c @ ' '..='~')) => local.push(c),
                    _ => return Err(AddressError::Syntax),
                },
                // qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF-8
                Some((_, c)) if (' '..='~').contains(&c) || (utf8 && !c.is_ascii()) => {
                    local.push(c)
                }
                Some(_) => return Err(AddressError::Syntax),
            }
        };
        (local, &quoted[end..])
    } else {
        let at = s.find('@').ok_or(AddressError::Syntax)?;
        let local = &s[..at];
        if !is_dot_string(local, utf8) {
            return Err(AddressError::Syntax);
        }
        (local.to_owned(), &s[at..])
    };
    let domain = rest.strip_prefix('@').ok_or(AddressError::Syntax)?;
    if local.len() > MAX_LOCAL {
        return Err(AddressError::Syntax);
    }
    let domain = if domain.starts_with('[') {
        parse_literal(domain)?
    } else {
        // A second '@' (user@remote@local) fails here: not a domain.
        parse_domain_name(domain, utf8)?;
        // U-labels are kept as A-labels (RFC 6531 §3.2, RFC 5891 §4), so
        // that `bücher.example` is the domain `xn--bcher-kva.example`.
        Domain::Name(crate::mail::idna::to_ascii(domain).ok_or(AddressError::Syntax)?)
    };
    Ok(Mailbox { local, domain })
}

/// atext (RFC 5322 3.2.3), plus UTF8-non-ascii with SMTPUTF8.
fn is_atext(c: char, utf8: bool) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (utf8 && !c.is_ascii())
}

/// `Dot-string = Atom *("." Atom)`.
fn is_dot_string(s: &str, utf8: bool) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| is_atext(c, utf8)))
}

/// `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig
/// [Ldh-str]`, with U-labels allowed under SMTPUTF8 (RFC 6531 3.3).
fn parse_domain_name(d: &str, utf8: bool) -> Result<(), AddressError> {
    let ok = !d.is_empty()
        && d.len() <= MAX_DOMAIN
        && d.split('.').all(|label| {
            let ldh = |c: char| c.is_ascii_alphanumeric() || c == '-' || (utf8 && !c.is_ascii());
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(ldh)
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(AddressError::Syntax)
    }
}

/// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
/// General-address-literal ) "]"` (RFC 5321 4.1.3).
fn parse_literal(d: &str) -> Result<Domain, AddressError> {
    let inner = d
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(AddressError::Syntax)?;
    if let Ok(v4) = inner.parse::<Ipv4Addr>() {
        return Ok(Domain::Ipv4(v4));
    }
    let (tag, content) = inner.split_once(':').ok_or(AddressError::Syntax)?;
    if tag.eq_ignore_ascii_case("IPv6") {
        return content
            .parse::<Ipv6Addr>()
            .map(Domain::Ipv6)
            .map_err(|_| AddressError::Syntax);
    }
    // General-address-literal = Standardized-tag ":" 1*dcontent
    let tag_ok = !tag.is_empty()
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !tag.ends_with('-');
    let content_ok = !content.is_empty()
        && content
            .bytes()
            .all(|b| (33..=126).contains(&b) && b != b'[' && b != b'\\' && b != b']');
    if tag_ok && content_ok {
        Ok(Domain::General {
            tag: tag.to_owned(),
            content: content.to_owned(),
        })
    } else {
        Err(AddressError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local: local.into(),
            domain: Domain::Name(domain.into()),
        }
    }

    fn fwd(s: &str) -> Result<ForwardPath, AddressError> {
        parse_forward_path(s.as_bytes(), false)
    }

    #[test]
    fn plain_quoted_and_literal_mailboxes() {
        assert_eq!(
            fwd("<a.b+c@example.org>"),
            Ok(ForwardPath::Mailbox(mb("a.b+c", "example.org")))
        );
        assert_eq!(
            fwd("<\"a b\\\"c\"@x.org>"),
            Ok(ForwardPath::Mailbox(mb("a b\"c", "x.org")))
        );
        let m = match fwd("<u@[192.0.2.1]>").unwrap() {
            ForwardPath::Mailbox(m) => m,
            p => panic!("{p:?}"),
        };
        assert_eq!(m.domain, Domain::Ipv4("192.0.2.1".parse().unwrap()));
        assert!(m.domain.is_literal());
        let m = parse_mailbox("u@[IPv6:2001:db8::1]", false).unwrap();
        assert_eq!(m.domain, Domain::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(m.to_string(), "u@[IPv6:2001:db8::1]");
        assert!(matches!(
            parse_mailbox("u@[x-tag:abc]", false).unwrap().domain,
            Domain::General { .. }
        ));
    }

    #[test]
    fn postmaster_and_null_paths() {
        assert_eq!(fwd("<postmaster>"), Ok(ForwardPath::Postmaster));
        assert_eq!(fwd("<PostMaster>"), Ok(ForwardPath::Postmaster));
        assert_eq!(fwd("<>"), Err(AddressError::Syntax));
        assert_eq!(parse_reverse_path(b"<>", false), Ok(ReversePath::Null));
        assert_eq!(
            fwd("<postmaster@x.org>"),
            Ok(ForwardPath::Mailbox(mb("postmaster", "x.org")))
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "a@b",
            "<a@b",
            "<@b>",
            "<a@>",
            "<a..b@c>",
            "<.a@c>",
            "<a@-c.org>",
            "<a@c..org>",
            "<a b@c>",
            "<\"unterminated@c>",
            "<a@[1.2.3.999]>",
            "<a@[IPv6:zz]>",
            "<a@[]>",
            "<a>",
            "<@a:>",
            "<@a,b:u@c>",
        ] {
            assert_eq!(fwd(bad), Err(AddressError::Syntax), "{bad}");
        }
    }

    /// The classic relay tricks parse into something the adapter can see
    /// and refuse; the core itself interprets none of them.
    #[test]
    fn relay_tricks_are_visible_to_the_adapter() {
        // Percent hack: the local part keeps its '%'; domain is the local one.
        let p = fwd("<user%remote.example@local.example>").unwrap();
        assert_eq!(
            p,
            ForwardPath::Mailbox(mb("user%remote.example", "local.example"))
        );
        // Bang path: kept verbatim in the local part.
        let p = fwd("<remote!user@local.example>").unwrap();
        assert_eq!(p, ForwardPath::Mailbox(mb("remote!user", "local.example")));
        // Quoted '@': the decoded local part contains '@'.
        let p = fwd("<\"user@remote.example\"@local.example>").unwrap();
        assert_eq!(
            p,
            ForwardPath::Mailbox(mb("user@remote.example", "local.example"))
        );
        // Source route through us: the route is ignored, the target is remote.
        let p = fwd("<@local.example:user@remote.example>").unwrap();
        assert_eq!(p, ForwardPath::Mailbox(mb("user", "remote.example")));
        let p = fwd("<@a.example,@local.example:user@remote.example>").unwrap();
        assert_eq!(p, ForwardPath::Mailbox(mb("user", "remote.example")));
        // Two '@' without quoting is a syntax error.
        assert_eq!(
            fwd("<user@remote.example@local.example>"),
            Err(AddressError::Syntax)
        );
        // Address literal of the loopback: a literal the adapter refuses.
        let p = fwd("<user@[127.0.0.1]>").unwrap();
        assert!(
            matches!(p, ForwardPath::Mailbox(Mailbox { domain: Domain::Ipv4(a), .. }) if a.is_loopback())
        );
    }

    #[test]
    fn utf8_only_with_smtputf8() {
        let s = "<jösé@bücher.example>".as_bytes();
        assert_eq!(
            parse_forward_path(s, false),
            Err(AddressError::NeedsSmtpUtf8)
        );
        let p = parse_forward_path(s, true).unwrap();
        assert_eq!(p, ForwardPath::Mailbox(mb("jösé", "xn--bcher-kva.example")));
        assert!(matches!(p, ForwardPath::Mailbox(m) if m.is_utf8()));
        // Non-UTF-8 bytes are refused either way.
        assert_eq!(
            parse_forward_path(b"<j\xf6@x.org>", false),
            Err(AddressError::NeedsSmtpUtf8)
        );
        assert_eq!(
            parse_forward_path(b"<j\xf6@x.org>", true),
            Err(AddressError::Syntax)
        );
        assert_eq!(
            parse_forward_path("<\"jö se\"@x.org>".as_bytes(), true).map(|p| p.to_string()),
            Ok("<\"jö se\"@x.org>".into())
        );
    }

    /// Issue item 15: U-label domains are A-labels once parsed, wherever
    /// they stand; an invalid IDN is a syntax error.
    #[test]
    fn u_label_domains_become_a_labels() {
        let p = parse_forward_path("<a@Bücher.test>".as_bytes(), true).unwrap();
        assert_eq!(p, ForwardPath::Mailbox(mb("a", "xn--bcher-kva.test")));
        assert!(matches!(&p, ForwardPath::Mailbox(m) if !m.is_utf8()));
        assert_eq!(p.to_string(), "<a@xn--bcher-kva.test>");
        let r = parse_reverse_path("<@relay.test:b@例え.jp>".as_bytes(), true).unwrap();
        assert_eq!(r, ReversePath::Mailbox(mb("b", "xn--r8jz45g.jp")));
        assert_eq!(
            parse_forward_path("<a@ab--ü.test>".as_bytes(), true),
            Err(AddressError::Syntax)
        );
    }

    #[test]
    fn display_requotes() {
        assert_eq!(mb("a b", "x").to_string(), "\"a b\"@x");
        assert_eq!(mb("a\"b", "x").to_string(), "\"a\\\"b\"@x");
        assert_eq!(mb("a.b", "x").to_string(), "a.b@x");
    }
}
