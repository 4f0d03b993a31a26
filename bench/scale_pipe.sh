#!/usr/bin/env bash
# Bounded-memory check (issue 2, acceptance 4): push a generated stream (default 2 GiB) through
# `create` and `extract`, each reading a pipe and writing a pipe, and print both peak RSS figures
# measured by /usr/bin/time -v. Usage: bench/scale_pipe.sh [BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES="${1:-$((2 * 1024 * 1024 * 1024))}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
read -r SK PK < <(python -c 'from nzarc.crypto.recipients import generate_identity as g; print(*g())')
python bench/pipe_tool.py gen "$BYTES" | sha256sum | cut -d" " -f1 > "$TMP/in.sha"
start=$(date +%s)
python bench/pipe_tool.py gen "$BYTES" \
  | /usr/bin/time -v -o "$TMP/create.time" python bench/pipe_tool.py create "$PK" \
  | tee >(wc -c > "$TMP/archive.size") \
  | /usr/bin/time -v -o "$TMP/extract.time" python bench/pipe_tool.py extract "$SK" \
  | sha256sum | cut -d" " -f1 > "$TMP/out.sha"
end=$(date +%s)
sleep 1
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.1f MiB", $2/1024}' "$1"; }
echo "input bytes:       $BYTES"
echo "archive bytes:     $(cat "$TMP/archive.size")"
echo "wall seconds:      $((end - start))"
echo "create peak RSS:   $(rss "$TMP/create.time")"
echo "extract peak RSS:  $(rss "$TMP/extract.time")"
if [ "$(cat "$TMP/in.sha")" = "$(cat "$TMP/out.sha")" ]; then echo "round trip:        identical"; else echo "round trip:        DIFFERENT"; exit 1; fi
