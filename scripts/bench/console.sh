#!/usr/bin/env bash
# Memory of the serial console: the server's RSS before, during and after
# a console session, and the console process's own resident and private
# memory, on a pty driven as a terminal would (Python's pty module).
#
#   scripts/bench/console.sh            (release build)
#   FACTEUR_BIN=target/e2e/facteur scripts/bench/console.sh
#
# Prints the figures recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${FACTEUR_BIN:-}" ]; then
    cargo build --release --quiet
    FACTEUR_BIN="$PWD/target/release/facteur"
fi
BIN="$(realpath "$FACTEUR_BIN")"
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
[dns]
nameservers = ["127.0.0.1:9"]
TOML

"$BIN" run --config "$WORK/facteur.toml" >"$WORK/out.log" 2>"$WORK/err.log" &
PID=$!
for _ in $(seq 100); do grep -q " ready" "$WORK/out.log" 2>/dev/null && break; sleep 0.1; done
printf 'a long password\n' | "$BIN" user add boss@example.test --admin --password-stdin \
    --config "$WORK/facteur.toml" >/dev/null

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
sleep 1
echo "server idle, no console:        $(rss "$PID") kB"

/usr/bin/python3 - "$BIN" "$WORK/facteur.toml" "$PID" <<'PY'
import os, pty, subprocess, sys, time, select
bin_, cfg, server = sys.argv[1], sys.argv[2], sys.argv[3]
m, s = pty.openpty()
p = subprocess.Popen([bin_, "console", "--device", os.ttyname(s), "--config", cfg],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
def drain(t):
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([m], [], [], 0.1)
        if r:
            os.read(m, 65536)
def kb(pid, field, f="status"):
    for line in open(f"/proc/{pid}/{f}"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0
drain(1)
# Log in, then status, users list, log lines, queue list.
for line in ["1", "boss@example.test", "a long password", "1", "2", "1", "0", "8", "6", "1", "0"]:
    os.write(m, line.encode() + b"\r")
    drain(0.5)
priv = kb(p.pid, "Private_Clean", "smaps_rollup") + kb(p.pid, "Private_Dirty", "smaps_rollup")
print(f"server during a session:        {kb(server, 'VmRSS')} kB")
print(f"console process: RSS {kb(p.pid, 'VmRSS')} kB, private {priv} kB, peak {kb(p.pid, 'VmHWM')} kB")
os.close(m)
p.wait(timeout=10)
print(f"console after a hang-up:        exited with {p.returncode}")
PY
sleep 1
echo "server after the session:       $(rss "$PID") kB"
