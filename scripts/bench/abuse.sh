#!/usr/bin/env bash
# The server under abuse, with the shipped limits:
#  1. delivery latency over SMTP, alone and while four IMAP searches run
#     through 20 MiB of text with 32 BODY keys each;
#  2. new clients of submission, IMAP and POP3 while 400 idle connections
#     to port 25 are held from 20 loopback addresses (20 each);
#  3. RSS after 50 `facteur user add` through the running server.
#
#   scripts/bench/abuse.sh
#
# FACTEUR_BIN=path uses that binary instead of building the release one.
# Prints the figures recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -n "${FACTEUR_BIN:-}" ]; then
    BIN="$(realpath "$FACTEUR_BIN")"
else
    cargo build --release --quiet
    BIN="$PWD/target/release/facteur"
fi
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$WORK"' EXIT

cat > "$WORK/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$WORK/data"
domains = ["example.test"]
[listen]
smtp = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
pop3 = "127.0.0.1:0"
pop3s = "127.0.0.1:0"
imap = "127.0.0.1:0"
imaps = "127.0.0.1:0"
web = "127.0.0.1:0"
[tls]
allow_plaintext_auth = true
[dns]
nameservers = ["127.0.0.1:9"]
[antispam]
enabled = false
[log]
level = "warn"
TOML

"$BIN" run --config "$WORK/facteur.toml" > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 1 100); do
    grep -q ' ready' "$WORK/out" 2>/dev/null && break
    sleep 0.1
done
grep -q ' ready' "$WORK/out" || { echo "facteur did not start:"; cat "$WORK/err"; exit 1; }
user_add() {
    echo "$2" | "$BIN" user add "$1" --password-stdin --config "$WORK/facteur.toml" > /dev/null
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
user_add alice@example.test "correct horse battery"

echo "facteur $("$BIN" --version | cut -d' ' -f2), $(uname -m), $(basename "$(dirname "$BIN")") build, load $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$WORK/out" <<'PY'
import socket, sys, time, threading
addrs = {}
for line in open(sys.argv[1]):
    if " listening on " in line:
        svc, addr = line.strip().split(" listening on ")
        host, port = addr.rsplit(":", 1)
        addrs[svc] = (host, int(port))

class Conn:
    def __init__(self, svc, source="127.0.0.1", timeout=120):
        self.s = socket.create_connection(addrs[svc], timeout=timeout, source_address=(source, 0))
        self.f = self.s.makefile("rb")
    def line(self):
        return self.f.readline().decode("latin-1").rstrip("\r\n")
    def send(self, b):
        self.s.sendall(b)
    def until(self, prefix):
        while True:
            l = self.line()
            if l == "" or l.startswith(prefix):
                return l
    def reply(self):
        while True:
            l = self.line()
            if len(l) < 4 or l[3] != "-":
                return l

def imap_login():
    c = Conn("imap")
    c.line()
    c.send(b'l LOGIN alice@example.test "correct horse battery"\r\n')
    assert c.until("l ").startswith("l OK")
    return c

def deliver():
    t = time.monotonic()
    c = Conn("smtp")
    assert c.reply().startswith("220")
    for cmd in [b"EHLO bench.test", b"MAIL FROM:<bob@remote.test>", b"RCPT TO:<alice@example.test>", b"DATA"]:
        c.send(cmd + b"\r\n")
        c.reply()
    c.send(b"Subject: urgent\r\n\r\nPlease call.\r\n.\r\n")
    r = c.reply()
    assert r.startswith("250"), r
    took = time.monotonic() - t
    c.send(b"QUIT\r\n")
    return took

# 1. Delivery while hostile searches run.
c = imap_login()
line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
big = b"From: bob@remote.test\r\nSubject: long read\r\n\r\n" + line * ((10 << 20) // len(line))
for _ in range(2):
    c.send(b"a APPEND INBOX {%d}\r\n" % len(big))
    c.line()
    c.send(big + b"\r\n")
    assert c.until("a ").startswith("a OK")
alone = sorted(deliver() for _ in range(5))[2]
searchers = []
for i in range(4):
    s = imap_login()
    s.send(b"s SELECT INBOX\r\n")
    s.until("s OK")
    searchers.append(s)
keys = b" ".join(b"BODY zq%dx" % k for k in range(32))
ends = [None] * 4
start = time.monotonic()
def run(i):
    s = searchers[i]
    s.send(b"h SEARCH " + keys + b"\r\n")
    r = s.until("h ")
    ends[i] = (time.monotonic() - start, r)
threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
time.sleep(0.2)
during = [deliver() for _ in range(3)]
busy = sum(1 for e in ends if e is None)
for t in threads:
    t.join()
print(f"delivery alone (median of 5): {alone * 1000:.0f} ms")
print(f"delivery while 4 searches run: {', '.join(f'{d * 1000:.0f}' for d in during)} ms "
      f"({busy} of 4 searches still running after the third)")
print("searches ended after: " + ", ".join(f"{e[0]:.1f} s ({e[1][2:]})" for e in ends))

# 2. New clients while 400 idle connections to port 25 are held.
held, refused = [], 0
for a in range(2, 22):
    for _ in range(20):
        try:
            h = Conn("smtp", source=f"127.0.0.{a}", timeout=10)
            g = h.reply()
            if g.startswith("220"):
                held.append(h)
            else:
                refused += 1
        except OSError:
            refused += 1
print(f"idle port-25 connections: {len(held)} held, {refused} refused with 421")
for svc, ok in [("submission", "220"), ("imap", "* OK"), ("pop3", "+OK")]:
    times, served = [], 0
    for _ in range(20):
        t = time.monotonic()
        n = Conn(svc, timeout=10)
        g = n.line()
        times.append(time.monotonic() - t)
        served += g.startswith(ok)
        n.s.close()
    times.sort()
    print(f"  new {svc} clients: {served} of 20 greeted, median {times[10] * 1000:.1f} ms, worst {times[-1] * 1000:.1f} ms")
for h in held:
    h.s.close()
PY

# 3. RSS after 50 user adds through the running server.
sleep 2
BEFORE=$(rss_kib)
for i in $(seq 1 50); do
    user_add "user$i@example.test" "a long enough password $i"
done
sleep 2
AFTER=$(rss_kib)
echo "RSS before 50 user adds: $((BEFORE / 1024)).$(( (BEFORE % 1024) * 10 / 1024 )) MiB, after: $((AFTER / 1024)).$(( (AFTER % 1024) * 10 / 1024 )) MiB"
