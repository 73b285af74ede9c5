#!/usr/bin/env bash
# Run every test: unit tests, documentation examples and the end-to-end tests
# that drive facteur with real mail clients.
#
# Usage: scripts/test.sh [extra cargo test arguments]
#
# First makes sure the clients the tests use are installed, installing the
# missing ones with apt-get when running as root. With CI=true a client that
# is still missing is an error, and FACTEUR_TEST_STRICT=1 is exported so that
# tests fail instead of skipping; otherwise tests needing it skip.
set -euo pipefail

# Debian packages the end-to-end tests use. postfix is here only for its
# smtp-source and smtp-sink load tools; its service is never run.
# swaks needs the Perl TLS and SASL modules for STARTTLS and AUTH.
# chromium, chromium-driver and python3-selenium drive the web pages in a
# headless browser (tests/web/browser.py).
APT_PACKAGES="swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl postfix curl fetchmail isync python3-dkim python3-dnslib python3-nacl chromium chromium-driver python3-selenium"

cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }
warn() { printf 'test.sh: warning: %s\n' "$*" >&2; }

CI=${CI:-false}
if [ "$CI" = true ]; then
    export FACTEUR_TEST_STRICT=1
fi

# Whether what a package provides to the tests is usable.
have_pkg() {
    case "$1" in
        swaks) command -v swaks >/dev/null 2>&1 ;;
        postfix) [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] ;;
        curl) command -v curl >/dev/null 2>&1 ;;
        fetchmail) command -v fetchmail >/dev/null 2>&1 ;;
        isync) command -v mbsync >/dev/null 2>&1 ;;
        python3-dkim) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import dkim' >/dev/null 2>&1 ;;
        python3-dnslib) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import dnslib' >/dev/null 2>&1 ;;
        python3-nacl) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import nacl' >/dev/null 2>&1 ;;
        chromium) [ -x /usr/bin/chromium ] ;;
        chromium-driver) [ -x /usr/bin/chromedriver ] ;;
        python3-selenium) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import selenium' >/dev/null 2>&1 ;;
        *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
    esac
}

missing_pkgs() {
    local p out=()
    for p in $APT_PACKAGES; do
        have_pkg "$p" || out+=("$p")
    done
    echo "${out[*]:-}"
}

# Installs packages without starting any service they ship (postfix).
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # Postfix: no configuration, so even a started service would do nothing.
    if command -v debconf-set-selections >/dev/null 2>&1; then
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    fi
    # Forbid service starts during the installation, unless a policy exists.
    local policy=/usr/sbin/policy-rc.d created_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=yes
    fi
    local rc=0
    log "apt-get update"
    apt-get update -qq </dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
        log "apt-get install -y $*"
        apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null || rc=$?
    fi
    [ -n "$created_policy" ] && rm -f "$policy"
    # Should a postfix master be running anyway, stop it: tests never use it.
    if [ -x /usr/sbin/postfix ] && /usr/sbin/postfix status >/dev/null 2>&1; then
        log "stopping the postfix service the installation started"
        /usr/sbin/postfix stop >/dev/null 2>&1 || true
    fi
    return "$rc"
}

missing=$(missing_pkgs)
if [ -n "$missing" ]; then
    log "test clients missing: $missing"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        apt_install $missing || warn "apt-get failed"
        missing=$(missing_pkgs)
    else
        echo "test.sh: to install them, run as root:" >&2
        echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing" >&2
    fi
fi
if [ -n "$missing" ]; then
    if [ "$CI" = true ]; then
        echo "test.sh: error: still missing with CI=true: $missing" >&2
        exit 1
    fi
    warn "still missing: $missing; the tests that need them will skip"
else
    log "all test clients present"
fi

locked=()
[ "$CI" = true ] && locked=(--locked)
log "cargo test --profile e2e --all-targets ${locked[*]:-} $*"
cargo test --profile e2e --all-targets "${locked[@]}" "$@"
# --all-targets leaves the documentation examples out: run them too, in a
# full run (extra arguments such as --test NAME select other targets).
if [ $# -eq 0 ]; then
    log "cargo test --profile e2e --doc ${locked[*]:-}"
    cargo test --profile e2e --doc "${locked[@]}"
fi
