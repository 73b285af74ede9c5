//! DKIM signatures made by another implementation, Debian's python3-dkim
//! (dkimpy), checked by facteur's verifier: RSA and Ed25519, every
//! combination of simple and relaxed canonicalisation, `l=`, and the same
//! messages tampered with. The key records are served by a
//! `StaticResolver`.
//!
//! Without /usr/bin/python3 and its dkim and nacl modules the tests print
//! a note and pass, unless `FACTEUR_TEST_STRICT=1`, when they fail.

mod common;

use common::dkim::PYTHON;
use common::server::{run_bounded, TempDir};
use facteur::auth::dkim::verify::{DkimOutcome, DkimResult, Verifier};
use facteur::dns::{RecordData, StaticResolver};
use std::process::Command;
use std::time::Duration;

/// A 2048-bit RSA key made for this test (PKCS#1 PEM, as dkimpy reads it).
const RSA_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA2x0U8MWRx2ir3M289nB8xbz6emB0Tg6VlknAVcRq2ycXslAN
7c+FcMNnAswoBGjUl70gk0aB/Jo6sY6LnJhZlZ/e7HV++5iwHPqJTTpDbs07pmXN
VTSy4PA50OkZQKwZwDFngGH5nS+HOdDjhikR015XQcVc37zl/kZSpo3BEUD5ymRe
VjKfU4tu9uf4yaJhRgpqDP+TBd5gpxN0TNMf5WYllKXw0gzp2QEZyDrBCfrR0/AU
AMw8SHZaPKxLuOQ0a5mn8vWAMIFDdV0P+GGflJQAp9QJMxGublY2+1imYSsGNQFc
RtU2VeyP+ySPXWpkBd1vLskZFxyxh96eFgs7vQIDAQABAoIBABI2TFmH3mpP66sG
abylFGXeI4ac8kXTpgDQH/2w/f25tdlDGKlJzKpW/36mx/O33+W92VGMdHzxt8uu
0LFjI10RpPaL/JI+enLqKxPhch3pTpoxz3uTzgNuzCtuWIQ82cYVBSiRXC1BuFBo
qaSq0Lm8F24W0LWjDo3QPAnucdv0XngtgZe1mA2kwXPV8Xf60HrFXuOASM4IpTxC
pLC8hcKxRdo03huq9edsds7V7fHULy+fKLA3YIKD8EJa1DYoBfmyXARsjMYa5KJk
15XNRLKZkf29CyvA0er7faGL0Vdp3z5H1386nYN6OY3mNICil3evYL6jkAFHyY9x
JpD9tJkCgYEA9iL/SNCYCVwQyAFy1/iTf2GkKqDURoo9yNKAJUSM6VqX01hvptRs
AJVRL2PXhlJtzvHgG/dNOJiGneUNufmZ2uVYSAFx+8/a3COpVXYM7N309uq92mbt
RsvUjUrv6b+Vw34VqomTYimibCAxQW2CfuxJxvS9xt4iDV/fB636rbkCgYEA4+Td
9RKYbGMuCzuOqAQ8RVgHYODLNmE3wWQkin/5rg4fnFxk5PuFsm/hrHXn8fdsoVP9
CdG7atlUrrAV6byNuWvr+P8mtr0JY8ruCkE/fbg34Isv0s/a9xmWXv+oqy9KP0/X
oCjNenPylayZl+SlVO0UIuLRDQcvQs36oQhhICUCgYB+Ba81he/CIwxIi01UvOYw
OzsFxHDLaS53KygHbNDFDehcgpQwE+T0a380x2brVDr60SbQys8T4ixSnZtolB6t
T+3ieDL3HhZNzkh+BEJb6Mzqu4fXUgm8zNIYQb0SrlAs1tqbBXObt/t8ZwMxH7PH
7o1bu6WLM+K1fFfCI9cMqQKBgBwCikFP6soPmp4o0MzX0GyZeDaxCmkBo++yFker
mQ2KkNoQBRqby3/1/l/LEhoMVh6yCvzE+WsVkTHzVI4o7aZnnFY7Tg/RxjCsxXsf
L+WM2dlQYi1f/MK4M2IzvBBmPJLxhkgaG788NwmscChaIvQAO6RaCmW2h1mHpZFb
TUy9AoGBAKqMHT6I6gwcT45IRW3NW8ZP8cMIv70GWERP87TXx9BYLXljc14h3orf
IgJRDN4VnhWWY8Q/vfwWHix/mEEvsR5+bFLcIFvU9efgHwBaGv6oX8OOUI6QzvZy
1bnneOdGGVH0tvE9nvQT6KDGD3qVqgmplB/Wa72USWeCPK5R9Lfm
-----END RSA PRIVATE KEY-----";
/// Its public key, as published (SubjectPublicKeyInfo, base64).
const RSA_PUBLIC: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2x0U8MWRx2ir3M289nB8xbz6emB0Tg6VlknAVcRq2ycXslAN7c+FcMNnAswoBGjUl70gk0aB/Jo6sY6LnJhZlZ/e7HV++5iwHPqJTTpDbs07pmXNVTSy4PA50OkZQKwZwDFngGH5nS+HOdDjhikR015XQcVc37zl/kZSpo3BEUD5ymReVjKfU4tu9uf4yaJhRgpqDP+TBd5gpxN0TNMf5WYllKXw0gzp2QEZyDrBCfrR0/AUAMw8SHZaPKxLuOQ0a5mn8vWAMIFDdV0P+GGflJQAp9QJMxGublY2+1imYSsGNQFcRtU2VeyP+ySPXWpkBd1vLskZFxyxh96eFgs7vQIDAQAB";

/// Signs argv[2] in every way; writes `<alg>-<header>-<body>[-l].eml`
/// into the directory argv[1] (the signature field followed by the
/// message), and the Ed25519 public key into `ed25519.pub`.
const SIGN: &str = r#"
import base64, os, sys
import dkim, nacl.signing

out = sys.argv[1]
msg = open(sys.argv[2], "rb").read()
rsa = open(os.path.join(out, "rsa.pem"), "rb").read()
sk = nacl.signing.SigningKey.generate()
open(os.path.join(out, "ed25519.pub"), "wb").write(base64.b64encode(bytes(sk.verify_key)))
keys = {
    "rsa": (b"rsa-sha256", b"sel-rsa", rsa),
    "ed25519": (b"ed25519-sha256", b"sel-ed", base64.b64encode(bytes(sk))),
}
for name, (alg, sel, key) in keys.items():
    for hc in (b"simple", b"relaxed"):
        for bc in (b"simple", b"relaxed"):
            for length in (False, True):
                sig = dkim.sign(msg, sel, b"example.com", key, canonicalize=(hc, bc),
                                signature_algorithm=alg, length=length, linesep=b"\r\n")
                path = "%s-%s-%s%s.eml" % (name, hc.decode(), bc.decode(), "-l" if length else "")
                open(os.path.join(out, path), "wb").write(sig + msg)
"#;

const MESSAGE: &[u8] = b"From: Alice  <alice@example.com>\r\n\
To: Bob <bob@example.org>,\r\n\tCarol <carol@example.org>\r\n\
Subject: The  quarterly\r\n numbers\r\n\
Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <q3@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Bob,  \r\n\
\r\n\
the numbers\tare in.\r\n\
\r\n\
\r\n";

/// Whether dkimpy can run; in strict mode a missing one fails.
fn have_dkimpy() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import dkim, nacl"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        common::missing(&format!(
            "{PYTHON} with the dkim and nacl modules (python3-dkim, python3-nacl)"
        ));
    }
    ok
}

/// The signed messages, by file name, and the resolver with both keys.
fn sign_all(dir: &TempDir) -> (Vec<(String, Vec<u8>)>, StaticResolver) {
    let d = &dir.0;
    std::fs::write(d.join("rsa.pem"), RSA_PEM).unwrap();
    std::fs::write(d.join("message.eml"), MESSAGE).unwrap();
    let (ok, out, err) = run_bounded(
        Command::new(PYTHON)
            .arg("-c")
            .arg(SIGN)
            .arg(d)
            .arg(d.join("message.eml")),
        Duration::from_secs(120),
    );
    assert!(ok, "dkimpy failed:\n{out}\n{err}");
    let ed = std::fs::read_to_string(d.join("ed25519.pub")).unwrap();
    let mut dns = StaticResolver::new();
    let txt = |s: String| RecordData::Txt(s.into_bytes().chunks(255).map(<[u8]>::to_vec).collect());
    dns.add(
        "sel-rsa._domainkey.example.com",
        txt(format!("v=DKIM1; k=rsa; p={RSA_PUBLIC}")),
    )
    .add(
        "sel-ed._domainkey.example.com",
        txt(format!("v=DKIM1; k=ed25519; p={}", ed.trim())),
    );
    let mut msgs: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .filter(|p| !p.ends_with("message.eml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    msgs.sort();
    assert_eq!(
        msgs.len(),
        16,
        "{:?}",
        msgs.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    (msgs, dns)
}

fn verify(dns: &StaticResolver, msg: &[u8], chunk: usize) -> DkimOutcome {
    let mut v = Verifier::new(facteur::time::unix_now());
    for c in msg.chunks(chunk.max(1)) {
        v.update(c);
    }
    smol::block_on(v.finish(dns))
}

fn result(dns: &StaticResolver, msg: &[u8]) -> (DkimResult, String) {
    let o = verify(dns, msg, 7);
    assert_eq!(o.signatures.len(), 1, "{o:?}");
    (o.signatures[0].result, o.signatures[0].reason.clone())
}

fn replace(msg: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(msg.to_vec()).unwrap();
    assert!(s.contains(from), "{from:?} not in message");
    s.replacen(from, to, 1).into_bytes()
}

#[test]
fn dkimpy_signatures_verify() {
    if !have_dkimpy() {
        return;
    }
    let dir = TempDir::new("dkim-verify");
    let (msgs, dns) = sign_all(&dir);
    for (name, msg) in &msgs {
        for chunk in [1, 3, 64, msg.len()] {
            let o = verify(&dns, msg, chunk);
            assert_eq!(o.signatures.len(), 1, "{name}");
            let s = &o.signatures[0];
            assert_eq!(
                s.result,
                DkimResult::Pass,
                "{name} in {chunk}-byte chunks: {s:?}"
            );
            assert_eq!(s.domain, "example.com");
            assert_eq!(s.uses_l, name.ends_with("-l.eml"), "{name}");
            assert_eq!(s.unsigned_body_bytes, 0, "{name}");
        }
        // Bare LF line ends verify like CRLF.
        let lf = String::from_utf8(msg.clone())
            .unwrap()
            .replace("\r\n", "\n");
        assert_eq!(
            result(&dns, lf.as_bytes()).0,
            DkimResult::Pass,
            "{name} with LF"
        );
    }
}

#[test]
fn dkimpy_signatures_tampered() {
    if !have_dkimpy() {
        return;
    }
    let dir = TempDir::new("dkim-verify-tampered");
    let (msgs, dns) = sign_all(&dir);
    for (name, msg) in &msgs {
        let header_canon = name.split('-').nth(1).unwrap();
        let body_canon = name.split('-').nth(2).unwrap().trim_end_matches(".eml");
        // A changed word in the body, and in a signed header field.
        let body = replace(msg, "numbers\tare", "numbers\twere");
        assert_eq!(
            result(&dns, &body),
            (DkimResult::Fail, "body hash mismatch".into()),
            "{name}"
        );
        let header = replace(msg, "quarterly", "yearly");
        assert_eq!(
            result(&dns, &header),
            (DkimResult::Fail, "signature did not verify".into()),
            "{name}"
        );
        // Whitespace changes: relaxed tolerates them, simple does not.
        let ws = replace(msg, "Alice  <alice", "Alice <alice");
        let want = if header_canon == "relaxed" {
            DkimResult::Pass
        } else {
            DkimResult::Fail
        };
        assert_eq!(result(&dns, &ws).0, want, "{name}: header whitespace");
        let ws = replace(msg, "Hello Bob,  \r\n", "Hello  Bob,\r\n");
        let want = if body_canon == "relaxed" {
            DkimResult::Pass
        } else {
            DkimResult::Fail
        };
        assert_eq!(result(&dns, &ws).0, want, "{name}: body whitespace");
        // Content appended to the body: only l= signatures still pass,
        // flagged with the unsigned length.
        let mut appended = msg.clone();
        appended.extend_from_slice(b"Buy now!\r\n");
        let o = verify(&dns, &appended, 11);
        let s = &o.signatures[0];
        if name.ends_with("-l.eml") {
            assert_eq!(s.result, DkimResult::Pass, "{name}: appended");
            assert!(s.uses_l);
            assert!(
                s.unsigned_body_bytes >= 10,
                "{name}: {}",
                s.unsigned_body_bytes
            );
        } else {
            assert_eq!(s.result, DkimResult::Fail, "{name}: appended");
        }
        // A key that is not the signer's.
        let mut other = StaticResolver::new();
        let key = if name.starts_with("rsa") {
            ("sel-rsa._domainkey.example.com", "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2JfVsHWh3jlQtMBp8kp5m9y/Y/jqIQycnPxTO7o+6O8W8opmTkeXHfIS0n1JrIr9Z3Y51aHINqn8jQOJMgvkNtc2TMsOtCZSL9Y0TahI71u1ewoViLiZXa88zNZXttyGluxhggIC2pZ+BdZU3WBhOHQMLL8XwUXbW6pyQAm95YNQMCJiafMW+oO9i6pCxyWuhdRDoKbqjJ5CLEfAspxEJe50+JyviMHPbNdFJTVG79l3M5e+9e/v79V3EZTjIYo68zGsAH78jihZxrHoley2ONEOt8ec2y+lWhyipm1SK3J87OLfy5dBmafX/Kd2juJtSMVlZykAGY/MA7P0W76THQIDAQAB")
        } else {
            (
                "sel-ed._domainkey.example.com",
                "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            )
        };
        other.add(key.0, RecordData::Txt(vec![key.1.as_bytes().to_vec()]));
        assert_eq!(result(&other, msg).0, DkimResult::Fail, "{name}: other key");
    }
}
