#!/usr/bin/env bash
# Check a facteur .deb: its contents, then install it with dpkg, run the
# packaged binary with the packaged config, remove and purge it.
#
# Usage: packaging/deb/install-test.sh DEB
#
# Installing a package changes the machine (a system user, /etc, /var/lib),
# so this runs only with CI=true as root, and otherwise says so and skips.
# It refuses to run where facteur is installed or /var/lib/facteur holds
# anything it did not leave itself, and undoes what it did on exit.
set -euo pipefail

cd "$(dirname "$0")/../.."
. scripts/smoke-lib.sh

log() { printf '==> %s\n' "$*"; }
fail() { printf 'install-test: FAIL: %s\n' "$*" >&2; exit 1; }

DEB=${1:?usage: packaging/deb/install-test.sh DEB}
[ -f "$DEB" ] || fail "no such package: $DEB"
DATA=/var/lib/facteur
MARK=$DATA/.left-by-install-test

# --- 1. contents (no root needed) --------------------------------------------
log "contents of $DEB"
listing=$(dpkg-deb -c "$DEB")
printf '%s\n' "$listing"
expect_entry() { # MODE OWNER PATH
    printf '%s\n' "$listing" | awk -v m="$1" -v o="$2" -v p="$3" \
        '$1 == m && $2 == o && $NF == p { found = 1 } END { exit !found }' \
        || fail "$DEB: expected $3 with mode $1, owner $2"
}
expect_entry -rwxr-xr-x root/root ./usr/bin/facteur
expect_entry -rw-r--r-- root/root ./etc/facteur/facteur.toml
expect_entry -rw-r--r-- root/root ./usr/lib/systemd/system/facteur.service
expect_entry -rw-r--r-- root/root ./usr/lib/systemd/system/facteur-console@.service
expect_entry -rw-r--r-- root/root ./usr/share/doc/facteur/copyright
if printf '%s\n' "$listing" | grep -q ' \./var/'; then
    fail "$DEB ships files under /var: /var/lib/facteur belongs to postinst, so that purge keeps it"
fi
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)
[ "$conffiles" = /etc/facteur/facteur.toml ] || fail "conffiles is '$conffiles'"
arch=$(dpkg-deb -f "$DEB" Architecture)
depends=$(dpkg-deb -f "$DEB" Depends)
log "Architecture: $arch; Depends: $depends"
case $depends in libc6\ \(\>=\ 2.*\)*) ;; *) fail "Depends should start with libc6 (>= 2.x): $depends" ;; esac
unit=$(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/lib/systemd/system/facteur.service)
for line in 'ExecStart=/usr/bin/facteur run --config /etc/facteur/facteur.toml' \
    User=facteur Group=facteur NoNewPrivileges=yes ProtectSystem=strict \
    StateDirectory=facteur StateDirectoryMode=0700 UMask=0077 ReadWritePaths=/etc/facteur \
    StandardError=journal WantedBy=multi-user.target; do
    printf '%s\n' "$unit" | grep -qx "$line" || fail "facteur.service lacks '$line'"
done
log "contents ok"

# --- 2. install, run, remove, purge (CI as root only) ------------------------
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    log "contents checked; no install test: $DEB is for $arch, this machine is $(dpkg --print-architecture)"
    exit 0
fi
if [ "${CI:-false}" != true ] || [ "$(id -u)" -ne 0 ]; then
    log "SKIP install test: it installs a package and adds a system user; it runs only with CI=true as root"
    exit 0
fi
if dpkg-query -W -f='${Status}' facteur 2>/dev/null | grep -q 'installed\|config-files'; then
    fail "a facteur package is already on this machine; the test would change it"
fi
if [ -e "$DATA" ] && [ ! -e "$MARK" ]; then
    fail "$DATA exists and was not made by this test; it may hold mail"
fi
rm -rf "$DATA"
had_user=""
getent passwd facteur >/dev/null && had_user=yes

tmp=$(mktemp -d "${TMPDIR:-/tmp}/facteur-deb.XXXXXX")
cleanup() {
    smoke_cleanup
    dpkg --purge facteur >/dev/null 2>&1 || true
    rm -rf "$DATA" "$tmp"
    if [ -z "$had_user" ]; then
        userdel facteur 2>/dev/null || true
        groupdel facteur 2>/dev/null || true
    fi
}
trap cleanup EXIT

log "dpkg -i $DEB"
dpkg -i "$DEB"
touch "$MARK"

getent passwd facteur >/dev/null || fail "no facteur user after install"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd facteur)
[ "$uid" -lt 1000 ] || fail "facteur is not a system user (uid $uid)"
[ "$home" = "$DATA" ] && [ "$shell" = /usr/sbin/nologin ] || fail "facteur user: home $home, shell $shell"
[ "$(stat -c '%a %U %G' "$DATA")" = "700 facteur facteur" ] \
    || fail "$DATA is $(stat -c '%a %U %G' "$DATA"), expected 700 facteur facteur"
[ "$(stat -c '%a %U %G' /etc/facteur/facteur.toml)" = "640 root facteur" ] \
    || fail "/etc/facteur/facteur.toml is $(stat -c '%a %U %G' /etc/facteur/facteur.toml), expected 640 root facteur"
[ -f /usr/lib/systemd/system/facteur.service ] || fail "the unit file is not installed"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify /usr/lib/systemd/system/facteur.service || fail "systemd-analyze verify facteur.service"
    log "systemd-analyze verify facteur.service: ok"
fi
if [ -d /run/systemd/system ]; then
    systemctl is-enabled --quiet facteur || fail "facteur.service is not enabled"
    log "systemd runs here: facteur.service is $(systemctl is-active facteur || true)"
else
    [ -L /etc/systemd/system/multi-user.target.wants/facteur.service ] \
        || fail "facteur.service is not enabled (no multi-user.target.wants link)"
    log "no systemd running: the unit is enabled and was not started"
fi

log "facteur check-config as the facteur user"
out=$(setpriv --reuid facteur --regid facteur --init-groups /usr/bin/facteur check-config --config /etc/facteur/facteur.toml) \
    || fail "check-config failed: $out"
[ "$out" = "/etc/facteur/facteur.toml: ok (0 domain(s), data in $DATA)" ] || fail "check-config said: $out"
log "$out"

# The server writes its own config (web setup, config set): as the unit's
# user, a change lands in the file and the previous one is kept as .bak.
[ "$(stat -c '%a %U %G' /etc/facteur)" = "770 root facteur" ] \
    || fail "/etc/facteur is $(stat -c '%a %U %G' /etc/facteur), expected 770 root facteur"
as_facteur() { setpriv --reuid facteur --regid facteur --init-groups /usr/bin/facteur "$@"; }
as_facteur config set --config /etc/facteur/facteur.toml log.level debug \
    || fail "the facteur user cannot change /etc/facteur/facteur.toml"
[ "$(as_facteur config get --config /etc/facteur/facteur.toml log.level)" = 'log.level = "debug"' ] \
    || fail "config set did not change log.level"
[ -f /etc/facteur/facteur.toml.bak ] || fail "config set kept no facteur.toml.bak"
as_facteur config set --config /etc/facteur/facteur.toml log.level info >/dev/null
log "config set as facteur: written, .bak kept"

# The packaged config with only SMTP on a loopback port: the unit's command
# line, as its user, on the packaged data directory.
port=$(smoke_free_port)
smoke_loopback_config /etc/facteur/facteur.toml "$port" >"$tmp/facteur.toml"
chmod 0644 "$tmp/facteur.toml"
chmod 0755 "$tmp"
log "starting /usr/bin/facteur run as facteur (SMTP on 127.0.0.1:$port)"
smoke_start "$tmp/server.log" setpriv --reuid facteur --regid facteur --init-groups /usr/bin/facteur run --config "$tmp/facteur.toml"
smoke_greet "$port" 30
smoke_stop 10
[ -d "$DATA/index" ] || fail "the server left no index in $DATA"
[ "$(stat -c %U "$DATA/index")" = facteur ] || fail "$DATA/index is not owned by facteur"

log "dpkg -r facteur"
dpkg -r facteur
[ ! -e /usr/bin/facteur ] || fail "/usr/bin/facteur is still there after remove"
[ -d "$DATA/index" ] || fail "remove deleted the mail in $DATA"
[ -f /etc/facteur/facteur.toml ] || fail "remove deleted the config (only purge should)"

log "dpkg -P facteur"
dpkg -P facteur
[ ! -e /etc/facteur/facteur.toml ] || fail "purge kept /etc/facteur/facteur.toml"
[ ! -e /etc/facteur ] || fail "purge left /etc/facteur: $(ls -A /etc/facteur)"
[ -d "$DATA/index" ] || fail "purge deleted the mail in $DATA"
[ ! -e /etc/systemd/system/multi-user.target.wants/facteur.service ] || fail "purge left the enable link"
log "install test passed: installed, ran, removed and purged; $DATA kept"
