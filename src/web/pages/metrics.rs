//! `GET /metrics`: the engine's metrics in the Prometheus text format
//! (exposition format 0.0.4). Never open to all: it answers clients on
//! loopback that come straight in (not through a proxy), and others that
//! send `web.metrics_token` as a bearer token (RFC 6750 §2.1).

use super::Web;
use crate::web::{session, Reply};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use std::net::IpAddr;

/// `GET /metrics`.
pub async fn page(web: &Web, method: &Method, headers: &HeaderMap, peer: IpAddr) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return super::status(StatusCode::METHOD_NOT_ALLOWED, "Use GET");
    }
    let token = web.config().web.metrics_token.clone();
    if let Err(status) = access(peer, headers, &token) {
        let mut r = super::status(status, "The metrics need the metrics token");
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the scheme to use.
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"facteur\""),
            );
        }
        return r;
    }
    let families = web.engine(|a| a.metrics()).await;
    let mut r = Response::new(Full::new(Bytes::from(crate::metrics::render_prometheus(
        &families,
    ))));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Whether a client may read the metrics: on loopback and not forwarded
/// by a proxy (whose clients may be anyone), or with the token. Refused:
/// 401 when a token would open it, 403 when none is configured.
fn access(peer: IpAddr, headers: &HeaderMap, token: &str) -> Result<(), StatusCode> {
    let proxied =
        headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
    if peer.to_canonical().is_loopback() && !proxied {
        return Ok(());
    }
    if token.is_empty() {
        return Err(StatusCode::FORBIDDEN);
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if session::same_token(given.trim(), token) {
        Ok(())
    } else {
        Err(StatusCode::UNAUTHORIZED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn loopback_or_the_token_and_nothing_else() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let none = headers(&[]);
        let good = headers(&[("authorization", "Bearer s3cret-token")]);
        let wrong = headers(&[("authorization", "Bearer s3cret-tokeN")]);
        let basic = headers(&[("authorization", "Basic s3cret-token")]);
        let forwarded = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(access(lo, &none, ""), Ok(()));
        assert_eq!(access(lo6, &none, ""), Ok(()));
        assert_eq!(access(lo, &forwarded, ""), Err(StatusCode::FORBIDDEN));
        assert_eq!(access(lan, &none, ""), Err(StatusCode::FORBIDDEN));
        assert_eq!(access(lan, &good, ""), Err(StatusCode::FORBIDDEN));
        assert_eq!(
            access(lan, &none, "s3cret-token"),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            access(lan, &wrong, "s3cret-token"),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            access(lan, &basic, "s3cret-token"),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(access(lan, &good, "s3cret-token"), Ok(()));
        assert_eq!(
            access(lo, &forwarded, "s3cret-token"),
            Err(StatusCode::UNAUTHORIZED)
        );
    }
}
