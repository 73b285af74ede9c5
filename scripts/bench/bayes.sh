#!/usr/bin/env bash
# Bayes filter training: generates MESSAGES messages with scripts/corpus.py
# (half ham, half spam), trains them into a fresh data dir with
# `facteur spam train`, and reports the training rate and the size of the
# token store (tokens per pool, bytes of the sled index on disk).
#
#   scripts/bench/bayes.sh [MESSAGES] (default 10000)
#
# Builds with the e2e profile (release without LTO) unless BIN names a
# facteur binary. Results go in docs/BENCHMARKS.md ("Bayes filter").
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES="${1:-10000}"

if [ -z "${BIN:-}" ]; then
  cargo build --profile e2e --quiet
  BIN="$PWD/target/e2e/facteur"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/facteur.toml" <<TOML
[server]
hostname = "mail.example.test"
data_dir = "$WORK/data"
domains = ["example.test"]
[antispam]
dnsbl = []
[log]
level = "warn"
TOML
echo "bench password" | "$BIN" user add bench@example.test --password-stdin --config "$WORK/facteur.toml" >/dev/null
INDEX_BEFORE=$(du -sk "$WORK/data/index" | cut -f1)

HAM=$((MESSAGES / 2))
SPAM=$((MESSAGES - HAM))
python3 scripts/corpus.py --out "$WORK/corpus" --ham "$HAM" --spam "$SPAM" --seed 7
echo "corpus: $HAM ham, $SPAM spam, $(du -sk "$WORK/corpus" | cut -f1) KiB"

START=$(date +%s.%N)
"$BIN" spam train --ham "$WORK/corpus/ham" bench@example.test --config "$WORK/facteur.toml"
"$BIN" spam train --spam "$WORK/corpus/spam" bench@example.test --config "$WORK/facteur.toml"
END=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'trained {sys.argv[3]} messages in {s:.1f}s: {int(sys.argv[3])/s:.0f} messages/s')" "$START" "$END" "$MESSAGES"

"$BIN" spam stats bench@example.test --config "$WORK/facteur.toml"
INDEX_AFTER=$(du -sk "$WORK/data/index" | cut -f1)
echo "sled index on disk: ${INDEX_BEFORE} KiB before, ${INDEX_AFTER} KiB after training"

# Training the same messages again is a no-op: every one is known.
"$BIN" spam train --spam "$WORK/corpus/spam" bench@example.test --config "$WORK/facteur.toml"
