#!/usr/bin/env bash
# Outbound delivery throughput and memory: Postfix's smtp-source sends
# MESSAGES messages of SIZE bytes to a local alias that forwards to a remote
# address, so each one is queued; facteur delivers them through a smarthost
# that is Postfix's smtp-sink on loopback. Prints messages per second from
# the first submission to an empty queue, facteur's peak RSS, and the SMTP
# sessions the sink saw (connections are reused between messages).
#
#   scripts/bench/outbound.sh [MESSAGES] [SIZE]   (default 2000 10240)
#
# Needs /usr/sbin/smtp-source and /usr/sbin/smtp-sink (Debian package
# postfix; the service is never started). Results go in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES="${1:-2000}"
SIZE="${2:-10240}"
for tool in smtp-source smtp-sink; do
    [ -x "/usr/sbin/$tool" ] || { echo "needs /usr/sbin/$tool (apt-get install postfix)"; exit 1; }
done

cargo build --release --quiet
BIN="$PWD/target/release/facteur"
WORK="$(mktemp -d)"
PID=""
SINK=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "$SINK" ] && kill "$SINK" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SINK_PORT=$(free_port)

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
[relay]
host = "127.0.0.1"
port = $SINK_PORT
tls = "none"
[antispam]
# Inbound checks off: this measures the rest of the path (see antispam.sh).
enabled = false
dnsbl = []
[log]
level = "warn"
TOML
"$BIN" alias add fwd@example.test bench@remote.test --config "$WORK/facteur.toml" >/dev/null

# smtp-sink accepts everything; -c counts, -u drops root privileges.
SINK_USER=""
[ "$(id -u)" -eq 0 ] && SINK_USER="-u nobody"
# shellcheck disable=SC2086
/usr/sbin/smtp-sink $SINK_USER -c "127.0.0.1:$SINK_PORT" 256 > "$WORK/sink.out" 2>&1 &
SINK=$!

"$BIN" run --config "$WORK/facteur.toml" > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 1 100); do grep -q ' ready' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
grep -q ' ready' "$WORK/out" || { cat "$WORK/err"; exit 1; }

start=$(date +%s.%N)
/usr/sbin/smtp-source -s 10 -m "$MESSAGES" -l "$SIZE" \
    -f sender@remote.test -t fwd@example.test "127.0.0.1:$PORT"
queued=$(date +%s.%N)
while :; do
    # set -e: a failing listing ends the run instead of looking empty.
    left=$("$BIN" queue list --config "$WORK/facteur.toml")
    [ -z "$left" ] && break
    sleep 0.2
done
end=$(date +%s.%N)
HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
kill "$PID"; wait "$PID" || true; PID=""
# The sink's counters (-c) count a session when it ends: give the
# sessions facteur left open a moment to be counted.
sleep 0.5
kill "$SINK"; wait "$SINK" 2>/dev/null || true; SINK=""
SESSIONS=$(tr '\r' '\n' < "$WORK/sink.out" | grep -o 'sess=[0-9]*' | tail -1 | cut -d= -f2)
python3 - "$start" "$queued" "$end" "$MESSAGES" "$SIZE" "$HWM" "${SESSIONS:-?}" <<'PY'
import sys
start, queued, end, n, size, hwm, sessions = sys.argv[1:]
total = float(end) - float(start)
print(f"{n} messages of {size} bytes: queued in {float(queued) - float(start):.1f} s, "
      f"all delivered after {total:.1f} s: {int(n)/total:.0f} messages/s end to end; "
      f"peak RSS {int(hwm)/1024:.1f} MiB; {sessions} SMTP sessions at the sink")
PY
