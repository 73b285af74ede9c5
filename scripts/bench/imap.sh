#!/usr/bin/env bash
# IMAP performance and memory, with Python's imaplib as the client:
#  1. a mailbox of MESSAGES messages (APPENDed): SELECT, FETCH 1:* (FLAGS
#     UID), FETCH 1:* ENVELOPE, SEARCH BODY, and the header lookups the
#     cached fields answer (FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT
#     FROM DATE)], SEARCH FROM, SEARCH SUBJECT), each timed;
#  1b. RSS before and after each bulk command on that mailbox: SELECT,
#     STORE 1:* +FLAGS (\Seen), COPY 1:* to another mailbox, MOVE 1:* from
#     there to a third, and STORE 1:* +FLAGS (\Deleted) then EXPUNGE
#     there (goal: each adds < 4 MiB);
#  2. IDLERS connections logged in and IDLE at once: facteur's RSS;
#  3. CLIENTS clients doing FETCH/STORE/SEARCH/APPEND for SECONDS seconds:
#     operations per second and facteur's peak RSS;
#  4. LOGINERS clients logging in and out for LOGIN_SECONDS seconds (each
#     login one argon2 verification): logins per second and facteur's CPU
#     use (100% = one core). The password workers follow the core count
#     (src/password.rs), so logins per second should too.
#
#   scripts/bench/imap.sh [MESSAGES] [IDLERS] [CLIENTS] [SECONDS]
#                         [LOGINERS] [LOGIN_SECONDS]
#                         (default 10000 200 20 60 50 20)
#
# FACTEUR_BIN=path uses that binary instead of building the release one.
# Results go in docs/BENCHMARKS.md (budget: under 48 MiB RSS with 200 IDLE
# clients and the mixed load).
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES="${1:-10000}"
IDLERS="${2:-200}"
CLIENTS="${3:-20}"
SECONDS_="${4:-60}"
LOGINERS="${5:-50}"
LOGIN_SECONDS="${6:-20}"

if [ -n "${FACTEUR_BIN:-}" ]; then
    BIN="$FACTEUR_BIN"
else
    cargo build --release --quiet
    BIN="$PWD/target/release/facteur"
fi
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
smtp = ""
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = "127.0.0.1:$PORT"
imaps = ""
web = ""
[tls]
allow_plaintext_auth = true
[limits]
max_connections = 1000
max_connections_per_ip = 1000
[antispam]
# Inbound checks off: this measures the rest of the path (see antispam.sh).
enabled = false
dnsbl = []
[log]
level = "warn"
TOML
echo "bench password" | "$BIN" user add bench@example.test --password-stdin --config "$WORK/facteur.toml" >/dev/null

"$BIN" run --config "$WORK/facteur.toml" > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 1 100); do grep -q ' ready' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
grep -q ' ready' "$WORK/out" || { cat "$WORK/err"; exit 1; }

python3 - "$PORT" "$PID" "$MESSAGES" "$IDLERS" "$CLIENTS" "$SECONDS_" \
    "$LOGINERS" "$LOGIN_SECONDS" <<'PY'
import imaplib, os, random, sys, threading, time
imaplib.Commands.setdefault("MOVE", ("SELECTED",))

port, pid, messages, idlers, clients, seconds, loginers, login_seconds = map(int, sys.argv[1:])
USER, PASS = "bench@example.test", "bench password"

def rss():
    with open(f"/proc/{pid}/status") as f:
        d = dict(l.split(":", 1) for l in f)
    return int(d["VmRSS"].split()[0]) / 1024, int(d["VmHWM"].split()[0]) / 1024

def login():
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(USER, PASS)
    return c

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
def message(i):
    body = " ".join(random.choice(WORDS) for _ in range(150))
    if i % 100 == 0:
        body += " needle"
    return (f"From: sender{i % 37}@example.net\r\nTo: {USER}\r\nSubject: message {i}\r\n"
            f"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{i}@bench>\r\n\r\n"
            f"{body}\r\n").encode()

# 1. A big mailbox, filled by FILLERS clients at once (one APPEND at a
# time each; the store's flushes are shared between them).
FILLERS = 8
def fill(n):
    c = login()
    for i in range(n, messages, FILLERS):
        c.append("INBOX", None, None, message(i))
    c.logout()
t = time.time()
fillers = [threading.Thread(target=fill, args=(n,)) for n in range(FILLERS)]
for th in fillers: th.start()
for th in fillers: th.join()
append_s = time.time() - t
time.sleep(1)
rss_filled = rss()[0]
c = login()
t = time.time(); typ, data = c.select("INBOX"); select_s = time.time() - t
rss_selected = rss()[0]
assert int(data[0]) == messages, data
t = time.time(); typ, data = c.fetch("1:*", "(FLAGS UID)"); fetch_s = time.time() - t
assert len(data) == messages, len(data)
t = time.time(); typ, data = c.search(None, "BODY", "needle"); search_s = time.time() - t
found = len(data[0].split())
def timed(fn):
    t = time.time(); typ, data = fn(); return (time.time() - t) * 1000, data
env_ms, _ = timed(lambda: c.fetch("1:*", "ENVELOPE"))
hdr_ms, data = timed(lambda: c.fetch("1:*", "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE)]"))
assert len([d for d in data if isinstance(d, tuple)]) == messages
from_ms, data = timed(lambda: c.search(None, "FROM", "sender7@"))
subj_ms, _ = timed(lambda: c.search(None, "SUBJECT", "message 99"))
c.logout()
print(f"{messages} messages: APPEND {append_s:.1f} s ({messages/append_s:.0f}/s, {FILLERS} clients); "
      f"SELECT {select_s*1000:.0f} ms; FETCH 1:* (FLAGS UID) {fetch_s*1000:.0f} ms; "
      f"SEARCH BODY {search_s*1000:.0f} ms ({found} found)")
print(f"FETCH 1:* ENVELOPE {env_ms:.0f} ms; FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE)] "
      f"{hdr_ms:.0f} ms; SEARCH FROM {from_ms:.0f} ms; SEARCH SUBJECT {subj_ms:.0f} ms")
print(f"  RSS after the APPENDs {rss_filled:.1f} MiB, after the first SELECT "
      f"{rss_selected:.1f} MiB ({rss_selected - rss_filled:+.1f}), after FETCH and SEARCH "
      f"{rss()[0]:.1f} MiB")

# 1b. Bulk commands: what each adds to the resident set (goal: < 4 MiB).
def step(name, fn):
    before = rss()[0]
    t = time.time()
    typ, data = fn()
    assert typ == "OK", (name, typ, data)
    after = rss()[0]
    print(f"  {name:<34} {(time.time() - t)*1000:7.0f} ms   RSS {before:6.1f} -> {after:6.1f} MiB "
          f"({after - before:+.1f})")
time.sleep(1)
c = login()
print(f"bulk commands on {messages} messages:")
step("SELECT INBOX", lambda: c.select("INBOX"))
step("STORE 1:* +FLAGS (\\Seen)", lambda: c.store("1:*", "+FLAGS", "(\\Seen)"))
c.create("Copy")
step("COPY 1:* Copy", lambda: c.copy("1:*", "Copy"))
step("SELECT Copy", lambda: c.select("Copy"))
c.create("Moved")
step("MOVE 1:* Moved", lambda: c._simple_command("MOVE", "1:*", "Moved"))
step("SELECT Moved", lambda: c.select("Moved"))
step("STORE 1:* +FLAGS.SILENT (\\Deleted)", lambda: c.store("1:*", "+FLAGS.SILENT", "(\\Deleted)"))
step("EXPUNGE", lambda: c.expunge())
c.logout()
time.sleep(1)
print(f"  after logout: RSS {rss()[0]:.1f} MiB")
# The server gives free memory back after a quiet period (app::QUIET_CHECK,
# 10 s): what is left then is in use, not free holes of the bursts.
time.sleep(25)
print(f"  25 s later (after the trim when quiet): RSS {rss()[0]:.1f} MiB")

# 2. Idle connections.
conns = []
for _ in range(idlers):
    c = login()
    c.select("INBOX")
    tag = c._new_tag().decode()
    c.send(f"{tag} IDLE\r\n".encode())
    assert c.readline().startswith(b"+"), "IDLE refused"
    conns.append(c)
time.sleep(2)
now, peak = rss()
print(f"{idlers} IDLE connections: RSS {now:.1f} MiB (peak so far {peak:.1f} MiB)")

# 3. Mixed load, with the idlers still connected.
ops = [0] * clients
stop = time.time() + seconds
def worker(n):
    c = login()
    c.select("INBOX")
    r = random.Random(n)
    while time.time() < stop:
        k = r.randrange(4)
        if k == 0:
            lo = r.randrange(1, messages)
            c.fetch(f"{lo}:{min(lo + 20, messages)}", "(FLAGS UID RFC822.SIZE BODY.PEEK[HEADER])")
        elif k == 1:
            c.store(str(r.randrange(1, messages)), "+FLAGS", "(\\Flagged)")
        elif k == 2:
            c.search(None, "FLAGGED")
        else:
            c.append("INBOX", None, None, message(r.randrange(10**6)))
        ops[n] += 1
    c.logout()
threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
for th in threads: th.start()
for th in threads: th.join()
now, peak = rss()
print(f"{clients} clients mixed FETCH/STORE/SEARCH/APPEND for {seconds} s: "
      f"{sum(ops)/seconds:.0f} operations/s; RSS {now:.1f} MiB, peak {peak:.1f} MiB "
      f"(with the {idlers} idlers connected)")

TICK = os.sysconf("SC_CLK_TCK")
def cpu():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK
logins = [0] * loginers
stop = time.time() + login_seconds
def loginer(n):
    while time.time() < stop:
        login().logout()
        logins[n] += 1
start, cpu0 = time.time(), cpu()
threads = [threading.Thread(target=loginer, args=(n,)) for n in range(loginers)]
for th in threads: th.start()
for th in threads: th.join()
elapsed = time.time() - start
print(f"{loginers} clients logging in and out for {login_seconds} s on {os.cpu_count()} cores: "
      f"{sum(logins)/elapsed:.1f} logins/s; facteur CPU {100*(cpu() - cpu0)/elapsed:.0f}%; "
      f"RSS {rss()[0]:.1f} MiB")
PY
