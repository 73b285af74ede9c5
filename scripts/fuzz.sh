#!/usr/bin/env bash
# Fuzz one parser for a while with a random seed.
#
# Usage: scripts/fuzz.sh TARGET SECONDS [SEED]
#        scripts/fuzz.sh --afl TARGET SECONDS
#        scripts/fuzz.sh list
#
# --afl runs the target under AFL++, coverage-guided, through cargo-afl on
# the stable toolchain (`cargo install cargo-afl`, then `cargo afl config
# --build` once); findings go to fuzz/afl/out/TARGET/ (crashes/ holds the
# crashing inputs). Without it, the mutation fuzzer of tests/fuzz.rs runs.
#
# TARGET is one of the tests in tests/fuzz.rs (smtp_command, imap_reader,
# mime, ...), whose seeds are in fuzz/corpus/TARGET/. Crashing inputs are
# written to fuzz/crashes/TARGET/; the last input tried stays in
# fuzz/crashes/TARGET/last, for a run that ends in an abort or out of
# memory. The test build has overflow checks and debug assertions on, so
# arithmetic overflow is a crash too. Without SEED one is drawn and
# printed, so that a run can be repeated.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --afl ]; then
    shift
    if [ $# -lt 2 ] || [ ! -d "fuzz/corpus/$1" ]; then
        echo "usage: scripts/fuzz.sh --afl TARGET SECONDS; targets: $(ls fuzz/corpus | tr '\n' ' ')" >&2
        exit 2
    fi
    (cd fuzz/afl && cargo afl build --release)
    export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
    FACTEUR_AFL_TARGET=$1 exec cargo afl fuzz -V "$2" -i "fuzz/corpus/$1" -o "fuzz/afl/out/$1" \
        fuzz/afl/target/release/facteur-afl
fi
if [ "${1:-}" = list ]; then
    ls fuzz/corpus
    exit 0
fi
if [ $# -lt 2 ] || [ ! -d "fuzz/corpus/$1" ]; then
    echo "usage: scripts/fuzz.sh TARGET SECONDS [SEED]; targets: $(ls fuzz/corpus | tr '\n' ' ')" >&2
    exit 2
fi
target=$1
seconds=$2
seed=${3:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "fuzzing $target for $seconds s with FACTEUR_FUZZ_SEED=$seed"
FACTEUR_FUZZ_SECONDS=$seconds FACTEUR_FUZZ_SEED=$seed FACTEUR_FUZZ_TRACE=1 \
    exec cargo test --profile e2e --test fuzz -- --exact "$target" --nocapture
