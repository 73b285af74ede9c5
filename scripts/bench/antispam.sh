#!/usr/bin/env bash
# Time per message through the inbound checks, with DNS answered on
# loopback: MESSAGES signed messages from 127.0.0.5 (authorised by SPF,
# DKIM-signed with Ed25519, DMARC p=reject) are sent one session each, with
# [antispam] off, on, and on with the DNS cache off (every lookup goes to
# the DNS server on loopback); the difference per message is
# what the pipeline costs (SPF, DKIM, DMARC, iprev, HELO, an IP and a domain
# DNS list answered NXDOMAIN, headers, Bayes trained on the test corpus;
# greylisting off, as every
# message would be deferred).
#
#   scripts/bench/antispam.sh [MESSAGES]      (default 500)
#
# Needs Debian's python3-dnslib, python3-dkim and python3-nacl under
# /usr/bin/python3. Results go in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES="${1:-500}"
PY=/usr/bin/python3
$PY -c 'import dnslib, dkim, nacl' 2>/dev/null || { echo "needs python3-dnslib python3-dkim python3-nacl"; exit 1; }

cargo build --release --quiet
BIN="$PWD/target/release/facteur"
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DNSPORT=$(freeport)

# The sender's DKIM key: made by facteur, its Ed25519 seed given to dkimpy.
mkdir -p "$WORK/keys"
cat > "$WORK/keys.toml" <<TOML
[server]
hostname = "mx.sender.test"
data_dir = "$WORK/keys"
domains = ["sender.test"]
TOML
RECORD=$("$BIN" dkim generate sender.test --algorithm ed25519 --selector bench --config "$WORK/keys.toml" | grep -o 'v=DKIM1[^"]*' | head -1)
PEM=$(ls "$WORK"/keys/dkim/sender.test/bench*.pem)

# The DNS server: SPF, DMARC, the DKIM key, forward-confirmed rDNS.
cat > "$WORK/dns.py" <<'PY'
import sys, time
from dnslib import RR, QTYPE, RCODE, TXT, A, PTR, SOA
from dnslib.server import DNSServer, BaseResolver
port, dkim_record = int(sys.argv[1]), sys.argv[2]
ZONE = {
    ("sender.test.", "TXT"): [TXT("v=spf1 ip4:127.0.0.5 -all")],
    ("_dmarc.sender.test.", "TXT"): [TXT("v=DMARC1; p=reject")],
    ("bench._domainkey.sender.test.", "TXT"): [TXT(dkim_record)],
    ("5.0.0.127.in-addr.arpa.", "PTR"): [PTR("mx.sender.test.")],
    ("mx.sender.test.", "A"): [A("127.0.0.5")],
}
class Z(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name, qt = str(q.qname).lower(), QTYPE[q.qtype]
        answers = ZONE.get((name, qt))
        if answers:
            for a in answers:
                reply.add_answer(RR(q.qname, q.qtype, rdata=a, ttl=3600))
        else:
            if not any(n == name for n, _ in ZONE):
                reply.header.rcode = RCODE.NXDOMAIN
            # The SOA makes the negative answer cacheable (RFC 2308 §5),
            # as the DNS lists' own servers do.
            reply.add_auth(RR("test.", QTYPE.SOA, ttl=300,
                              rdata=SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, 300))))
        return reply
s = DNSServer(Z(), port=port, address="127.0.0.1")
s.start_thread()
while True:
    time.sleep(3600)
PY
$PY "$WORK/dns.py" "$DNSPORT" "$RECORD" >/dev/null 2>&1 &
PIDS+=($!)

# The messages, signed once (the same for both runs).
$PY - "$WORK/msgs" "$MESSAGES" "$PEM" <<'PY'
import base64, os, sys, dkim
out, n, pem = sys.argv[1], int(sys.argv[2]), sys.argv[3]
der = base64.b64decode("".join(l for l in open(pem) if not l.startswith("-----")))
seed = base64.b64encode(der[-32:])
os.makedirs(out)
for i in range(n):
    msg = (f"From: Joe <joe@sender.test>\r\nTo: bench@example.test\r\n"
           f"Subject: Report {i}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
           f"Message-ID: <{i}@sender.test>\r\n\r\n" +
           "The weekly figures for the office are below.\r\n" * 40).encode()
    sig = dkim.sign(msg, b"bench", b"sender.test", seed,
                    signature_algorithm=b"ed25519-sha256",
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    open(os.path.join(out, f"{i:05}.eml"), "wb").write(sig + msg)
PY

run() {
    local enabled=$1 cache=$2 port dir
    port=$(freeport)
    dir="$WORK/run-$enabled-$cache"
    mkdir -p "$dir"
    cat > "$dir/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$dir/data"
domains = ["example.test"]
[listen]
smtp = "127.0.0.1:$port"
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = ""
imaps = ""
web = ""
[dns]
nameservers = ["127.0.0.1:$DNSPORT"]
cache_entries = $cache
[antispam]
enabled = $enabled
greylisting = false
dnsbl = [
  { zone = "bl.test", weight = 3.0, kind = "ip" },
  { zone = "dbl.test", weight = 3.0, kind = "domain" },
]
dnsbl_check_private = true
# The client is on loopback: trusted by default, which skips the DNS lists.
trusted_networks = []
[log]
level = "warn"
TOML
    echo "bench password" | "$BIN" user add bench@example.test --password-stdin --config "$dir/facteur.toml" >/dev/null
    # A trained Bayes filter, so that it classifies every message.
    "$BIN" spam train --spam tests/data/corpus/spam bench@example.test --config "$dir/facteur.toml" >/dev/null
    "$BIN" spam train --ham tests/data/corpus/ham bench@example.test --config "$dir/facteur.toml" >/dev/null
    "$BIN" run --config "$dir/facteur.toml" > "$dir/out" 2> "$dir/err" &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 1 100); do grep -q ' ready' "$dir/out" 2>/dev/null && break; sleep 0.1; done
    grep -q ' ready' "$dir/out" || { cat "$dir/err"; exit 1; }
    python3 - "$port" "$WORK/msgs" "$pid" <<'PY'
import os, smtplib, sys, time
port, d, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def cpu():
    # utime + stime of the server, in seconds (proc(5)).
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
files = sorted(os.listdir(d))
cpu0 = cpu()
start = time.monotonic()
for f in files:
    s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.5", 0), timeout=30)
    s.ehlo("mx.sender.test")
    s.sendmail("joe@sender.test", ["bench@example.test"], open(os.path.join(d, f), "rb").read())
    s.quit()
secs = time.monotonic() - start
print(f"{secs / len(files) * 1000:.2f} {(cpu() - cpu0) / len(files) * 1000:.2f}")
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

OFF=$(run false 1024)
WARM=$(run true 1024)
COLD=$(run true 0)
python3 - "$MESSAGES" $OFF $WARM $COLD <<'PY'
import sys
n = sys.argv[1]
off, warm, cold = [tuple(map(float, sys.argv[i:i + 2])) for i in (2, 4, 6)]
print(f"{n} messages, one SMTP session each from 127.0.0.5; per message, wall time"
      " at the client and the server's CPU time (ms):")
for name, (w, c) in [("checks off", off), ("checks on, DNS cache (warm)", warm),
                     ("checks on, no DNS cache (all asked)", cold)]:
    print(f"  {name:37} wall {w:6.2f} (+{w - off[0]:5.2f})   cpu {c:5.2f} (+{c - off[1]:5.2f})")
PY
