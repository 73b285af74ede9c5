# Shared by the smoke tests (scripts/arm-smoke.sh, packaging/deb/install-test.sh):
# start a facteur server, wait for its SMTP greeting, stop it with SIGTERM.
# Source it; it defines functions only. Callers set `fail` (print, exit 1)
# and `log` before calling, and call smoke_cleanup from their EXIT trap.
#
#   smoke_free_port                 prints a free loopback TCP port
#   smoke_loopback_config SRC PORT  prints SRC with every [listen] entry off
#                                   except smtp on 127.0.0.1:PORT
#   smoke_start LOG CMD...          starts CMD in the background (stdin closed)
#   smoke_greet PORT TIMEOUT        waits for a "220 " greeting on PORT
#   smoke_stop TIMEOUT              SIGTERM, then SIGKILL after TIMEOUT seconds;
#                                   fails unless the server exits with status 0
#
# Needs python3 (port choice and the greeting).

smoke_pid=""
smoke_log=""

smoke_cleanup() {
    if [ -n "$smoke_pid" ] && kill -0 "$smoke_pid" 2>/dev/null; then
        kill -KILL "$smoke_pid" 2>/dev/null || true
        wait "$smoke_pid" 2>/dev/null || true
    fi
    smoke_pid=""
}

smoke_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

smoke_loopback_config() {
    awk -v port="$2" '
        /^\[/ { in_listen = ($0 == "[listen]") }
        in_listen && /^[a-z0-9_]+ *=/ {
            key = $1
            sub(/ *=.*/, "", key)
            if (key == "smtp") print "smtp = \"127.0.0.1:" port "\""
            else print key " = \"\""
            next
        }
        { print }
    ' "$1"
}

smoke_start() {
    smoke_log=$1
    shift
    "$@" </dev/null >"$smoke_log" 2>&1 &
    smoke_pid=$!
}

smoke_show_log() {
    echo "---- server output ----" >&2
    tail -n 40 "$smoke_log" >&2 || true
    echo "-----------------------" >&2
}

# Connect, read the first line; prints it, or nothing if there is none yet.
# Exit codes: 0 got a line, 2 connection refused, 3 connected but no line.
smoke_read_greeting() {
    python3 - "$1" <<'PY'
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

smoke_greet() {
    local port=$1 deadline rc greeting
    deadline=$(( $(date +%s) + $2 ))
    while :; do
        if ! kill -0 "$smoke_pid" 2>/dev/null; then
            rc=0; wait "$smoke_pid" || rc=$?; smoke_pid=""
            smoke_show_log
            fail "'facteur run' exited (status $rc) before its SMTP port accepted connections"
        fi
        rc=0; greeting=$(smoke_read_greeting "$port") || rc=$?
        case $rc in
            0) break ;;
            2) ;; # not listening yet
            3) smoke_show_log; fail "SMTP port accepted a connection but sent no greeting line" ;;
            *) smoke_show_log; fail "greeting check failed (status $rc)" ;;
        esac
        if [ "$(date +%s)" -ge "$deadline" ]; then
            smoke_show_log
            fail "SMTP port 127.0.0.1:$port did not accept connections within $2s"
        fi
        sleep 1
    done
    case $greeting in
        "220 "*) log "greeting ok: $greeting" ;;
        *) smoke_show_log; fail "greeting is '$greeting', expected it to start with '220 '" ;;
    esac
}

smoke_stop() {
    local stopped="" rc
    log "stopping the server (SIGTERM, SIGKILL after $1s)"
    kill -TERM "$smoke_pid"
    for _ in $(seq $(( $1 * 10 ))); do
        if ! kill -0 "$smoke_pid" 2>/dev/null; then stopped=yes; break; fi
        sleep 0.1
    done
    if [ -z "$stopped" ]; then
        kill -KILL "$smoke_pid" 2>/dev/null || true
        wait "$smoke_pid" 2>/dev/null || true
        smoke_pid=""
        smoke_show_log
        fail "server did not exit within $1s of SIGTERM"
    fi
    rc=0; wait "$smoke_pid" || rc=$?; smoke_pid=""
    case $rc in
        0) ;;
        143) log "warning: the server died of SIGTERM instead of shutting down cleanly (status 143)" ;;
        *) smoke_show_log; fail "server exited with status $rc after SIGTERM (expected 0)" ;;
    esac
}
