#!/usr/bin/env bash
# A day of use in a few minutes, and facteur's memory through it:
#  1. USERS `user add` through the running server;
#  2. LOGINS logins spread over IMAP, POP3, submission (SMTP AUTH) and
#     IMAPS (TLS);
#  3. DELIVERIES messages of 20 KB over SMTP (8 senders at once);
#  4. CLIENTS IMAP clients doing FETCH/STORE/SEARCH/APPEND/EXPUNGE for
#     SECONDS seconds;
# with IDLERS IMAP connections held in IDLE from before phase 2 to the end.
# RSS is sampled every 0.2 s: it prints RSS at the end of each phase, the
# peak of each phase, the process's peak (VmHWM), and RSS 60 s after the
# load ended (the idle connections closed).
#
#   scripts/bench/day.sh [USERS] [LOGINS] [DELIVERIES] [CLIENTS] [SECONDS] [IDLERS]
#                        (default 50 1000 20000 30 300 200)
#
# FACTEUR_BIN=path uses that binary instead of building the release one.
# Budget (docs/BENCHMARKS.md): peak <= 32 MiB, <= 12 MiB 60 s after.
set -euo pipefail
cd "$(dirname "$0")/../.."
USERS="${1:-50}"
LOGINS="${2:-1000}"
DELIVERIES="${3:-20000}"
CLIENTS="${4:-30}"
SECONDS_="${5:-300}"
IDLERS="${6:-200}"

if [ -n "${FACTEUR_BIN:-}" ]; then
    BIN="$FACTEUR_BIN"
else
    cargo build --release --quiet
    BIN="$PWD/target/release/facteur"
fi
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

cat > "$WORK/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$WORK/data"
domains = ["example.test"]
[listen]
smtp = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = ""
pop3 = "127.0.0.1:0"
pop3s = ""
imap = "127.0.0.1:0"
imaps = "127.0.0.1:0"
web = ""
[tls]
allow_plaintext_auth = true
[limits]
max_connections = 1000
max_connections_per_ip = 1000
[dns]
nameservers = ["127.0.0.1:9"]
[antispam]
# Inbound checks off: this measures the rest of the path (see antispam.sh).
enabled = false
dnsbl = []
[log]
level = "warn"
TOML

"$BIN" run --config "$WORK/facteur.toml" > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 1 100); do grep -q ' ready' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
grep -q ' ready' "$WORK/out" || { cat "$WORK/err"; exit 1; }

python3 - "$BIN" "$WORK/facteur.toml" "$WORK/out" "$PID" \
    "$USERS" "$LOGINS" "$DELIVERIES" "$CLIENTS" "$SECONDS_" "$IDLERS" <<'PY'
import imaplib, poplib, random, smtplib, ssl, subprocess, sys, threading, time

binary, config, out = sys.argv[1:4]
pid, users, logins, deliveries, clients, seconds, idlers = map(int, sys.argv[4:])
ports = {}
for line in open(out):
    if " listening on " in line:
        name, addr = line.split(" listening on ")
        ports[name.strip()] = int(addr.strip().rsplit(":", 1)[1])
PASS = "a day of use password"

def rss():
    with open(f"/proc/{pid}/status") as f:
        d = dict(l.split(":", 1) for l in f)
    return int(d["VmRSS"].split()[0]) / 1024, int(d["VmHWM"].split()[0]) / 1024

peak_of_phase = [0.0]
sampling = True
def sampler():
    while sampling:
        peak_of_phase[0] = max(peak_of_phase[0], rss()[0])
        time.sleep(0.2)
threading.Thread(target=sampler, daemon=True).start()

def phase(name, t0):
    now, hwm = rss()
    print(f"{name:<34} {time.time() - t0:7.1f} s   RSS {now:6.1f} MiB   "
          f"phase peak {max(peak_of_phase[0], now):6.1f} MiB   VmHWM {hwm:6.1f} MiB", flush=True)
    peak_of_phase[0] = 0.0

def user(i):
    return f"user{i}@example.test"

print(f"start: RSS {rss()[0]:.1f} MiB", flush=True)

# 1. Users, through the running server.
t = time.time()
for i in range(users):
    subprocess.run([binary, "user", "add", user(i), "--password-stdin", "--config", config],
                   input=PASS.encode(), check=True, capture_output=True)
phase(f"1. {users} user add", t)

# IDLE connections, held until the end.
idle = []
for i in range(idlers):
    c = imaplib.IMAP4("127.0.0.1", ports["imap"])
    c.login(user(i % users), PASS)
    c.select("INBOX")
    tag = c._new_tag().decode()
    c.send(f"{tag} IDLE\r\n".encode())
    assert c.readline().startswith(b"+"), "IDLE refused"
    idle.append(c)
print(f"   {idlers} IDLE connections held: RSS {rss()[0]:.1f} MiB", flush=True)

# 2. Logins over the four protocols, 8 at a time.
def login(n):
    u = user(n % users)
    kind = n % 4
    if kind == 0:
        c = imaplib.IMAP4("127.0.0.1", ports["imap"]); c.login(u, PASS); c.logout()
    elif kind == 1:
        c = poplib.POP3("127.0.0.1", ports["pop3"]); c.user(u); c.pass_(PASS); c.quit()
    elif kind == 2:
        c = smtplib.SMTP("127.0.0.1", ports["submission"]); c.login(u, PASS); c.quit()
    else:
        ctx = ssl.create_default_context(); ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=ctx)
        c.login(u, PASS); c.logout()

def run_parallel(fn, count, width):
    nxt = [0]; lock = threading.Lock(); errors = []
    def worker():
        while True:
            with lock:
                n = nxt[0]; nxt[0] += 1
            if n >= count:
                return
            try:
                fn(n)
            except Exception as e:
                errors.append(repr(e))
    ths = [threading.Thread(target=worker) for _ in range(width)]
    for th in ths: th.start()
    for th in ths: th.join()
    if errors:
        print(f"   {len(errors)} errors, first: {errors[0]}", flush=True)

t = time.time()
run_parallel(login, logins, 8)
phase(f"2. {logins} logins", t)

# 3. Deliveries of 20 KB.
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
def message(i, to):
    r = random.Random(i)
    body = "\r\n".join(" ".join(r.choice(WORDS) for _ in range(12)) for _ in range(270))
    return (f"From: sender{i % 37}@example.net\r\nTo: {to}\r\nSubject: message {i}\r\n"
            f"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{i}@day>\r\n\r\n{body}\r\n")
senders = threading.local()
def deliver(n):
    s = getattr(senders, "s", None)
    if s is None or n % 50 == 0:
        if s is not None:
            s.quit()
        s = senders.s = smtplib.SMTP("127.0.0.1", ports["smtp"])
    to = user(n % users)
    s.sendmail(f"sender{n % 37}@example.net", [to], message(n, to))
t = time.time()
run_parallel(deliver, deliveries, 8)
phase(f"3. {deliveries} deliveries", t)

# 4. IMAP clients at work.
stop = time.time() + seconds
ops = [0] * clients
def work(n):
    c = imaplib.IMAP4("127.0.0.1", ports["imap"])
    c.login(user(n % users), PASS)
    typ, data = c.select("INBOX")
    count = int(data[0])
    r = random.Random(n)
    while time.time() < stop:
        k = r.randrange(6)
        lo = r.randrange(1, max(count, 2))
        hi = min(lo + 20, count)
        if k == 0 and count:
            c.fetch(f"{lo}:{hi}", "(FLAGS UID RFC822.SIZE BODY.PEEK[HEADER])")
        elif k == 1 and count:
            c.fetch(str(lo), "(BODY.PEEK[])")
        elif k == 2 and count:
            c.store(f"{lo}:{hi}", "+FLAGS", "(\\Seen)")
        elif k == 3:
            c.search(None, "UNSEEN")
        elif k == 4:
            c.append("INBOX", None, None, message(r.randrange(10**6), user(n % users)).encode())
        elif count:
            c.store(str(lo), "+FLAGS", "(\\Deleted)")
            c.expunge()
        typ, data = c.noop()
        count = int(c.select("INBOX")[1][0]) if k in (4, 5) else count
        ops[n] += 1
    c.logout()
t = time.time()
ths = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
for th in ths: th.start()
for th in ths: th.join()
phase(f"4. {clients} IMAP clients, {seconds} s", t)
print(f"   {sum(ops) / seconds:.0f} operations/s", flush=True)

for c in idle:
    try:
        c.send(b"DONE\r\n"); c.logout()
    except Exception:
        pass
t = time.time()
time.sleep(60)
sampling = False
now, hwm = rss()
print(f"peak (VmHWM) {hwm:.1f} MiB; 60 s after the load: RSS {now:.1f} MiB", flush=True)
PY
