#!/usr/bin/env bash
# SMTP receiving throughput and memory: Postfix's smtp-source sends
# MESSAGES messages of SIZE bytes over SESSIONS parallel sessions to one
# local user; prints messages per second and facteur's peak RSS.
#
#   scripts/bench/smtp.sh [MESSAGES] [SIZE] [SESSIONS]   (default 5000 10240 20)
#
# Needs /usr/sbin/smtp-source (Debian package postfix; the service is
# never started). Results go in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES="${1:-5000}"
SIZE="${2:-10240}"
SESSIONS="${3:-20}"
[ -x /usr/sbin/smtp-source ] || { echo "needs /usr/sbin/smtp-source (apt-get install postfix)"; exit 1; }

cargo build --release --quiet
BIN="$PWD/target/release/facteur"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat > "$WORK/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$WORK/data"
domains = ["example.test"]
[listen]
smtp = "127.0.0.1:$PORT"
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = ""
imaps = ""
web = ""
[limits]
max_connections_per_ip = 100
[antispam]
# Inbound checks off: this measures the rest of the path (see antispam.sh).
enabled = false
dnsbl = []
[log]
level = "info"
TOML
echo "bench password" | "$BIN" user add bench@example.test --password-stdin --config "$WORK/facteur.toml" >/dev/null

"$BIN" run --config "$WORK/facteur.toml" > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 1 100); do grep -q ' ready' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
grep -q ' ready' "$WORK/out" || { cat "$WORK/err"; exit 1; }

start=$(date +%s.%N)
/usr/sbin/smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
    -f sender@remote.test -t bench@example.test "127.0.0.1:$PORT"
end=$(date +%s.%N)
HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
kill "$PID"; wait "$PID" || true; PID=""
STORED=$(find "$WORK/data/blobs" -mindepth 2 -type f -regextype posix-extended -regex ".*/[0-9a-f]{64}" | wc -l)
MSGS=$(grep -c "delivered to" "$WORK/err" || true)
python3 - "$start" "$end" "$MESSAGES" "$SIZE" "$SESSIONS" "$HWM" "$STORED" "$MSGS" <<'PY'
import sys
start, end, n, size, sessions, hwm, stored, delivered = sys.argv[1:]
secs = float(end) - float(start)
print(f"{n} messages of {size} bytes over {sessions} sessions in {secs:.1f} s: "
      f"{int(n)/secs:.0f} messages/s; peak RSS {int(hwm)/1024:.1f} MiB; {delivered} deliveries logged, {stored} distinct bodies stored")
PY
