//! Mail client autoconfiguration, served without login on the same
//! listener: Thunderbird's autoconfig, Outlook's POX autodiscover. The
//! documents are [`crate::provision`]'s.

use super::Web;
use crate::web::{Reply, Req};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml` and
/// `GET /mail/config-v1.1.xml?emailaddress=...`.
pub async fn thunderbird(web: &Web, req: &Req<'_>) -> Reply {
    if req.method != Method::GET && req.method != Method::HEAD {
        return super::status(StatusCode::METHOD_NOT_ALLOWED, "Use GET");
    }
    let domains = web.domains().await;
    let email = Some(req.form.get("emailaddress")).filter(|e| !e.is_empty());
    match crate::provision::autoconfig::thunderbird(&web.config(), &domains, email) {
        Ok(doc) => xml(StatusCode::OK, doc),
        Err(e) => super::status(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

/// `POST /autodiscover/autodiscover.xml`: the answer to Outlook's POX
/// request (errors are answered in the document, with 200).
pub async fn outlook(web: &Web, req: &Req<'_>, body: &[u8]) -> Reply {
    if req.method != Method::POST {
        return super::status(StatusCode::METHOD_NOT_ALLOWED, "Use POST");
    }
    let domains = web.domains().await;
    xml(
        StatusCode::OK,
        crate::provision::autodiscover::autodiscover(&web.config(), &domains, body),
    )
}

fn xml(status: StatusCode, doc: String) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(doc)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r
}
