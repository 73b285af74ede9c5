#!/usr/bin/env bash
# Smoke-test the aarch64 release binary under qemu-user:
#   1. `facteur --version` prints "facteur <version> (git <rev>, <target>)";
#   2. `facteur run --config FILE` starts, and its SMTP listener greets with "220 ".
#
# Usage: scripts/arm-smoke.sh [BINARY]
#   default BINARY: $CARGO_TARGET_DIR (or target)/aarch64-unknown-linux-gnu/release/facteur
#   (build it first with scripts/cross-build.sh aarch64-unknown-linux-gnu)
#
# Environment: SMOKE_START_TIMEOUT (seconds to wait for the greeting, default 60),
#              SMOKE_STOP_TIMEOUT (seconds between SIGTERM and SIGKILL, default 10).
set -euo pipefail

cd "$(dirname "$0")/.."

START_TIMEOUT=${SMOKE_START_TIMEOUT:-60}
STOP_TIMEOUT=${SMOKE_STOP_TIMEOUT:-10}
SYSROOT=/usr/aarch64-linux-gnu

log() { printf '==> %s\n' "$*"; }
fail() { printf 'arm-smoke: FAIL: %s\n' "$*" >&2; exit 1; }

target_dir=${CARGO_TARGET_DIR:-target}
BIN=${1:-$target_dir/aarch64-unknown-linux-gnu/release/facteur}

[ -x "$BIN" ] || fail "binary not found: $BIN (run scripts/cross-build.sh aarch64-unknown-linux-gnu first)"
command -v qemu-aarch64 >/dev/null 2>&1 || fail "qemu-aarch64 not found (apt-get install -y qemu-user)"
[ -d "$SYSROOT" ] || fail "$SYSROOT missing (apt-get install -y gcc-aarch64-linux-gnu)"
command -v python3 >/dev/null 2>&1 || fail "python3 is needed to pick a port and read the greeting"

QEMU=(qemu-aarch64 -L "$SYSROOT")

# --- 1. version ------------------------------------------------------------
version=$(awk -F'"' '/^\[/ { pkg = ($0 == "[package]") } pkg && /^version *=/ { print $2; exit }' Cargo.toml)
[ -n "$version" ] || fail "could not read the package version from Cargo.toml"
log "checking '$BIN --version' under qemu"
out=$(timeout 60 "${QEMU[@]}" "$BIN" --version 2>&1) || fail "--version exited with an error: $out"
case "$out" in
    "facteur $version (git "*", aarch64-unknown-linux-gnu)") ;;
    *) fail "--version printed '$out', expected 'facteur $version (git REV, aarch64-unknown-linux-gnu)'" ;;
esac
log "version ok: $out"

# --- 2. start and greet -----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/facteur-smoke.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/data"
cat >"$tmp/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$tmp/data"
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
TOML

log "starting 'facteur run' under qemu (SMTP on 127.0.0.1:$port, data in $tmp/data)"
"${QEMU[@]}" "$BIN" run --config "$tmp/facteur.toml" </dev/null >"$tmp/server.log" 2>&1 &
pid=$!

show_log() {
    echo "---- server output ----" >&2
    tail -n 40 "$tmp/server.log" >&2 || true
    echo "-----------------------" >&2
}

# Connect, read the first line; prints it, or nothing if there is none yet.
# Exit codes: 0 got a line, 2 connection refused, 3 connected but no line.
read_greeting() {
    python3 - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
except OSError:
    sys.exit(2)
s.settimeout(10)
buf = b""
try:
    while b"\n" not in buf and len(buf) < 1024:
        chunk = s.recv(1024)
        if not chunk:
            break
        buf += chunk
except OSError:
    pass
try:
    s.sendall(b"QUIT\r\n")
except OSError:
    pass
s.close()
line = buf.split(b"\n", 1)[0].rstrip(b"\r")
if not line:
    sys.exit(3)
print(line.decode("utf-8", "replace"))
PY
}

deadline=$(( $(date +%s) + START_TIMEOUT ))
greeting=""
while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
        rc=0; wait "$pid" || rc=$?; pid=""
        show_log
        fail "'facteur run' exited (status $rc) before its SMTP port accepted connections"
    fi
    rc=0; greeting=$(read_greeting) || rc=$?
    case $rc in
        0) break ;;
        2) ;; # not listening yet
        3) show_log; fail "SMTP port accepted a connection but sent no greeting line" ;;
        *) show_log; fail "greeting check failed (status $rc)" ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        show_log
        fail "SMTP port 127.0.0.1:$port did not accept connections within ${START_TIMEOUT}s"
    fi
    sleep 1
done

case $greeting in
    "220 "*) log "greeting ok: $greeting" ;;
    *) show_log; fail "greeting is '$greeting', expected it to start with '220 '" ;;
esac

log "stopping the server (SIGTERM, SIGKILL after ${STOP_TIMEOUT}s)"
kill -TERM "$pid"
stopped=""
for _ in $(seq $(( STOP_TIMEOUT * 10 ))); do
    if ! kill -0 "$pid" 2>/dev/null; then stopped=yes; break; fi
    sleep 0.1
done
if [ -z "$stopped" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    show_log
    fail "server did not exit within ${STOP_TIMEOUT}s of SIGTERM"
fi
rc=0; wait "$pid" || rc=$?; pid=""
case $rc in
    0) ;;
    143) log "warning: the server died of SIGTERM instead of shutting down cleanly (status 143)" ;;
    *) show_log; fail "server exited with status $rc after SIGTERM (expected 0)" ;;
esac
log "arm smoke test passed"
