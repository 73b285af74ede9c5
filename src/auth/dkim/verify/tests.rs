use super::signature::remove_b_value;
use super::*;
use crate::auth::dkim::{Signer, SigningKey};
use crate::dns::{RecordData, RecordType, StaticResolver};

/// A 2048-bit RSA key made for these tests (PKCS#8, base64).
const RSA_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCXbdYxd4E1L5qtP2TdUtkaepJzKWPowN1MBCNwZoA57//y83irkWk3aJoNU4Opvg7y4lEVeoGMWm2vqSKdU8eup1lHChA6vixg5PlOUL52H0yHA6NezcgU71N7IYxlk+dFZCHH3qs127HLj7yr6ct4nf3Dqq5UyfPboyB9emi1GXw2K9dbuJ0a9p/o89QGCgMZfwCqExT8f6gizh6fHl0wD6WaEnawshB6CnOGuUeLroL1LkQa5b/1WYZ7vAxuJ7eizTlQt2OQLSecht+FsQzcl2/SxlK63dRRAz/Ey8dXSdO4Xug2zs0QrIlSsF+Qs26LXaajDA1lo/4tjC9gNRrNAgMBAAECggEAFZ9bbGjSDFQl1AMvVeMUmRFThBou5/dSIh6dKNmaCavZckmNu4Hh8kV/adO5Ay3eWJQ0W8rIYNAwxVpzVN+3rZq7xscLFjg9ggBwENy6tYc2mDjOxSTBIywhUX2y3HZIGcJ4iF+lNuWN97EokauqoCh/KcdfaUAFECG06/Xkqacnm8IZ9Ka6Ki8YcU8Jd/RBpV2Q6XU4dwJ2wIukVbSvHX7sRnX8f03SmqcclLlfqe0LSe4zwpxd53CgckOAE3DereRY/UVWszX/maWR9g1Vtzd1AOp7uQ27UIErZlcVCCc+TESabhDxL1ZR7X0Uu0PTELD5ylhqb3lbeMQ/h9EnAQKBgQDRzpZIeXpQEYrLdOWWTfO9Y6WpK1PJ7Xb6E0RpAvCYRSNePfuaxRzcXq/bLFTRAjfkvvJT3G+O3bBSfiZWIDK8N9mHjSqKLWTBmnvnU69et25/f/UxDPMT+QF/82CCZuA6TrHNWQyufyNOkIJW7Ux9E9JlvmAAtpUGZ91E1Fi37QKBgQC4xOCFq+Um4JI4kPVFWgstNZ/U0EPrJC6oLch+zlKDef7HIWAlzTVnhg0Wolc2RNWe13xl9pDgnZUucLOTbUgITyE+7sOeAfoqKYNnDaRY1U1fDS6QKBrjaHZKJQ+ymp2eWazr9ZNOUy1jJEB3QfGhaI01wB5SnAYwH2tkjbPSYQKBgQDKfRrX+b4NltCgykJmzPcn2wtgePuWEIRamMvWmcrA+0FGTIYPepv/J7eLzX5SdlShhZR1UXOtq9Hn2+5+AvdUZoagZ6Md1u++Vq2stjy0Kk8P6NwoqfnUVeeXqLmFQWq5e4foy0ANDZFy2s+gu8etk7rlDVa0eYLcutN4AYVahQKBgFLHGVOppDsbp0aiYtAUPCef+6BLQfJpvmFoSYfOBZeTozoxULL+0as0mk6Goo3UnuPP5JKFuXh4AOrSYRFuhzP5x4o7S/ZRKnOTL6SOrw+BWG16KV86KHmzRjOHkRXSQUU9JcR8u+b+Sro89oi3SXqnrYPkM3GNJxSOLv3YojRhAoGAJOLOBEcEe1RV4zhVO4bmlcUr3AN9RZDNn+oHSqmusiHE9LPEw4E55fkyeEcn1LwCrwk8vSRJxyLcQYrQlYEGgab/zQrfA+iq1JhzppAHDvPnAALIGjPbtIeimjxQtJdhjgahHjJKx5v7gUuwprvdtwk1Od8lbB5q0YQalE1ACo4=";
/// A 512-bit RSA public key (SubjectPublicKeyInfo), too short to accept.
const RSA_512_SPKI: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKcD7Y3CVOs6IAQe/spvWp82H9o75fb+H/2o/BHw0BhSRuk8QA+km4+6c7P21Z7aYvVBNcF2EctRQt2NqqkxPjkCAwEAAQ==";

// RFC 8463 Appendix A: the example message, its two signatures and the
// published keys.
const RFC8463_ED25519_PUBLIC: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const RFC8463_RSA_PUBLIC: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
const RFC8463_MESSAGE: &str = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n\
From: Joe SixPack <joe@football.example.com>\r\n\
To: Suzie Q <suzie@shopping.example.net>\r\n\
Subject: Is dinner ready?\r\n\
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n\
Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\
\r\n\
Hi.\r\n\
\r\n\
We lost the game.  Are you hungry yet?\r\n\
\r\n\
Joe.\r\n";
const RFC8463_NOW: i64 = 1_528_637_909 + 3600;

const NOW: i64 = 1_700_000_000;

fn rfc8463_dns() -> StaticResolver {
    let mut r = StaticResolver::new();
    r.add(
        "brisbane._domainkey.football.example.com",
        txt(&format!("v=DKIM1; k=ed25519; p={RFC8463_ED25519_PUBLIC}")),
    )
    .add(
        "test._domainkey.football.example.com",
        txt(&format!("v=DKIM1; k=rsa; p={RFC8463_RSA_PUBLIC}")),
    );
    r
}

fn txt(s: &str) -> RecordData {
    // Split in 255-byte strings, as published.
    RecordData::Txt(s.as_bytes().chunks(255).map(<[u8]>::to_vec).collect())
}

fn run(dns: &StaticResolver, chunks: &[&[u8]], now: i64) -> DkimOutcome {
    let mut v = Verifier::new(now);
    for c in chunks {
        v.update(c);
    }
    smol::block_on(v.finish(dns))
}

fn verify(dns: &StaticResolver, msg: &[u8], now: i64) -> DkimOutcome {
    run(dns, &[msg], now)
}

/// Verifies whole, split in two at every byte and byte by byte, and
/// checks that all give the same outcome.
fn verify_split(dns: &StaticResolver, msg: &[u8], now: i64) -> DkimOutcome {
    let whole = verify(dns, msg, now);
    for cut in 0..=msg.len() {
        let (a, b) = msg.split_at(cut);
        assert_eq!(run(dns, &[a, b], now), whole, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = msg.chunks(1).collect();
    assert_eq!(run(dns, &bytes, now), whole, "byte by byte");
    whole
}

fn results(o: &DkimOutcome) -> Vec<DkimResult> {
    o.signatures.iter().map(|s| s.result).collect()
}

fn ed_key(selector: &str) -> SigningKey {
    SigningKey::ed25519_from_seed("example.com", selector, &[42; 32]).unwrap()
}

fn rsa_key(selector: &str) -> SigningKey {
    let der = base64::decode(RSA_PKCS8.as_bytes()).unwrap();
    SigningKey::from_pkcs8("example.com", selector, &der).unwrap()
}

fn dns_for(keys: &[&SigningKey]) -> StaticResolver {
    let mut r = StaticResolver::new();
    for k in keys {
        r.add(&k.record_name(), txt(&k.record()));
    }
    r
}

const MSG: &[u8] = b"Received: from x by y\r\nFrom: Alice <alice@example.com>\r\n\
To: bob@example.org,\r\n  carol@example.org\r\nSubject: Lunch\r\n\
Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\nHello  Bob,\r\n\r\nsee you.\r\n\r\n";

/// `msg` signed by our signer with `keys`, the fields in front.
fn signed(keys: &[SigningKey], msg: &[u8]) -> Vec<u8> {
    let mut s = Signer::new(keys, NOW);
    s.update(msg);
    [s.finish().unwrap().as_bytes(), msg].concat()
}

/// A signature built by hand: `c=` given, `extra` tags inserted, `h=`
/// from:subject, and optionally `l=` the whole canonical body.
fn hand_sign(
    key: &SigningKey,
    hc: Canon,
    bc: Canon,
    header: &[&str],
    body: &[u8],
    extra: &str,
    with_l: bool,
) -> Vec<u8> {
    let mut bh = BodyHasher::new(bc, None);
    bh.update(body);
    let hash = bh.finish();
    let l = if with_l {
        format!(" l={};", hash.total)
    } else {
        String::new()
    };
    let unsigned = format!(
        "DKIM-Signature: v=1; a={}; c={}/{};\r\n d={}; s={};{extra}{l}\r\n h=From : Subject;\r\n bh={};\r\n b=",
        key.algorithm().tag(),
        hc.name(),
        bc.name(),
        key.domain(),
        key.selector(),
        base64::encode(hash.digest.as_ref()),
    );
    let fields: Vec<&[u8]> = header.iter().map(|f| f.as_bytes()).collect();
    let data = signed_data(hc, &fields, &["from", "subject"], unsigned.as_bytes());
    let sig = key.sign(&data).unwrap();
    let mut out = unsigned.into_bytes();
    out.extend_from_slice(base64::encode(&sig).as_bytes());
    out.extend_from_slice(b"\r\n");
    for f in header {
        out.extend_from_slice(f.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

const HEADER: [&str; 3] = [
    "From:  Alice <alice@example.com> ",
    "Subject: Hello\r\n\tthere",
    "To: bob@example.org",
];
const BODY: &[u8] = b"Line one  \r\n\r\nLine\ttwo\r\n\r\n";

#[test]
fn rfc8463_example_both_signatures_pass() {
    let dns = rfc8463_dns();
    let o = verify_split(&dns, RFC8463_MESSAGE.as_bytes(), RFC8463_NOW);
    assert_eq!(results(&o), [DkimResult::Pass, DkimResult::Pass]);
    let ed = &o.signatures[0];
    assert_eq!(ed.domain, "football.example.com");
    assert_eq!(ed.selector, "brisbane");
    assert_eq!(ed.algorithm, "ed25519-sha256");
    assert_eq!(ed.identity, "@football.example.com");
    assert_eq!(ed.b_prefix, "/gCrinpc");
    assert!(!ed.uses_l);
    assert_eq!(
        ed.auth_results(),
        "dkim=pass (good signature) header.d=football.example.com \
         header.i=@football.example.com header.s=brisbane header.b=\"/gCrinpc\""
    );
    assert_eq!(o.signatures[1].selector, "test");
    assert_eq!(o.passing_domains(), ["football.example.com"; 2]);
    // The same message with bare LF line ends.
    let lf = RFC8463_MESSAGE.replace("\r\n", "\n");
    let o = verify(&dns, lf.as_bytes(), RFC8463_NOW);
    assert_eq!(results(&o), [DkimResult::Pass, DkimResult::Pass]);
}

#[test]
fn rfc8463_example_tampered() {
    let dns = rfc8463_dns();
    let body = RFC8463_MESSAGE.replace("hungry", "angry");
    let o = verify(&dns, body.as_bytes(), RFC8463_NOW);
    assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
    assert_eq!(o.signatures[0].reason, "body hash mismatch");
    let header = RFC8463_MESSAGE.replace("dinner", "lunch");
    let o = verify(&dns, header.as_bytes(), RFC8463_NOW);
    assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
    assert_eq!(o.signatures[1].reason, "signature did not verify");
}

#[test]
fn our_signer_ed25519_and_rsa() {
    let keys = [ed_key("ed"), rsa_key("rsa")];
    let dns = dns_for(&[&keys[0], &keys[1]]);
    let msg = signed(&keys, MSG);
    let o = verify_split(&dns, &msg, NOW + 10);
    assert_eq!(results(&o), [DkimResult::Pass, DkimResult::Pass]);
    assert_eq!(o.signatures[1].algorithm, "rsa-sha256");
    assert_eq!(o.skipped, 0);

    // A changed body byte, an added body line, a changed header.
    let tampered = String::from_utf8_lossy(&msg).replace("see you", "see yoU");
    let o = verify(&dns, tampered.as_bytes(), NOW);
    assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
    let mut appended = msg.clone();
    appended.extend_from_slice(b"P.S. buy now\r\n");
    let o = verify(&dns, &appended, NOW);
    assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
    let tampered = String::from_utf8_lossy(&msg).replace("Subject: Lunch", "Subject: Dinner");
    let o = verify(&dns, tampered.as_bytes(), NOW);
    assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
    assert_eq!(o.signatures[0].reason, "signature did not verify");
    // Over-signing: an added Subject breaks the signature.
    let added =
        String::from_utf8_lossy(&msg).replace("Subject: Lunch", "Subject: Lunch\r\nSubject: Win");
    assert_eq!(
        results(&verify(&dns, added.as_bytes(), NOW)),
        [DkimResult::Fail, DkimResult::Fail]
    );
    // Unsigned fields may change, and relaxed canonicalisation
    // tolerates whitespace changes.
    let relaxed = String::from_utf8_lossy(&msg)
        .replace("Received: from x by y", "Received: from z")
        .replace("Hello  Bob,", "Hello Bob,  ")
        .replace("\r\n", "\n");
    assert_eq!(
        results(&verify(&dns, relaxed.as_bytes(), NOW)),
        [DkimResult::Pass, DkimResult::Pass]
    );
}

#[test]
fn simple_simple_by_hand() {
    for key in [ed_key("ed"), rsa_key("rsa")] {
        let dns = dns_for(&[&key]);
        let msg = hand_sign(&key, Canon::Simple, Canon::Simple, &HEADER, BODY, "", false);
        let o = verify_split(&dns, &msg, NOW);
        assert_eq!(results(&o), [DkimResult::Pass], "{:?}", o);
        // Simple does not tolerate a whitespace change, in the header
        // or the body.
        let s = String::from_utf8_lossy(&msg).into_owned();
        let ws = s.replace("Alice <alice", "Alice  <alice");
        assert_eq!(
            results(&verify(&dns, ws.as_bytes(), NOW)),
            [DkimResult::Fail]
        );
        let ws = s.replace("Line\ttwo", "Line two");
        assert_eq!(
            results(&verify(&dns, ws.as_bytes(), NOW)),
            [DkimResult::Fail]
        );
        // Trailing empty lines do not count.
        let more = [&msg[..], b"\r\n\r\n"].concat();
        assert_eq!(results(&verify(&dns, &more, NOW)), [DkimResult::Pass]);
        // relaxed/simple and simple/relaxed too.
        for (hc, bc) in [
            (Canon::Relaxed, Canon::Simple),
            (Canon::Simple, Canon::Relaxed),
        ] {
            let msg = hand_sign(&key, hc, bc, &HEADER, BODY, "", false);
            assert_eq!(results(&verify(&dns, &msg, NOW)), [DkimResult::Pass]);
        }
    }
}

#[test]
fn body_length_limit_is_honoured_and_flagged() {
    let key = ed_key("ed");
    let dns = dns_for(&[&key]);
    let msg = hand_sign(&key, Canon::Simple, Canon::Simple, &HEADER, BODY, "", true);
    let o = verify(&dns, &msg, NOW);
    assert_eq!(results(&o), [DkimResult::Pass]);
    assert!(o.signatures[0].uses_l);
    assert_eq!(o.signatures[0].unsigned_body_bytes, 0);
    let appended = [&msg[..], b"Click here!\r\n"].concat();
    let o = verify_split(&dns, &appended, NOW);
    assert_eq!(results(&o), [DkimResult::Pass]);
    assert!(o.signatures[0].uses_l);
    // The empty line that ended the signed body now counts too.
    assert_eq!(o.signatures[0].unsigned_body_bytes, 15);
    assert_eq!(o.signatures[0].reason, "good signature, l= used");
    // An l= longer than the body fails.
    let short = hand_sign(
        &key,
        Canon::Simple,
        Canon::Simple,
        &HEADER,
        BODY,
        " l=999;",
        false,
    );
    let o = verify(&dns, &short, NOW);
    assert_eq!(results(&o), [DkimResult::Fail]);
    assert!(o.signatures[0].uses_l);
}

fn one(dns: &StaticResolver, msg: &[u8]) -> SignatureResult {
    let o = verify(dns, msg, NOW);
    assert_eq!(o.signatures.len(), 1, "{o:?}");
    o.signatures.into_iter().next().unwrap()
}

#[test]
fn expiry() {
    let key = ed_key("ed");
    let dns = dns_for(&[&key]);
    let sign = |extra: &str| {
        hand_sign(
            &key,
            Canon::Relaxed,
            Canon::Relaxed,
            &HEADER,
            BODY,
            extra,
            false,
        )
    };
    let ok = sign(&format!(" t={}; x={};", NOW - 10, NOW + 10));
    assert_eq!(one(&dns, &ok).result, DkimResult::Pass);
    let expired = sign(&format!(" t={}; x={};", NOW - 20, NOW - 10));
    let r = one(&dns, &expired);
    assert_eq!(
        (r.result, r.reason.as_str()),
        (DkimResult::PermError, "signature expired")
    );
    let inverted = sign(&format!(" t={}; x={};", NOW + 20, NOW + 10));
    let r = one(&dns, &inverted);
    assert_eq!(
        (r.result, r.reason.as_str()),
        (DkimResult::PermError, "x= is before t=")
    );
    let bad = sign(" x=soon;");
    assert_eq!(one(&dns, &bad).result, DkimResult::PermError);
}

#[test]
fn key_record_variants() {
    let key = ed_key("ed");
    let p = base64::encode(&key.public_key());
    let msg = hand_sign(
        &key,
        Canon::Relaxed,
        Canon::Relaxed,
        &HEADER,
        BODY,
        " i=joe@sub.example.com;",
        false,
    );
    let name = key.record_name();
    let check = |record: &str| {
        let mut dns = StaticResolver::new();
        dns.add(&name, txt(record));
        one(&dns, &msg)
    };
    assert_eq!(
        check(&format!("v=DKIM1; k=ed25519; p={p}")).result,
        DkimResult::Pass
    );
    // Whitespace and folding in the record, no v=, trailing ';'.
    assert_eq!(
        check(&format!(" k = ed25519 ;\tp= {} {} ;", &p[..10], &p[10..])).result,
        DkimResult::Pass
    );
    let r = check("v=DKIM1; k=ed25519; p=");
    assert_eq!(
        (r.result, r.reason.as_str()),
        (DkimResult::PermError, "key revoked")
    );
    // t=s: i= must be in d= itself.
    let r = check(&format!("v=DKIM1; k=ed25519; t=s; p={p}"));
    assert_eq!(r.result, DkimResult::PermError);
    assert!(r.reason.contains("t=s"), "{}", r.reason);
    // t=y: testing, result unchanged but flagged.
    let r = check(&format!("v=DKIM1; k=ed25519; t=y:x; p={p}"));
    assert_eq!(r.result, DkimResult::Pass);
    assert!(r.testing);
    // h= without sha256, s= without email, v= not first, k= mismatch.
    for bad in [
        format!("v=DKIM1; k=ed25519; h=sha1; p={p}"),
        format!("v=DKIM1; k=ed25519; s=other; p={p}"),
        format!("k=ed25519; v=DKIM1; p={p}"),
        format!("v=DKIM2; k=ed25519; p={p}"),
        format!("v=DKIM1; k=dsa; p={p}"),
        "v=DKIM1; k=ed25519".to_string(),
        "v=DKIM1; k=ed25519; p=!!!".to_string(),
    ] {
        let r = check(&bad);
        assert_eq!(r.result, DkimResult::PermError, "{bad}");
        assert!(
            r.reason.starts_with("bad key record"),
            "{bad}: {}",
            r.reason
        );
    }
    assert_eq!(
        check(&format!(
            "v=DKIM1; k=ed25519; h=sha1:sha256; s=email; p={p}"
        ))
        .result,
        DkimResult::Pass
    );
    let r = check(&format!("v=DKIM1; k=rsa; p={p}"));
    assert_eq!(
        (r.result, r.reason.as_str()),
        (DkimResult::PermError, "key type does not match a=")
    );
    // A wrong Ed25519 key, and one of the wrong size.
    let other_key = SigningKey::ed25519_from_seed("example.com", "o", &[1; 32]).unwrap();
    let other2 = base64::encode(&other_key.public_key());
    assert_eq!(
        check(&format!("k=ed25519; p={other2}")).result,
        DkimResult::Fail
    );
    assert_eq!(check("k=ed25519; p=AAAA").result, DkimResult::PermError);
    // Several records: the first that reads as a key.
    let mut dns = StaticResolver::new();
    dns.add(&name, txt("hello world"))
        .add(&name, txt(&format!("v=DKIM1; k=ed25519; p={p}")));
    assert_eq!(one(&dns, &msg).result, DkimResult::Pass);
}

#[test]
fn rsa_key_sizes() {
    let key = rsa_key("rsa");
    let msg = hand_sign(
        &key,
        Canon::Relaxed,
        Canon::Relaxed,
        &HEADER,
        BODY,
        "",
        false,
    );
    let mut dns = StaticResolver::new();
    dns.add(
        &key.record_name(),
        txt(&format!("v=DKIM1; p={RSA_512_SPKI}")),
    );
    let r = one(&dns, &msg);
    assert_eq!(
        (r.result, r.reason.as_str()),
        (DkimResult::Policy, "rsa key of 512 bits")
    );
    // A bare RSAPublicKey in p= is taken too.
    let spki = key.public_key();
    let (pkcs1, bits) = rsa_public_key(&spki).unwrap();
    assert_eq!(bits, 2048);
    let mut dns = StaticResolver::new();
    dns.add(
        &key.record_name(),
        txt(&format!("p={}", base64::encode(pkcs1))),
    );
    assert_eq!(one(&dns, &msg).result, DkimResult::Pass);
    let mut dns = StaticResolver::new();
    dns.add(
        &key.record_name(),
        txt("p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
    );
    assert_eq!(one(&dns, &msg).reason, "bad rsa key");
}

#[test]
fn dns_failures() {
    let key = ed_key("ed");
    let msg = hand_sign(
        &key,
        Canon::Relaxed,
        Canon::Relaxed,
        &HEADER,
        BODY,
        "",
        false,
    );
    let r = one(&StaticResolver::new(), &msg);
    assert_eq!(
        (r.result, r.reason.as_str()),
        (DkimResult::PermError, "no key")
    );
    let mut dns = StaticResolver::new();
    dns.fail(
        &key.record_name(),
        RecordType::Txt,
        DnsError::Temporary("timeout".into()),
    );
    let r = one(&dns, &msg);
    assert_eq!(r.result, DkimResult::TempError);
    assert_eq!(r.auth_results(), "dkim=temperror (key lookup: timeout) header.d=example.com header.i=@example.com header.s=ed header.b=".to_string() + &ar_value(&r.b_prefix));
    let mut dns = StaticResolver::new();
    dns.nodata(&key.record_name());
    assert_eq!(one(&dns, &msg).reason, "no key");
}

/// Replaces the tag list of a valid signature field with `tags`.
fn with_tags(tags: &str) -> SignatureResult {
    let key = ed_key("ed");
    let dns = dns_for(&[&key]);
    let msg =
        format!("DKIM-Signature: {tags}\r\nFrom: a@example.com\r\nSubject: s\r\n\r\nbody\r\n");
    one(&dns, msg.as_bytes())
}

#[test]
fn missing_and_garbage_tags() {
    let all = "v=1; a=ed25519-sha256; d=example.com; s=ed; h=from; bh=AAAA; b=AAAA";
    // The tags are fine (but the signature is not).
    assert_eq!(with_tags(all).result, DkimResult::Fail);
    for tag in ["v", "a", "b", "bh", "d", "h", "s"] {
        let tags: Vec<&str> = all
            .split("; ")
            .filter(|t| !t.starts_with(&format!("{tag}=")))
            .collect();
        let r = with_tags(&tags.join("; "));
        assert_eq!(r.result, DkimResult::PermError, "{tag}");
        assert_eq!(r.reason, format!("missing tag {tag}="));
    }
    for (tags, why) in [
        ("garbage", "bad tag list"),
        ("", "missing tag v="),
        (
            "v=1; v=1; a=ed25519-sha256",
            "bad tag list: duplicate tag v=",
        ),
        ("v=1;; a=x", "bad tag list: empty tag"),
        ("1v=1", "bad tag list: bad tag name"),
        (&all.replace("v=1", "v=2"), "unsupported version"),
        (
            &all.replace("ed25519-sha256", "rsa-sha1"),
            "rsa-sha1 is not accepted (RFC 8301)",
        ),
        (
            &all.replace("ed25519-sha256", "rsa-md5"),
            "unknown algorithm",
        ),
        (&all.replace("h=from", "h=subject"), "From is not signed"),
        (&all.replace("h=from", "h=from::to"), "bad h="),
        (&format!("{all}; i=a@example.org"), "i= is not within d="),
        (&format!("{all}; i=a@notexample.com"), "i= is not within d="),
        (&format!("{all}; i=nobody"), "bad i="),
        (&format!("{all}; c=fancy/simple"), "bad c="),
        (&format!("{all}; l=12a"), "bad l="),
        (&format!("{all}; l=99999999999999999999999"), "bad l="),
        (&format!("{all}; q=http"), "no supported q= method"),
        (&all.replace("bh=AAAA", "bh=!!"), "bad bh="),
        (&all.replace("b=AAAA", "b="), "bad b="),
        (&all.replace("d=example.com", "d="), "bad d="),
    ] {
        let r = with_tags(tags);
        assert_eq!(r.result, DkimResult::PermError, "{tags}");
        assert!(r.reason.starts_with(why), "{tags}: {}", r.reason);
    }
    // What could be read is reported.
    let r = with_tags(&all.replace("h=from", "h=subject"));
    assert_eq!(
        (r.domain.as_str(), r.selector.as_str()),
        ("example.com", "ed")
    );
    // Subdomain identities are accepted.
    assert_eq!(
        with_tags(&format!("{all}; i=a@mail.EXAMPLE.com")).reason,
        "body hash mismatch"
    );
    assert_eq!(
        with_tags(&format!("{all}; q=dns/txt; c=relaxed")).reason,
        "body hash mismatch"
    );
}

#[test]
fn only_the_first_signatures_are_checked() {
    let keys: Vec<SigningKey> = (0..MAX_SIGNATURES + 2)
        .map(|i| ed_key(&format!("s{i}")))
        .collect();
    let refs: Vec<&SigningKey> = keys.iter().collect();
    let dns = dns_for(&refs);
    let msg = signed(&keys, MSG);
    let o = verify(&dns, &msg, NOW);
    assert_eq!(results(&o), [DkimResult::Pass; MAX_SIGNATURES]);
    assert_eq!(o.skipped, 2);
    assert_eq!(dns.query_count(), MAX_SIGNATURES);
    let sels: Vec<&str> = o.signatures.iter().map(|s| s.selector.as_str()).collect();
    assert_eq!(sels, ["s0", "s1", "s2", "s3", "s4"]);
}

#[test]
fn no_signature_is_none() {
    let o = verify(&StaticResolver::new(), MSG, NOW);
    assert!(o.signatures.is_empty());
    assert_eq!(o.auth_results(), ["dkim=none"]);
    let o = verify(&StaticResolver::new(), b"", NOW);
    assert!(o.signatures.is_empty());
}

#[test]
fn header_only_message() {
    let key = ed_key("ed");
    let dns = dns_for(&[&key]);
    let msg = signed(
        std::slice::from_ref(&key),
        b"From: a@example.com\r\nSubject: s",
    );
    assert_eq!(results(&verify_split(&dns, &msg, NOW)), [DkimResult::Pass]);
}

#[test]
fn oversized_header_fields() {
    let key = ed_key("ed");
    let dns = dns_for(&[&key]);
    let junk = "x".repeat(MAX_HEADER_BYTES + 10);
    // An unsigned huge field is dropped without harm.
    let mut msg = signed(std::slice::from_ref(&key), MSG);
    let at = msg.len() - MSG.len();
    msg.splice(at..at, format!("X-Junk: {junk}\r\n").into_bytes());
    let o = run(&dns, &msg.chunks(1000).collect::<Vec<_>>(), NOW);
    assert_eq!(results(&o), [DkimResult::Pass]);
    // A signature needing a dropped field is not checked.
    let big = format!("Subject: {junk}");
    let msg = hand_sign(
        &key,
        Canon::Relaxed,
        Canon::Relaxed,
        &["From: a@example.com", &big],
        BODY,
        "",
        false,
    );
    let r = one(&dns, &msg);
    assert_eq!(r.result, DkimResult::Neutral);
    // Many fields adding up past the limit.
    let mut msg = signed(std::slice::from_ref(&key), MSG);
    let filler = format!("X-Filler: {}\r\n", "y".repeat(1000)).repeat(70);
    msg.splice(at..at, filler.into_bytes());
    assert_eq!(results(&verify(&dns, &msg, NOW)), [DkimResult::Pass]);
    let mut msg = signed(std::slice::from_ref(&key), MSG);
    let filler = format!("To: {}\r\n", "y".repeat(1000)).repeat(70);
    msg.splice(at..at, filler.into_bytes());
    assert_eq!(results(&verify(&dns, &msg, NOW)), [DkimResult::Neutral]);
}

#[test]
fn tag_lists() {
    let t = parse_tag_list(" a = 1 ;\r\n\tb=x y ; c=").unwrap();
    assert_eq!(
        t,
        [
            ("a".into(), "1".into()),
            ("b".into(), "x y".into()),
            ("c".into(), String::new())
        ]
    );
    assert_eq!(parse_tag_list("a=1;").unwrap().len(), 1);
    assert!(parse_tag_list("").unwrap().is_empty());
    assert!(parse_tag_list("a=1;;").is_err());
    assert!(parse_tag_list("a=1; a=2").is_err());
    assert!(parse_tag_list("a b=1").is_err());
    assert!(parse_tag_list("_a=1").is_err());
    assert!(parse_tag_list("a_1=1").is_ok());
}

#[test]
fn b_value_removal() {
    assert_eq!(
        remove_b_value(b"DKIM-Signature: v=1; bh=abc; b = ab\r\n cd ; d=x"),
        b"DKIM-Signature: v=1; bh=abc; b =; d=x"
    );
    assert_eq!(
        remove_b_value(b"DKIM-Signature: b=abc"),
        b"DKIM-Signature: b="
    );
    assert_eq!(
        remove_b_value(b"DKIM-Signature: bh=1"),
        b"DKIM-Signature: bh=1"
    );
}

#[test]
fn ar_values() {
    assert_eq!(ar_value("example.com"), "example.com");
    assert_eq!(ar_value("@example.com"), "@example.com");
    assert_eq!(ar_value("ab/c+d="), "\"ab/c+d=\"");
    assert_eq!(ar_value("a\"b"), "\"a\\\"b\"");
    assert_eq!(ar_value(""), "\"\"");
}
