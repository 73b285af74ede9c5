#!/usr/bin/env bash
# Peak RSS of `facteur run` (release build): idle, then with N idle client
# connections spread over the services (plain and TLS).
#
#   scripts/bench/memory.sh [CONNECTIONS]     (default 200)
#
# Prints the figures recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS="${1:-200}"

cargo build --release --quiet
BIN="$PWD/target/release/facteur"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

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
[limits]
max_connections = 1000
max_connections_per_ip = 1000
[dns]
# Nothing answers there: lookups fail at once instead of waiting on a
# resolver this machine may not reach.
nameservers = ["127.0.0.1:9"]
[antispam]
# The inbound checks as shipped (greylisting and Bayes included), without
# the public DNS lists.
dnsbl = []
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

status() { grep -E "^$1:" "/proc/$PID/status" | awk '{print $2}'; }
sleep 2
IDLE_RSS=$(status VmRSS)
IDLE_HWM=$(status VmHWM)

# Open the connections and keep them open while measuring.
python3 - "$WORK/out" "$CONNS" "$PID" <<'PY' > "$WORK/conns"
import socket, ssl, sys, time
out, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
addrs = {}
for line in open(out):
    if " listening on " in line:
        svc, addr = line.strip().split(" listening on ")
        host, port = addr.rsplit(":", 1)
        addrs[svc] = (host, int(port))
services = ["smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps"]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
socks, opened = [], 0
for i in range(n):
    svc = services[i % len(services)]
    try:
        s = socket.create_connection(addrs[svc], timeout=10)
        if svc.endswith("s") and svc != "submission":
            s = ctx.wrap_socket(s)
        socks.append(s)
        opened += 1
    except Exception as e:
        print("connect failed:", svc, e, file=sys.stderr)
time.sleep(3)
def field(name):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(name + ":"):
            return int(l.split()[1])
alive = 0
for s in socks:
    try:
        s.setblocking(False)
        try:
            # TLS sockets take no recv flags; reading a byte of the
            # greeting does no harm here.
            data = s.recv(1) if isinstance(s, ssl.SSLSocket) else s.recv(1, socket.MSG_PEEK)
            if data == b"":
                continue
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        alive += 1
    except Exception:
        pass
print(opened, alive, field("VmRSS"), field("VmHWM"))
PY
read -r OPENED ALIVE LOADED_RSS LOADED_HWM < "$WORK/conns"

echo "facteur $("$BIN" --version | cut -d' ' -f2), $(uname -m), release build ($(stat -c %s "$BIN") bytes)"
echo "idle:                      RSS $((IDLE_RSS / 1024)).$(( (IDLE_RSS % 1024) * 10 / 1024 )) MiB (peak $((IDLE_HWM / 1024)).$(( (IDLE_HWM % 1024) * 10 / 1024 )) MiB)"
echo "$OPENED connections opened, $ALIVE still open after 3 s"
echo "with connections:          RSS $((LOADED_RSS / 1024)).$(( (LOADED_RSS % 1024) * 10 / 1024 )) MiB (peak $((LOADED_HWM / 1024)).$(( (LOADED_HWM % 1024) * 10 / 1024 )) MiB)"
