#!/usr/bin/env bash
# Build the Debian packages: target/deb/facteur_VERSION_ARCH.deb.
#
# Usage: scripts/package.sh [ARCH...]
#   ARCH: amd64, arm64 (Raspberry Pi OS 64-bit), armhf (32-bit);
#   default: all three.
#
# Each package holds the release binary (built here if missing or stale:
# amd64 with `cargo build --release`, the others with scripts/cross-build.sh),
# /etc/facteur/facteur.toml as a conffile (config/facteur.toml with no
# domains), the systemd units of board/ (facteur.service and the serial
# console's facteur-console@.service), and the maintainer scripts of
# packaging/deb/ (the facteur user, /var/lib/facteur 0700, the unit enabled,
# started when systemd runs).
#
# Plain `dpkg-deb --build` on a staged tree: dpkg-deb is on every Debian
# system, where cargo-deb would be one more tool to compile in CI (minutes
# on 2 cores) for a package this small.
#
# Environment: FACTEUR_BIN overrides the binary (with one ARCH only).
#              CARGO_TARGET_DIR is honoured.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }

ARCHES=("$@")
[ "${#ARCHES[@]}" -gt 0 ] || ARCHES=(amd64 arm64 armhf)
if [ -n "${FACTEUR_BIN:-}" ] && [ "${#ARCHES[@]}" -ne 1 ]; then
    die "FACTEUR_BIN goes with exactly one ARCH"
fi

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (a Debian system is needed)"
command -v readelf >/dev/null 2>&1 || die "readelf not found (apt-get install -y binutils)"

triple_for() {
    case "$1" in
        amd64) echo x86_64-unknown-linux-gnu ;;
        arm64) echo aarch64-unknown-linux-gnu ;;
        armhf) echo armv7-unknown-linux-gnueabihf ;;
        *) die "unknown architecture '$1' (amd64, arm64 or armhf)" ;;
    esac
}

version=$(awk -F'"' '/^\[/ { pkg = ($0 == "[package]") } pkg && /^version *=/ { print $2; exit }' Cargo.toml)
description=$(awk -F'"' '/^\[/ { pkg = ($0 == "[package]") } pkg && /^description *=/ { print $2; exit }' Cargo.toml)
[ -n "$version" ] && [ -n "$description" ] || die "could not read version and description from Cargo.toml"

target_dir=${CARGO_TARGET_DIR:-target}
out_dir=$target_dir/deb
mkdir -p "$out_dir"

locked=()
[ "${CI:-false}" = true ] && locked=(--locked)

# Prints the Depends field for a dynamically linked binary: each shared
# library it needs mapped to its package, libc6 at the newest symbol version
# it uses. An unknown library stops the build, so a new one is not missed.
depends_for() {
    local bin=$1 lib libs glibc gcc_s=""
    libs=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    for lib in $libs; do
        case $lib in
            libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | ld-linux*) ;;
            libgcc_s.so.1) gcc_s=", libgcc-s1" ;;
            *) die "$bin needs $lib: add its package to depends_for in scripts/package.sh" ;;
        esac
    done
    glibc=$(readelf -V "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
    [ -n "$glibc" ] || die "$bin uses no versioned glibc symbol: is it really a glibc binary?"
    echo "libc6 (>= $glibc)$gcc_s, passwd"
}

# The packaged config: the production config with no domains, so that a
# fresh box holds no example domain. The admin adds real ones.
packaged_config() {
    local src=config/facteur.toml
    grep -q '^domains = \["example.com"\]$' "$src" || die "$src: expected the line domains = [\"example.com\"]"
    grep -q '^data_dir = "/var/lib/facteur"$' "$src" || die "$src: expected data_dir = \"/var/lib/facteur\""
    sed 's/^domains = \["example.com"\]$/domains = []/' "$src"
}

build_one() {
    local arch=$1 triple bin stage deb unit
    triple=$(triple_for "$arch")
    if [ -n "${FACTEUR_BIN:-}" ]; then
        bin=$FACTEUR_BIN
    elif [ "$arch" = amd64 ]; then
        log "building the release binary for $arch"
        cargo build --release "${locked[@]}"
        bin=$target_dir/release/facteur
    else
        scripts/cross-build.sh "$triple"
        bin=$target_dir/$triple/release/facteur
    fi
    [ -x "$bin" ] || die "binary not found: $bin"

    stage=$out_dir/stage-$arch
    deb=$out_dir/facteur_${version}_${arch}.deb
    # Older versions' packages go, so that target/deb holds one per ARCH.
    rm -rf "$stage" "$out_dir"/facteur_*_"$arch".deb
    log "staging $arch in $stage"

    install -D -m 0755 "$bin" "$stage/usr/bin/facteur"
    mkdir -p "$stage/etc/facteur"
    packaged_config >"$stage/etc/facteur/facteur.toml"
    chmod 0644 "$stage/etc/facteur/facteur.toml"
    # The units name /usr/local/bin/facteur for a manual install; the
    # package's binary is /usr/bin/facteur.
    mkdir -p "$stage/usr/lib/systemd/system"
    for unit in board/*.service; do
        grep -q '^ExecStart=/usr/local/bin/facteur ' "$unit" || die "$unit: ExecStart should run /usr/local/bin/facteur"
        sed 's|^ExecStart=/usr/local/bin/facteur |ExecStart=/usr/bin/facteur |' "$unit" \
            >"$stage/usr/lib/systemd/system/$(basename "$unit")"
        chmod 0644 "$stage/usr/lib/systemd/system/$(basename "$unit")"
    done
    install -D -m 0644 packaging/deb/copyright "$stage/usr/share/doc/facteur/copyright"
    install -D -m 0644 README.md "$stage/usr/share/doc/facteur/README.md"

    mkdir -p "$stage/DEBIAN"
    install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
    echo /etc/facteur/facteur.toml >"$stage/DEBIAN/conffiles"
    cat >"$stage/DEBIAN/control" <<CONTROL
Package: facteur
Version: $version
Architecture: $arch
Maintainer: facteur developers <postmaster@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $(depends_for "$bin")
Section: mail
Priority: optional
Description: small-office mail server in one low-memory binary
 $description.
 The service runs as the facteur user, with its mail in /var/lib/facteur
 and its config in /etc/facteur/facteur.toml.
CONTROL
    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
        >"$stage/DEBIAN/md5sums"

    dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
    rm -rf "$stage"
    log "built $deb ($(du -h "$deb" | cut -f1))"
}

for arch in "${ARCHES[@]}"; do
    build_one "$arch"
done
