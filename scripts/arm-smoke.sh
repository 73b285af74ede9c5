#!/usr/bin/env bash
# Smoke-test an aarch64 release binary under qemu-user, with 4 KiB pages and
# again with 16 KiB pages (the page size of the Raspberry Pi 5's kernel;
# allocators built for 4 KiB pages, such as jemalloc's default, abort there):
#   1. `facteur --version` prints "facteur <version> (git <rev>, <target>)";
#   2. `facteur run --config FILE` starts, its SMTP listener greets with
#      "220 ", and it exits with status 0 on SIGTERM.
# `qemu-aarch64 -p 16384` makes the guest see 16 KiB pages (AT_PAGESZ and
# sysconf(_SC_PAGESIZE) report 16384; checked with qemu 7.2).
#
# Usage: scripts/arm-smoke.sh [TARGET [BINARY]]
#   TARGET: aarch64-unknown-linux-gnu (default) or aarch64-unknown-linux-musl
#   BINARY: default $CARGO_TARGET_DIR (or target)/TARGET/release/facteur
#   (build it first with scripts/cross-build.sh TARGET)
#
# Environment: SMOKE_START_TIMEOUT (seconds to wait for the greeting, default 60),
#              SMOKE_STOP_TIMEOUT (seconds between SIGTERM and SIGKILL, default 10).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/smoke-lib.sh

START_TIMEOUT=${SMOKE_START_TIMEOUT:-60}
STOP_TIMEOUT=${SMOKE_STOP_TIMEOUT:-10}
SYSROOT=/usr/aarch64-linux-gnu

log() { printf '==> %s\n' "$*"; }
fail() { printf 'arm-smoke: FAIL: %s\n' "$*" >&2; exit 1; }

TARGET=${1:-aarch64-unknown-linux-gnu}
case $TARGET in
    aarch64-unknown-linux-gnu | aarch64-unknown-linux-musl) ;;
    *) fail "unsupported target '$TARGET' (aarch64-unknown-linux-gnu or aarch64-unknown-linux-musl)" ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}
BIN=${2:-$target_dir/$TARGET/release/facteur}

[ -x "$BIN" ] || fail "binary not found: $BIN (run scripts/cross-build.sh $TARGET first)"
command -v qemu-aarch64 >/dev/null 2>&1 || fail "qemu-aarch64 not found (apt-get install -y qemu-user)"
command -v python3 >/dev/null 2>&1 || fail "python3 is needed to pick a port and read the greeting"

QEMU=(qemu-aarch64)
if [ "$TARGET" = aarch64-unknown-linux-gnu ]; then
    [ -d "$SYSROOT" ] || fail "$SYSROOT missing (apt-get install -y gcc-aarch64-linux-gnu)"
    QEMU+=(-L "$SYSROOT")
else
    # A static binary: it must not need the glibc loader.
    if readelf -l "$BIN" | grep -q 'Requesting program interpreter'; then
        fail "$BIN is dynamically linked; expected a static musl binary"
    fi
fi

version=$(awk -F'"' '/^\[/ { pkg = ($0 == "[package]") } pkg && /^version *=/ { print $2; exit }' Cargo.toml)
[ -n "$version" ] || fail "could not read the package version from Cargo.toml"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/facteur-smoke.XXXXXX")
cleanup() {
    smoke_cleanup
    rm -rf "$tmp"
}
trap cleanup EXIT

for page in 4096 16384; do
    log "---- $TARGET with ${page}-byte pages ----"
    qemu=("${QEMU[@]}" -p "$page")

    # --- 1. version ----------------------------------------------------------
    log "checking '$BIN --version' under qemu"
    out=$(timeout 60 "${qemu[@]}" "$BIN" --version 2>&1) || fail "--version exited with an error: $out"
    case "$out" in
        "facteur $version (git "*", $TARGET)") ;;
        *) fail "--version printed '$out', expected 'facteur $version (git REV, $TARGET)'" ;;
    esac
    log "version ok: $out"

    # --- 2. start, greet, stop -----------------------------------------------
    port=$(smoke_free_port)
    rm -rf "$tmp/data"
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
    smoke_start "$tmp/server.log" "${qemu[@]}" "$BIN" run --config "$tmp/facteur.toml"
    smoke_greet "$port" "$START_TIMEOUT"
    smoke_stop "$STOP_TIMEOUT"
done
log "arm smoke test passed ($TARGET, 4 KiB and 16 KiB pages)"
