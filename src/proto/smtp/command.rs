//! SMTP command parsing (RFC 5321 4.1) with the ESMTP parameters of SIZE
//! (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461),
//! AUTH (RFC 4954) and CHUNKING (RFC 3030).
//!
//! A parse error carries the reply to send, so the session only decides
//! about sequence and policy.

use super::address::{self, AddressError, ForwardPath, ReversePath};
use super::reply::Reply;
use crate::proto::sasl::Mechanism;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 4.1.1.1).
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `MAIL FROM:<path> [params]`.
    Mail {
        /// The sender.
        from: ReversePath,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> [params]`.
    Rcpt {
        /// The recipient.
        to: ForwardPath,
        /// ESMTP parameters.
        params: RcptParams,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030 2).
    Bdat {
        /// Octets of the chunk that follow the command line.
        size: u64,
        /// Last chunk of the message.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy,
    /// `EXPN string`.
    Expn,
    /// `HELP [string]`.
    Help,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 4).
    Auth {
        /// The mechanism.
        mechanism: Mechanism,
        /// The initial response as sent (base64, or `=`).
        initial: Option<Vec<u8>>,
    },
}

/// Body type declared with `BODY=` (RFC 6152; BINARYMIME is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    /// No parameter or `BODY=7BIT`.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// `RET=` of RFC 3461 4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Return the full message in a failure DSN.
    Full,
    /// Return only the headers.
    Headers,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// Declared size (RFC 1870).
    pub size: Option<u64>,
    /// Declared body type.
    pub body: BodyType,
    /// SMTPUTF8 was given (RFC 6531 3.4).
    pub smtputf8: bool,
    /// DSN RET (RFC 3461 4.3).
    pub ret: Option<Ret>,
    /// DSN ENVID, xtext-decoded (RFC 3461 4.4).
    pub envid: Option<String>,
    /// AUTH= identity, xtext-decoded; `<>` when unknown (RFC 4954 5).
    pub auth: Option<String>,
}

/// `NOTIFY=` of RFC 3461 4.1. All false means `NEVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// Notify on successful delivery.
    pub success: bool,
    /// Notify on failure.
    pub failure: bool,
    /// Notify on delay.
    pub delay: bool,
}

/// `ORCPT=` of RFC 3461 4.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orcpt {
    /// The address type, e.g. `rfc822`.
    pub addr_type: String,
    /// The original recipient, xtext-decoded.
    pub address: String,
}

/// Parameters of RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    /// DSN NOTIFY.
    pub notify: Option<Notify>,
    /// DSN ORCPT.
    pub orcpt: Option<Orcpt>,
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, "5.5.4", text)
}

/// Parses one command line (without its terminator). `rcpt_utf8` says
/// whether the current transaction declared SMTPUTF8, which allows UTF-8 in
/// RCPT addresses.
pub fn parse(line: &[u8], rcpt_utf8: bool) -> Result<Command, Reply> {
    let (verb, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    let is = |name: &str| verb.eq_ignore_ascii_case(name.as_bytes());
    let no_args = |cmd: Command| {
        if rest.iter().all(|&b| b == b' ') {
            Ok(cmd)
        } else {
            Err(syntax("Syntax error: no parameters allowed"))
        }
    };
    if is("EHLO") || is("HELO") {
        let name = domain_arg(rest)?;
        return Ok(if is("EHLO") {
            Command::Ehlo(name)
        } else {
            Command::Helo(name)
        });
    }
    if is("MAIL") {
        return parse_mail(rest);
    }
    if is("RCPT") {
        return parse_rcpt(rest, rcpt_utf8);
    }
    if is("DATA") {
        return no_args(Command::Data);
    }
    if is("BDAT") {
        return parse_bdat(rest);
    }
    if is("RSET") {
        return no_args(Command::Rset);
    }
    if is("NOOP") {
        return Ok(Command::Noop);
    }
    if is("QUIT") {
        return no_args(Command::Quit);
    }
    if is("VRFY") || is("EXPN") {
        if rest.iter().all(|&b| b == b' ') {
            return Err(syntax("Syntax error: argument required"));
        }
        return Ok(if is("VRFY") {
            Command::Vrfy
        } else {
            Command::Expn
        });
    }
    if is("HELP") {
        return Ok(Command::Help);
    }
    if is("STARTTLS") {
        return no_args(Command::StartTls);
    }
    if is("AUTH") {
        let mut words = rest.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let mech = words
            .next()
            .ok_or_else(|| syntax("Syntax error: mechanism required"))?;
        let initial = words.next().map(<[u8]>::to_vec);
        if words.next().is_some() {
            return Err(syntax("Syntax error"));
        }
        let mechanism = Mechanism::parse(mech)
            .ok_or_else(|| Reply::new(504, "5.5.4", "Unrecognized authentication type"))?;
        return Ok(Command::Auth { mechanism, initial });
    }
    Err(Reply::new(500, "5.5.1", "Command unrecognized"))
}

/// The EHLO/HELO argument: one token of printable text (a domain or an
/// address literal; RFC 6531 3.7.1 allows UTF-8). Its validity is the
/// antispam layer's business, not a reason to refuse the session.
fn domain_arg(rest: &[u8]) -> Result<String, Reply> {
    let word = rest
        .split(|&b| b == b' ')
        .find(|w| !w.is_empty())
        .ok_or_else(|| syntax("Syntax error: domain required"))?;
    let s = std::str::from_utf8(word).map_err(|_| syntax("Syntax error: invalid domain"))?;
    if s.len() > 255 || s.chars().any(char::is_control) {
        return Err(syntax("Syntax error: invalid domain"));
    }
    Ok(s.to_owned())
}

/// Splits `FROM:<path> params` / `TO:<path> params` after the keyword.
/// One space after the colon is tolerated (a common client error).
fn split_path<'a>(rest: &'a [u8], keyword: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let mut s = &rest[keyword.len()..];
    if let Some(t) = s.strip_prefix(b" ") {
        s = t;
    }
    if s.first() != Some(&b'<') {
        return None;
    }
    // Find the closing '>' outside quoted strings.
    let mut quoted = false;
    let mut escaped = false;
    let mut end = None;
    for (i, &b) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == b'>' && !quoted {
            end = Some(i);
            break;
        }
    }
    let end = end?;
    let (path, params) = s.split_at(end + 1);
    match params {
        [] => Some((path, params)),
        [b' ', more @ ..] => Some((path, more)),
        _ => None,
    }
}

/// Splits `keyword[=value]` (RFC 5321 4.1.2 esmtp-param).
fn param(p: &[u8]) -> Result<(String, Option<&str>), Reply> {
    let s = std::str::from_utf8(p).map_err(|_| syntax("Syntax error in parameters"))?;
    let (k, v) = match s.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (s, None),
    };
    let key_ok = k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    // esmtp-value = 1*(%d33-60 / %d62-126)
    let value_ok =
        v.is_none_or(|v| !v.is_empty() && v.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
    if !key_ok || !value_ok {
        return Err(syntax("Syntax error in parameters"));
    }
    Ok((k.to_ascii_uppercase(), v))
}

fn params_of(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

fn unknown_param() -> Reply {
    Reply::new(555, "5.5.4", "Unsupported parameter")
}

fn set_once<T>(slot: &mut Option<T>, v: T) -> Result<(), Reply> {
    if slot.is_some() {
        return Err(syntax("Duplicate parameter"));
    }
    *slot = Some(v);
    Ok(())
}

fn parse_mail(rest: &[u8]) -> Result<Command, Reply> {
    let (path, raw) =
        split_path(rest, b"FROM:").ok_or_else(|| syntax("Syntax: MAIL FROM:<address>"))?;
    let mut params = MailParams::default();
    let (mut size, mut body, mut utf8, mut ret, mut envid, mut auth) =
        (None, None, None, None, None, None);
    for p in params_of(raw) {
        match param(p)? {
            (k, Some(v)) if k == "SIZE" => {
                // RFC 1870 6: size-value = 1*20DIGIT; a value beyond u64 is
                // certainly over the limit.
                if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax("Syntax error in SIZE"));
                }
                set_once(&mut size, v.parse::<u64>().unwrap_or(u64::MAX))?;
            }
            (k, Some(v)) if k == "BODY" => {
                let b = if v.eq_ignore_ascii_case("7BIT") {
                    BodyType::SevenBit
                } else if v.eq_ignore_ascii_case("8BITMIME") {
                    BodyType::EightBitMime
                } else if v.eq_ignore_ascii_case("BINARYMIME") {
                    return Err(Reply::new(555, "5.5.4", "BODY=BINARYMIME not supported"));
                } else {
                    return Err(syntax("Syntax error in BODY"));
                };
                set_once(&mut body, b)?;
            }
            (k, None) if k == "SMTPUTF8" => set_once(&mut utf8, true)?,
            (k, Some(v)) if k == "RET" => {
                let r = if v.eq_ignore_ascii_case("FULL") {
                    Ret::Full
                } else if v.eq_ignore_ascii_case("HDRS") {
                    Ret::Headers
                } else {
                    return Err(syntax("Syntax error in RET"));
                };
                set_once(&mut ret, r)?;
            }
            (k, Some(v)) if k == "ENVID" => {
                // RFC 3461 4.4: at most 100 characters, printable ASCII.
                let id = xtext_decode(v)
                    .filter(|id| id.len() <= 100 && id.bytes().all(|b| (32..127).contains(&b)));
                set_once(
                    &mut envid,
                    id.ok_or_else(|| syntax("Syntax error in ENVID"))?,
                )?;
            }
            (k, Some(v)) if k == "AUTH" => {
                let a = if v == "<>" {
                    Some(v.to_owned())
                } else {
                    xtext_decode(v)
                };
                set_once(&mut auth, a.ok_or_else(|| syntax("Syntax error in AUTH"))?)?;
            }
            (k, _)
                if ["SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH"].contains(&k.as_str()) =>
            {
                return Err(syntax("Syntax error in parameters"));
            }
            _ => return Err(unknown_param()),
        }
    }
    params.size = size;
    params.body = body.unwrap_or_default();
    params.smtputf8 = utf8.unwrap_or(false);
    params.ret = ret;
    params.envid = envid;
    params.auth = auth;
    let from = address::parse_reverse_path(path, params.smtputf8)
        .map_err(|e| address_reply(e, "5.1.7"))?;
    Ok(Command::Mail { from, params })
}

fn parse_rcpt(rest: &[u8], utf8: bool) -> Result<Command, Reply> {
    let (path, raw) =
        split_path(rest, b"TO:").ok_or_else(|| syntax("Syntax: RCPT TO:<address>"))?;
    let mut params = RcptParams::default();
    for p in params_of(raw) {
        match param(p)? {
            (k, Some(v)) if k == "NOTIFY" => {
                let mut n = Notify::default();
                if !v.eq_ignore_ascii_case("NEVER") {
                    for item in v.split(',') {
                        if item.eq_ignore_ascii_case("SUCCESS") {
                            n.success = true;
                        } else if item.eq_ignore_ascii_case("FAILURE") {
                            n.failure = true;
                        } else if item.eq_ignore_ascii_case("DELAY") {
                            n.delay = true;
                        } else {
                            return Err(syntax("Syntax error in NOTIFY"));
                        }
                    }
                }
                set_once(&mut params.notify, n)?;
            }
            (k, Some(v)) if k == "ORCPT" => {
                // RFC 3461 4.2: ORCPT=addr-type ";" xtext
                let o = v.split_once(';').and_then(|(t, x)| {
                    let type_ok =
                        !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    let address = xtext_decode(x).filter(|a| !a.is_empty() && a.len() <= 500)?;
                    type_ok.then(|| Orcpt {
                        addr_type: t.to_owned(),
                        address,
                    })
                });
                set_once(
                    &mut params.orcpt,
                    o.ok_or_else(|| syntax("Syntax error in ORCPT"))?,
                )?;
            }
            (k, _) if k == "NOTIFY" || k == "ORCPT" => {
                return Err(syntax("Syntax error in parameters"))
            }
            _ => return Err(unknown_param()),
        }
    }
    let to = address::parse_forward_path(path, utf8).map_err(|e| address_reply(e, "5.1.3"))?;
    Ok(Command::Rcpt { to, params })
}

fn address_reply(e: AddressError, syntax_status: &str) -> Reply {
    match e {
        AddressError::Syntax => Reply::new(501, syntax_status, "Bad address syntax"),
        AddressError::NeedsSmtpUtf8 => {
            Reply::new(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
        }
    }
}

fn parse_bdat(rest: &[u8]) -> Result<Command, Reply> {
    let mut words = rest.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| w.len() <= 19 && w.iter().all(u8::is_ascii_digit))
        .and_then(|w| std::str::from_utf8(w).ok()?.parse::<u64>().ok())
        .ok_or_else(|| syntax("Syntax: BDAT size [LAST]"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return Err(syntax("Syntax: BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(syntax("Syntax: BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

/// Decodes xtext (RFC 3461 4): `+XX` with upper-case hex stands for one
/// octet; `+` and `=` may not appear otherwise. The result must be ASCII.
pub fn xtext_decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => {
                let hex = |c: u8| match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'A'..=b'F' => Some(c - b'A' + 10),
                    _ => None,
                };
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                let v = hi * 16 + lo;
                if !v.is_ascii() {
                    return None;
                }
                out.push(char::from(v));
            }
            33..=126 if b != b'=' => out.push(char::from(b)),
            _ => return None,
        }
    }
    Some(out)
}

/// Encodes xtext (RFC 3461 4), for passing DSN parameters on.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::address::{Domain, Mailbox};
    use super::*;

    fn p(s: &str) -> Result<Command, Reply> {
        parse(s.as_bytes(), false)
    }

    fn code(r: Result<Command, Reply>) -> (u16, String) {
        let r = r.unwrap_err();
        (r.code(), r.status().unwrap_or("").to_owned())
    }

    #[test]
    fn simple_verbs_are_case_insensitive() {
        assert_eq!(
            p("ehlo client.example"),
            Ok(Command::Ehlo("client.example".into()))
        );
        assert_eq!(
            p("HeLo [192.0.2.1]"),
            Ok(Command::Helo("[192.0.2.1]".into()))
        );
        assert_eq!(p("data"), Ok(Command::Data));
        assert_eq!(p("NOOP anything"), Ok(Command::Noop));
        assert_eq!(p("VRFY root"), Ok(Command::Vrfy));
        assert_eq!(p("help mail"), Ok(Command::Help));
        assert_eq!(p("StartTLS"), Ok(Command::StartTls));
        assert_eq!(code(p("RSET now")), (501, "5.5.4".into()));
        assert_eq!(code(p("VRFY")), (501, "5.5.4".into()));
        assert_eq!(code(p("EHLO")), (501, "5.5.4".into()));
        assert_eq!(code(p("FOO bar")), (500, "5.5.1".into()));
        assert_eq!(code(p("MAILX FROM:<a@b>")), (500, "5.5.1".into()));
    }

    #[test]
    fn mail_with_all_parameters() {
        let c =
            p("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B314 AUTH=<>")
                .unwrap();
        let want = MailParams {
            size: Some(1000),
            body: BodyType::EightBitMime,
            smtputf8: false,
            ret: Some(Ret::Headers),
            envid: Some("QQ+314".into()),
            auth: Some("<>".into()),
        };
        let from = ReversePath::Mailbox(Mailbox {
            local: "a".into(),
            domain: Domain::Name("b.example".into()),
        });
        assert_eq!(c, Command::Mail { from, params: want });
        // One space after the colon is tolerated, the null path is fine.
        assert!(matches!(
            p("MAIL FROM: <>"),
            Ok(Command::Mail {
                from: ReversePath::Null,
                ..
            })
        ));
    }

    #[test]
    fn mail_parameter_errors() {
        assert_eq!(
            code(p("MAIL FROM:<a@b> BODY=BINARYMIME")),
            (555, "5.5.4".into())
        );
        assert_eq!(code(p("MAIL FROM:<a@b> FOO=1")), (555, "5.5.4".into()));
        assert_eq!(code(p("MAIL FROM:<a@b> SIZE=12x")), (501, "5.5.4".into()));
        assert_eq!(
            code(p("MAIL FROM:<a@b> SIZE=1 SIZE=2")),
            (501, "5.5.4".into())
        );
        assert_eq!(code(p("MAIL FROM:<a@b> RET=ALL")), (501, "5.5.4".into()));
        assert_eq!(code(p("MAIL FROM:<a@b> ENVID=a+zz")), (501, "5.5.4".into()));
        assert_eq!(
            code(p("MAIL FROM:<a@b> SMTPUTF8=yes")),
            (501, "5.5.4".into())
        );
        assert_eq!(code(p("MAIL FROM:a@b")), (501, "5.5.4".into()));
        assert_eq!(code(p("MAIL TO:<a@b>")), (501, "5.5.4".into()));
        assert_eq!(code(p("MAIL FROM:<a@b@c>")), (501, "5.1.7".into()));
        let huge = p("MAIL FROM:<a@b> SIZE=99999999999999999999").unwrap();
        assert!(matches!(
            huge,
            Command::Mail {
                params: MailParams {
                    size: Some(u64::MAX),
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn smtputf8_enables_utf8_sender() {
        assert_eq!(
            code(parse("MAIL FROM:<jö@x.example>".as_bytes(), true)),
            (553, "5.6.7".into())
        );
        let c = parse("MAIL FROM:<jö@x.example> SMTPUTF8".as_bytes(), false).unwrap();
        assert!(matches!(
            c,
            Command::Mail {
                params: MailParams { smtputf8: true, .. },
                ..
            }
        ));
        assert_eq!(
            code(parse("RCPT TO:<jö@x.example>".as_bytes(), false)),
            (553, "5.6.7".into())
        );
        assert!(parse("RCPT TO:<jö@x.example>".as_bytes(), true).is_ok());
    }

    #[test]
    fn rcpt_dsn_parameters() {
        let c =
            p("RCPT TO:<u@x.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u+2Bx@x.example").unwrap();
        let Command::Rcpt { params, .. } = c else {
            panic!("{c:?}")
        };
        assert_eq!(
            params.notify,
            Some(Notify {
                success: true,
                failure: false,
                delay: true
            })
        );
        assert_eq!(
            params.orcpt,
            Some(Orcpt {
                addr_type: "rfc822".into(),
                address: "u+x@x.example".into()
            })
        );
        let c = p("RCPT TO:<u@x.example> NOTIFY=NEVER").unwrap();
        assert!(matches!(
            c,
            Command::Rcpt {
                params: RcptParams {
                    notify: Some(Notify {
                        success: false,
                        failure: false,
                        delay: false
                    }),
                    ..
                },
                ..
            }
        ));
        assert_eq!(
            code(p("RCPT TO:<u@x> NOTIFY=NEVER,SUCCESS")),
            (501, "5.5.4".into())
        );
        assert_eq!(code(p("RCPT TO:<u@x> ORCPT=u@x")), (501, "5.5.4".into()));
        assert_eq!(code(p("RCPT TO:<u@x> SIZE=10")), (555, "5.5.4".into()));
        assert_eq!(code(p("RCPT TO:<>")), (501, "5.1.3".into()));
    }

    #[test]
    fn bdat_and_auth() {
        assert_eq!(
            p("BDAT 0 LAST"),
            Ok(Command::Bdat {
                size: 0,
                last: true
            })
        );
        assert_eq!(
            p("bdat 1024"),
            Ok(Command::Bdat {
                size: 1024,
                last: false
            })
        );
        assert_eq!(code(p("BDAT")), (501, "5.5.4".into()));
        assert_eq!(code(p("BDAT -1")), (501, "5.5.4".into()));
        assert_eq!(code(p("BDAT 10 FIRST")), (501, "5.5.4".into()));
        assert_eq!(code(p("BDAT 99999999999999999999")), (501, "5.5.4".into()));
        assert_eq!(
            p("AUTH plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Mechanism::Plain,
                initial: Some(b"AGEAYg==".to_vec())
            })
        );
        assert_eq!(code(p("AUTH CRAM-MD5")), (504, "5.5.4".into()));
        assert_eq!(code(p("AUTH")), (501, "5.5.4".into()));
    }

    #[test]
    fn xtext_round_trip() {
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_decode("a+2Bb+3Dc+20d").as_deref(), Some("a+b=c d"));
        assert_eq!(xtext_decode("a+2b"), None);
        assert_eq!(xtext_decode("a=b"), None);
        assert_eq!(xtext_decode("+C3"), None);
    }
}
