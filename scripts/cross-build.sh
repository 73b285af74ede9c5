#!/usr/bin/env bash
# Build release binaries for the Raspberry Pi targets.
#
# Usage: scripts/cross-build.sh [TARGET...]
#   default targets: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
#
# Installs what is missing: the rustup targets, and (as root, with apt-get)
# Debian's cross compilers and qemu-user. Linker settings live in
# .cargo/config.toml. Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."

DEFAULT_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=("${DEFAULT_TARGETS[@]}")
fi

log() { printf '==> %s\n' "$*"; }
die() { printf 'cross-build: error: %s\n' "$*" >&2; exit 1; }

# The C cross compiler (used as linker and for ring) each target needs.
cc_for() {
    case "$1" in
        aarch64-unknown-linux-gnu | aarch64-unknown-linux-musl) echo aarch64-linux-gnu-gcc ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf-gcc ;;
        *) die "unsupported target '$1' (known: aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf, aarch64-unknown-linux-musl)" ;;
    esac
}

# Debian packages: cross compilers for every target, qemu-user for arm-smoke.sh.
APT_PACKAGES=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user)

missing_pkgs=()
for t in "${TARGETS[@]}"; do
    cc=$(cc_for "$t")
    command -v "$cc" >/dev/null 2>&1 || missing_pkgs+=("$cc")
done
command -v qemu-aarch64 >/dev/null 2>&1 || missing_pkgs+=(qemu-aarch64)

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    log "missing tools: ${missing_pkgs[*]}"
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "cross-build: run as root first:" >&2
        echo "  apt-get update && apt-get install -y ${APT_PACKAGES[*]}" >&2
        exit 1
    fi
    log "installing ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
fi

command -v rustup >/dev/null 2>&1 || die "rustup not found; it is needed to add the cross targets"
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    if ! grep -qx "$t" <<<"$installed"; then
        log "adding rustup target $t"
        rustup target add "$t"
    fi
done

# In CI the committed Cargo.lock must be up to date.
locked=()
[ "${CI:-false}" = true ] && locked=(--locked)

target_dir=${CARGO_TARGET_DIR:-target}
built=()
for t in "${TARGETS[@]}"; do
    log "building release for $t"
    start=$(date +%s)
    cargo build --release "${locked[@]}" --target "$t"
    log "$t built in $(( $(date +%s) - start )) s"
    built+=("$target_dir/$t/release/facteur")
done

log "binaries:"
for bin in "${built[@]}"; do
    [ -f "$bin" ] || die "expected binary not found: $bin"
    printf '    %s  %s bytes (%s)\n' "$bin" "$(stat -c %s "$bin")" "$(du -h "$bin" | cut -f1)"
done
