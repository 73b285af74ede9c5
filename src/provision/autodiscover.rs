//! Outlook autodiscover, the "POX" (plain old XML) exchange: Outlook posts
//! a request naming an address to `/autodiscover/autodiscover.xml` and
//! reads the servers from the answer ([MS-OXDSCLI] §2.2.3 and §2.2.4, the
//! "outlook/responseschema/2006a" schema).

use super::settings::{our_address, ClientSettings, Protocol, Security, ServerEntry};
use super::xml::{escape, parse};
use crate::config::Config;
use std::fmt::Write;

/// The only response schema we answer in ([MS-OXDSCLI] §2.2.4).
pub const OUTLOOK_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
/// The namespace of the response's root element.
const RESPONSE_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

/// An error answer's code and message ([MS-OXDSCLI] §2.2.4.1.1.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 500: the address is not one of ours.
    UnknownAddress,
    /// 600: the request could not be read.
    InvalidRequest,
    /// 601: a response schema we do not provide was asked for.
    SchemaNotAvailable,
}

impl Refusal {
    fn code(self) -> u16 {
        match self {
            Refusal::UnknownAddress => 500,
            Refusal::InvalidRequest => 600,
            Refusal::SchemaNotAvailable => 601,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::UnknownAddress => "The e-mail address cannot be found.",
            Refusal::InvalidRequest => "Invalid Request",
            Refusal::SchemaNotAvailable => "Provider is not available",
        }
    }
}

/// The answer to an autodiscover request body: the account's IMAP (or
/// POP3) and SMTP servers, or an error document for a request that cannot
/// be read, asks for another schema, or names an address outside
/// `domains` (the store's domains). Always XML, as Outlook expects.
pub fn autodiscover(cfg: &Config, domains: &[String], request_body: &[u8]) -> String {
    match answer(cfg, domains, request_body) {
        Ok(doc) => doc,
        Err(r) => error_document(r),
    }
}

fn answer(cfg: &Config, domains: &[String], body: &[u8]) -> Result<String, Refusal> {
    let root = parse(body).map_err(|_| Refusal::InvalidRequest)?;
    if root.name != "Autodiscover" {
        return Err(Refusal::InvalidRequest);
    }
    let email = root
        .text_at(&["Request", "EMailAddress"])
        .filter(|e| !e.is_empty())
        .ok_or(Refusal::InvalidRequest)?;
    // Outlook always names the schema; a request without one gets ours.
    if let Some(schema) = root.text_at(&["Request", "AcceptableResponseSchema"]) {
        if schema != OUTLOOK_SCHEMA {
            return Err(Refusal::SchemaNotAvailable);
        }
    }
    let address = our_address(domains, email).map_err(|_| Refusal::UnknownAddress)?;
    let s = ClientSettings::new(cfg);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"{RESPONSE_NS}\">\n\
         \x20 <Response xmlns=\"{OUTLOOK_SCHEMA}\">\n\
         \x20   <User>\n\
         \x20     <DisplayName>{a}</DisplayName>\n\
         \x20     <AutoDiscoverSMTPAddress>{a}</AutoDiscoverSMTPAddress>\n\
         \x20   </User>\n\
         \x20   <Account>\n\
         \x20     <AccountType>email</AccountType>\n\
         \x20     <Action>settings</Action>\n",
        a = escape(&address)
    );
    for e in s.preferred_incoming().into_iter().chain(s.outgoing()) {
        protocol(&mut out, e, &address);
    }
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    Ok(out)
}

/// One `Protocol` element ([MS-OXDSCLI] §2.2.4.1.1.2.3).
fn protocol(out: &mut String, e: &ServerEntry, login: &str) {
    // SSL "on" asks for encryption; Encryption says which kind and takes
    // precedence over SSL where Outlook knows it.
    let encryption = match e.security {
        Security::Tls => "SSL",
        Security::StartTls => "TLS",
    };
    let _ = write!(
        out,
        "      <Protocol>\n\
         \x20       <Type>{}</Type>\n\
         \x20       <Server>{}</Server>\n\
         \x20       <Port>{}</Port>\n\
         \x20       <DomainRequired>off</DomainRequired>\n\
         \x20       <LoginName>{}</LoginName>\n\
         \x20       <SPA>off</SPA>\n\
         \x20       <SSL>on</SSL>\n\
         \x20       <Encryption>{encryption}</Encryption>\n\
         \x20       <AuthRequired>on</AuthRequired>\n",
        match e.protocol {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
        },
        escape(&e.host),
        e.port,
        escape(login)
    );
    if e.protocol == Protocol::Smtp {
        out.push_str("        <UsePOPAuth>off</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n");
    }
    out.push_str("      </Protocol>\n");
}

/// The error answer ([MS-OXDSCLI] §2.2.4.1.1.1).
fn error_document(r: Refusal) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"{RESPONSE_NS}\">\n\
         \x20 <Response>\n\
         \x20   <Error>\n\
         \x20     <ErrorCode>{}</ErrorCode>\n\
         \x20     <Message>{}</Message>\n\
         \x20     <DebugData />\n\
         \x20   </Error>\n\
         \x20 </Response>\n\
         </Autodiscover>\n",
        r.code(),
        r.message()
    )
}

#[cfg(test)]
mod tests {
    use super::super::settings::tests::{config, domains, ALL_ON};
    use super::super::xml::Element;
    use super::*;

    /// The request Outlook sends.
    fn request(email: &str, schema: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n\
             <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\r\n\
             \x20 <Request>\r\n\
             \x20   <EMailAddress>{email}</EMailAddress>\r\n\
             \x20   <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>\r\n\
             \x20 </Request>\r\n\
             </Autodiscover>\r\n"
        )
        .into_bytes()
    }

    fn error_code(doc: &str) -> Option<String> {
        let root = parse(doc.as_bytes()).expect("well-formed");
        root.text_at(&["Response", "Error", "ErrorCode"])
            .map(str::to_string)
    }

    fn protocols(doc: &str) -> Vec<Element> {
        let root = parse(doc.as_bytes()).expect("well-formed");
        assert_eq!(root.name, "Autodiscover");
        assert_eq!(root.attr("xmlns"), Some(RESPONSE_NS));
        let resp = root.child("Response").expect("Response");
        assert_eq!(resp.attr("xmlns"), Some(OUTLOOK_SCHEMA));
        let account = resp.child("Account").expect("Account");
        assert_eq!(account.text_at(&["AccountType"]), Some("email"));
        assert_eq!(account.text_at(&["Action"]), Some("settings"));
        account.children_named("Protocol").cloned().collect()
    }

    #[test]
    fn answers_outlooks_request() {
        let cfg = config(ALL_ON);
        let doc = autodiscover(
            &cfg,
            &domains(),
            &request("Ann@EXAMPLE.com", OUTLOOK_SCHEMA),
        );
        let list = protocols(&doc);
        let got: Vec<(&str, &str, &str, &str, &str)> = list
            .iter()
            .map(|p| {
                assert_eq!(p.text_at(&["SSL"]), Some("on"));
                assert_eq!(p.text_at(&["SPA"]), Some("off"));
                assert_eq!(p.text_at(&["AuthRequired"]), Some("on"));
                assert_eq!(p.text_at(&["LoginName"]), Some("Ann@example.com"));
                (
                    p.text_at(&["Type"]).unwrap_or_default(),
                    p.text_at(&["Server"]).unwrap_or_default(),
                    p.text_at(&["Port"]).unwrap_or_default(),
                    p.text_at(&["Encryption"]).unwrap_or_default(),
                    "",
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("IMAP", "mail.example.com", "2993", "SSL", ""),
                ("SMTP", "mail.example.com", "2465", "SSL", ""),
            ]
        );
    }

    #[test]
    fn starttls_and_pop3_when_that_is_what_is_on() {
        let cfg = config("imap = []\nimaps = []\npop3s = []\nsubmissions = []\n");
        let doc = autodiscover(
            &cfg,
            &domains(),
            &request("bob@example.org", OUTLOOK_SCHEMA),
        );
        let list = protocols(&doc);
        let got: Vec<(&str, &str, &str)> = list
            .iter()
            .map(|p| {
                (
                    p.text_at(&["Type"]).unwrap_or_default(),
                    p.text_at(&["Port"]).unwrap_or_default(),
                    p.text_at(&["Encryption"]).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(got, [("POP3", "110", "TLS"), ("SMTP", "587", "TLS")]);
    }

    #[test]
    fn errors() {
        let cfg = config(ALL_ON);
        let d = domains();
        let code = |body: &[u8]| error_code(&autodiscover(&cfg, &d, body));
        assert_eq!(
            code(&request("ann@example.net", OUTLOOK_SCHEMA)).as_deref(),
            Some("500")
        );
        assert_eq!(
            code(&request("not an address", OUTLOOK_SCHEMA)).as_deref(),
            Some("500")
        );
        assert_eq!(
            code(&request(
                "ann@example.com",
                "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
            ))
            .as_deref(),
            Some("601")
        );
        assert_eq!(code(b"").as_deref(), Some("600"));
        assert_eq!(
            code(b"<Autodiscover><Request/></Autodiscover>").as_deref(),
            Some("600")
        );
        assert_eq!(
            code(b"<Other><Request><EMailAddress>ann@example.com</EMailAddress></Request></Other>")
                .as_deref(),
            Some("600")
        );
        assert_eq!(code(&vec![b'<'; 100_000]).as_deref(), Some("600"));
        // A valid request has no error.
        assert_eq!(code(&request("ann@example.com", OUTLOOK_SCHEMA)), None);
    }

    #[test]
    fn the_address_is_escaped() {
        let cfg = config(ALL_ON);
        let body = request("\"a&lt;b&gt;&amp;\"@example.com", OUTLOOK_SCHEMA);
        let doc = autodiscover(&cfg, &domains(), &body);
        assert!(!doc.contains("<b>"), "{doc}");
        let list = protocols(&doc);
        assert_eq!(
            list[0].text_at(&["LoginName"]),
            Some("\"a<b>&\"@example.com")
        );
    }
}
