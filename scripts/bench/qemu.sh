#!/usr/bin/env bash
# Memory of the aarch64 release binary under qemu-aarch64 (user mode):
# idle, then with 50 IMAP sessions (logged in, INBOX selected) and 20 SMTP
# sessions (after EHLO) open at once.
#
#   scripts/bench/qemu.sh [TARGET [BINARY]]
#     TARGET: aarch64-unknown-linux-gnu (default) or aarch64-unknown-linux-musl
#     BINARY: default $CARGO_TARGET_DIR (or target)/TARGET/release/facteur
#             (build it first with scripts/cross-build.sh TARGET)
#
# What is measured. qemu-user runs the guest inside its own process, so
# VmRSS of that process is qemu and facteur together. The script separates
# them in two ways, and prints both:
#   1. the process's mappings (/proc/PID/smaps), summed by owner: qemu's
#      own binary and host libraries, qemu's malloc heap ([heap]), the
#      translated-code cache (the one anonymous rwx mapping), and the rest,
#      which is the guest: facteur's binary, its aarch64 libraries, its
#      heap, its thread stacks. "guest" is the figure to hold against a
#      board's memory;
#   2. a baseline: the RSS of qemu running a trivial static aarch64 program
#      that only waits, i.e. qemu's fixed cost. "total - baseline" is an
#      upper bound of the guest, since qemu's code cache and heap grow with
#      the guest code it has translated.
# Page size is 4 KiB (qemu's default), as on the Pi 3, 4 and Zero 2 W.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/smoke-lib.sh

log() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'qemu bench: FAIL: %s\n' "$*" >&2; exit 1; }

TARGET=${1:-aarch64-unknown-linux-gnu}
target_dir=${CARGO_TARGET_DIR:-target}
BIN=${2:-$target_dir/$TARGET/release/facteur}
IMAP_SESSIONS=50
SMTP_SESSIONS=20
SYSROOT=/usr/aarch64-linux-gnu

[ -x "$BIN" ] || fail "binary not found: $BIN (run scripts/cross-build.sh $TARGET first)"
command -v qemu-aarch64 >/dev/null 2>&1 || fail "qemu-aarch64 not found (apt-get install -y qemu-user)"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || fail "aarch64-linux-gnu-gcc not found (apt-get install -y gcc-aarch64-linux-gnu)"
QEMU=(qemu-aarch64)
[ "$TARGET" = aarch64-unknown-linux-musl ] || QEMU+=(-L "$SYSROOT")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/facteur-qemu.XXXXXX")
BASE_PID=""
cleanup() {
    smoke_cleanup
    if [ -n "$BASE_PID" ]; then kill "$BASE_PID" 2>/dev/null || true; wait "$BASE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Sums a process's smaps Rss by owner; prints "total qemu heap tcg guest"
# in KiB.
breakdown() {
    awk '
        /^[0-9a-f]+-[0-9a-f]+ / {
            perms = $2; path = (NF >= 6) ? $6 : ""
            if (path ~ /qemu-aarch64/ || path ~ /x86_64-linux-gnu/ || path ~ /^\[(stack|vdso|vvar|vsyscall)\]$/) owner = "qemu"
            else if (path == "[heap]") owner = "heap"
            else if (path == "" && perms ~ /^rwx/) owner = "tcg"
            else owner = "guest"
            next
        }
        /^Rss:/ { kb[owner] += $2; total += $2 }
        END { printf "%d %d %d %d %d\n", total, kb["qemu"], kb["heap"], kb["tcg"], kb["guest"] }
    ' "/proc/$1/smaps"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
show() { # LABEL "total qemu heap tcg guest"
    local total qemu heap tcg guest
    read -r total qemu heap tcg guest <<<"$2"
    printf '%-34s total %s = qemu %s + qemu heap %s + code cache %s + guest %s\n' \
        "$1" "$(mib "$total")" "$(mib "$qemu")" "$(mib "$heap")" "$(mib "$tcg")" "$(mib "$guest")"
}

# --- qemu's own cost: a static program that only waits --------------------
cat >"$WORK/wait.c" <<'C'
#include <unistd.h>
int main(void) { pause(); return 0; }
C
aarch64-linux-gnu-gcc -static -O2 -o "$WORK/wait" "$WORK/wait.c"
qemu-aarch64 "$WORK/wait" &
BASE_PID=$!
sleep 2
BASELINE=$(breakdown "$BASE_PID")
kill "$BASE_PID"; wait "$BASE_PID" 2>/dev/null || true; BASE_PID=""

# --- facteur -------------------------------------------------------------
SMTP_PORT=$(smoke_free_port)
IMAP_PORT=$(smoke_free_port)
cat >"$WORK/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$WORK/data"
domains = ["example.test"]
[listen]
smtp = "127.0.0.1:$SMTP_PORT"
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = "127.0.0.1:$IMAP_PORT"
imaps = ""
web = ""
[tls]
allow_plaintext_auth = true
[limits]
max_connections = 1000
max_connections_per_ip = 1000
[dns]
# Nothing answers there: lookups fail at once.
nameservers = ["127.0.0.1:9"]
[antispam]
# The inbound checks as shipped, without the public DNS lists.
dnsbl = []
[log]
level = "warn"
TOML
PASSWORD="bench password 1"
log "adding the account (argon2 under qemu takes a few seconds)"
printf '%s\n' "$PASSWORD" | "${QEMU[@]}" "$BIN" --config "$WORK/facteur.toml" \
    user add bench@example.test --password-stdin >/dev/null

log "starting facteur under qemu"
smoke_start "$WORK/server.log" "${QEMU[@]}" "$BIN" run --config "$WORK/facteur.toml"
smoke_greet "$SMTP_PORT" 120 >&2
PID=$smoke_pid
# The greeting check's session is gone; let the start settle.
sleep 5
IDLE=$(breakdown "$PID")

log "opening $IMAP_SESSIONS IMAP and $SMTP_SESSIONS SMTP sessions"
cat >"$WORK/clients.py" <<'PY'
import socket, sys, time
imap_port, smtp_port, n_imap, n_smtp = map(int, sys.argv[1:5])
password = sys.argv[5]

def lines(s):
    buf = b""
    while True:
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("connection closed")
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        yield line.decode("utf-8", "replace")

def until(gen, start):
    for line in gen:
        if line.startswith(start):
            return line

socks = []
for i in range(n_imap):
    s = socket.create_connection(("127.0.0.1", imap_port), timeout=300)
    g = lines(s)
    next(g)
    s.sendall(f'a LOGIN bench@example.test "{password}"\r\n'.encode())
    ok = until(g, "a ")
    assert ok.startswith("a OK"), ok
    s.sendall(b"b SELECT INBOX\r\n")
    ok = until(g, "b ")
    assert ok.startswith("b OK"), ok
    socks.append(s)
for i in range(n_smtp):
    s = socket.create_connection(("127.0.0.1", smtp_port), timeout=300)
    g = lines(s)
    until(g, "220 ")
    s.sendall(b"EHLO client.example.test\r\n")
    until(g, "250 ")
    socks.append(s)
time.sleep(5)
print(len(socks), flush=True)
# The sessions stay open until the measurement is taken (stdin closes).
sys.stdin.read()
PY
mkfifo "$WORK/hold"
python3 "$WORK/clients.py" "$IMAP_PORT" "$SMTP_PORT" "$IMAP_SESSIONS" "$SMTP_SESSIONS" "$PASSWORD" \
    <"$WORK/hold" >"$WORK/open" &
CLIENTS=$!
exec 3>"$WORK/hold"
while [ ! -s "$WORK/open" ]; do
    kill -0 "$CLIENTS" 2>/dev/null || fail "the clients failed (see above)"
    kill -0 "$PID" 2>/dev/null || { smoke_show_log; fail "facteur exited"; }
    sleep 1
done
LOADED=$(breakdown "$PID")
exec 3>&-
wait "$CLIENTS" || true
sleep 1
smoke_stop 20 >&2

echo "facteur $("${QEMU[@]}" "$BIN" --version | cut -d' ' -f2), $TARGET under $(qemu-aarch64 --version | head -n 1), $(stat -c %s "$BIN") bytes"
show "qemu running a program that waits:" "$BASELINE"
show "facteur idle:" "$IDLE"
show "facteur, $(cat "$WORK/open") sessions open:" "$LOADED"
read -r base_total _ <<<"$BASELINE"
for figures in "idle $IDLE" "loaded $LOADED"; do
    read -r what total _ _ _ guest <<<"$figures"
    printf '%-7s guest %s; total - baseline %s\n' "$what:" "$(mib "$guest")" "$(mib $((total - base_total)))"
done
