#!/usr/bin/env bash
# The web pages' budgets:
#  1. idle RSS with the web listener off, then on (after one page load);
#  2. RSS with 20 admin sessions loading the dashboard at once (10 loads
#     each);
#  3. dashboard render time with USERS accounts and QUEUED messages in the
#     outbound queue (median of 20 loads, one session).
#
#   scripts/bench/web.sh [USERS] [QUEUED]      (default 1000 10000)
#
# FACTEUR_BIN=path uses that binary instead of building the release one.
# Prints the figures recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
USERS="${1:-1000}"
QUEUED="${2:-10000}"

if [ -n "${FACTEUR_BIN:-}" ]; then
    BIN="$(realpath "$FACTEUR_BIN")"
else
    cargo build --release --quiet
    BIN="$PWD/target/release/facteur"
fi
WORK="$(mktemp -d)"
PID=""
stop() { [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; PID=""; }
trap 'stop; rm -rf "$WORK"' EXIT

# $1: the web_plain listener ("" for none).
config() {
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
web = ""
web_plain = "$1"
[tls]
allow_plaintext_auth = true
[dns]
nameservers = ["127.0.0.1:9"]
[limits]
max_connections = 512
max_connections_per_ip = 256
[web]
max_sessions = 64
[mta]
max_messages_per_hour = 0
max_recipients_per_hour = 0
[antispam]
enabled = false
[log]
level = "warn"
TOML
}
start() {
    : > "$WORK/out"
    "$BIN" run --config "$WORK/facteur.toml" > "$WORK/out" 2> "$WORK/err" &
    PID=$!
    for _ in $(seq 1 100); do
        grep -q ' ready' "$WORK/out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q ' ready' "$WORK/out" || { echo "facteur did not start:"; cat "$WORK/err"; exit 1; }
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
user_add() {
    echo "$2" | "$BIN" user add "$1" ${3:-} --password-stdin --config "$WORK/facteur.toml" > /dev/null
}

echo "facteur $("$BIN" --version | cut -d' ' -f2), $(uname -m), $(basename "$(dirname "$BIN")") build, load $(cut -d' ' -f1 /proc/loadavg)"

# 1. Idle, web off then on; both after a user add, whose password hash
# allocates the password worker's memory once.
config ""
start
user_add boss@example.test "correct horse battery" --admin
sleep 2
off=$(rss_kib)
stop
rm -rf "$WORK/data"
config "127.0.0.1:0"
start
user_add boss@example.test "correct horse battery" --admin
sleep 2
python3 - "$WORK/out" <<'PY'
import http.client, sys
addr = [l.split(" listening on ")[1].strip() for l in open(sys.argv[1]) if l.startswith("web_plain ")][0]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
c.request("GET", "/login")
assert c.getresponse().read()
PY
sleep 1
on=$(rss_kib)
echo "idle RSS: web off ${off} KiB, web on ${on} KiB (+$((on - off)) KiB)"

# 2 and 3 share a client.
cat > "$WORK/client.py" <<'PY'
import http.client, re, statistics, sys, threading, time
out, what = sys.argv[1], sys.argv[2]
addr = [l.split(" listening on ")[1].strip() for l in open(out) if l.startswith("web_plain ")][0]
host, port = addr.rsplit(":", 1)
port = int(port)

def login():
    c = http.client.HTTPConnection(host, port, timeout=60)
    c.request("POST", "/login", "username=boss%40example.test&password=correct+horse+battery",
              {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    assert r.status == 303, r.status
    token = re.search(r"facteur_session=([0-9a-f]+)", r.getheader("Set-Cookie")).group(1)
    return c, {"Cookie": "facteur_session=" + token}

def load(c, h):
    t = time.monotonic()
    c.request("GET", "/", headers=h)
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and b"Dashboard" in body, r.status
    return time.monotonic() - t

if what == "sessions":
    sessions = [login() for _ in range(20)]
    def run(s):
        for _ in range(10):
            load(*s)
    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    for t in threads: t.start()
    for t in threads: t.join()
    print("20 sessions x 10 dashboard loads done")
else:
    c, h = login()
    times = sorted(load(c, h) for _ in range(20))
    print("dashboard render: median %.1f ms, max %.1f ms" % (statistics.median(times) * 1000, times[-1] * 1000))
PY
before=$(rss_kib)
python3 "$WORK/client.py" "$WORK/out" sessions
after=$(rss_kib)
echo "20 concurrent admin sessions: RSS ${before} -> ${after} KiB (+$((after - before)) KiB)"

# 3. USERS accounts and QUEUED queued messages (to an unreachable domain:
# DNS goes to a closed port, so they stay queued).
for i in $(seq 2 "$USERS"); do
    user_add "user$i@example.test" "correct horse battery"
done
python3 - "$WORK/out" "$QUEUED" <<'PY'
import smtplib, sys
out, n = sys.argv[1], int(sys.argv[2])
addr = [l.split(" listening on ")[1].strip() for l in open(out) if l.startswith("submission ")][0]
host, port = addr.rsplit(":", 1)
s = smtplib.SMTP(host, int(port), timeout=60)
s.login("boss@example.test", "correct horse battery")
msg = b"From: boss@example.test\r\nTo: someone@remote.invalid\r\nSubject: queued\r\n\r\nwaiting\r\n"
for i in range(n):
    s.sendmail("boss@example.test", ["someone%d@remote.invalid" % i], msg)
s.quit()
print("queued", n)
PY
python3 "$WORK/client.py" "$WORK/out" render
echo "with $USERS users and $QUEUED queued messages; RSS now $(rss_kib) KiB"
