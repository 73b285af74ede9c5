//! Verifying DKIM signatures with an independent implementation: Debian's
//! python3-dkim (dkimpy), which fetches key records from the test DNS
//! server.

use super::dns::DnsServer;
use super::server::run_bounded;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The Python that has Debian's modules (the one on PATH may not).
pub const PYTHON: &str = "/usr/bin/python3";

/// Verifies every DKIM-Signature of the message in argv[1], asking the DNS
/// server on 127.0.0.1:argv[2] (over TCP: RSA key records do not fit a
/// 512-byte UDP answer). Prints one line per signature: "pass" or "fail".
pub const VERIFY: &str = r#"
import logging, sys
import dkim, dnslib

logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
port = int(sys.argv[2])

def dnsfunc(name, timeout=5):
    q = dnslib.DNSRecord.question(name.decode("ascii"), "TXT")
    reply = dnslib.DNSRecord.parse(q.send("127.0.0.1", port, tcp=True, timeout=timeout))
    for rr in reply.rr:
        if rr.rtype == dnslib.QTYPE.TXT:
            return b"".join(rr.rdata.data)
    return None

msg = open(sys.argv[1], "rb").read()
d = dkim.DKIM(msg, logger=logging.getLogger("dkim"))
n = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
for i in range(n):
    try:
        ok = dkim.DKIM(msg, logger=logging.getLogger("dkim")).verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        logging.getLogger("dkim").debug("signature %d: %s", i, e)
        ok = False
    print("pass" if ok else "fail")
"#;

/// Whether the verifier can run; in strict mode a missing one fails.
pub fn have_verifier() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import dkim, dnslib, nacl"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        super::missing(&format!(
            "{PYTHON} with the dkim, dnslib and nacl modules \
             (python3-dkim, python3-dnslib, python3-nacl)"
        ));
    }
    ok
}

/// The verifier's verdict on each signature of `msg`, in order.
pub fn verify(dir: &Path, dns: &DnsServer, msg: &[u8]) -> Vec<String> {
    let path = dir.join("message.eml");
    std::fs::write(&path, msg).unwrap();
    let (ok, out, err) = run_bounded(
        Command::new(PYTHON)
            .arg("-c")
            .arg(VERIFY)
            .arg(&path)
            .arg(dns.port().to_string()),
        Duration::from_secs(60),
    );
    assert!(ok, "verifier failed:\n{out}\n{err}");
    let verdicts: Vec<String> = out.lines().map(str::to_string).collect();
    if verdicts.iter().any(|v| v != "pass") {
        eprintln!("verifier log:\n{err}");
    }
    verdicts
}
