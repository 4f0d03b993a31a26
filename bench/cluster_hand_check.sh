#!/usr/bin/env bash
# The cluster acceptance by hand: `dask scheduler` on 127.0.0.1:PORT and
# `dask worker --nthreads 1 --nworkers 2`, the real model, then
#   nzarc create  --scheduler tcp://127.0.0.1:PORT -c neural  (encrypted, passphrase)
#   nzarc extract --scheduler tcp://127.0.0.1:PORT            (byte-identical tree)
#   nzarc create  --scheduler ... -c neural --no-encrypt      (== the local archive)
# Run from the repository root:
#   NZARC_HOME=/work/nzhome flock /tmp/nzarc-cpu.lock bash bench/cluster_hand_check.sh [PORT]
# Needs smollm2-135m installed under $NZARC_HOME (nzarc model install smollm2-135m) and
# ../shared/corpus (else a generated text tree). Exit 0 only when every check holds.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
export NZARC_HOME=${NZARC_HOME:-$HOME/.cache/nzarc}
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1
py=${PYTHON:-python}
port=${1:-$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
addr="tcp://127.0.0.1:$port"
work=$(mktemp -d /tmp/nzarc-hand-check.XXXXXX)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    sleep 1
    for pid in "${pids[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }
timed() {  # timed LABEL CMD...: run CMD, print its wall time
    local label=$1 t0 t1; shift
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    say "$label: $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
}

say "nzarc $("$py" -m nzarc --version 2>&1 | head -1), NZARC_HOME=$NZARC_HOME, $(getconf _NPROCESSORS_ONLN) CPUs, scheduler $addr"
setsid dask scheduler --host 127.0.0.1 --port "$port" --no-dashboard >"$work/scheduler.log" 2>&1 &
pids+=($!)
setsid dask worker "$addr" --host 127.0.0.1 --nthreads 1 --nworkers 2 --no-dashboard \
    >"$work/worker.log" 2>&1 &
pids+=($!)
"$py" -c "import distributed, sys; c = distributed.Client(sys.argv[1], timeout=60); c.wait_for_workers(2, timeout=120); print(len(c.scheduler_info()['workers']), 'workers up'); c.close()" "$addr"

# A small text tree: prefixes of corpus text files, else generated prose.
tree="$work/tree"
mkdir -p "$tree/docs/notes"
corpus="$repo/../shared/corpus"
if [ -f "$corpus/canterbury/alice29.txt" ] && [ -f "$corpus/enwik/enwik6" ]; then
    head -c 3000 "$corpus/canterbury/alice29.txt" >"$tree/alice.txt"
    head -c 2500 "$corpus/enwik/enwik6" >"$tree/docs/enwik.txt"
    tail -c 1500 "$corpus/canterbury/alice29.txt" >"$tree/docs/notes/end.txt"
else
    "$py" -c "from nzarc.testing import text_sample; import sys; open(sys.argv[1], 'wb').write(text_sample(3000, 1)); open(sys.argv[2], 'wb').write(text_sample(2500, 2)); open(sys.argv[3], 'wb').write(text_sample(1500, 3))" \
        "$tree/alice.txt" "$tree/docs/enwik.txt" "$tree/docs/notes/end.txt"
fi
find "$tree" -exec touch -h -d @1600000000 {} +
say "tree: $(find "$tree" -type f | wc -l) files, $(cat "$tree"/alice.txt "$tree"/docs/enwik.txt "$tree"/docs/notes/end.txt | wc -c) bytes"

export NZARC_PASSPHRASE=hand-check
timed "create --scheduler -c neural (encrypted)" \
    "$py" -m nzarc create -q --scheduler "$addr" -c neural -o "$work/enc.nzarc" -C "$work" tree
mkdir "$work/out"
timed "extract --scheduler" \
    "$py" -m nzarc extract -q --scheduler "$addr" -C "$work/out" "$work/enc.nzarc"
diff -r "$tree" "$work/out/tree"
say "round trip: the extracted tree is byte-identical (diff -r)"
unset NZARC_PASSPHRASE

timed "create --scheduler -c neural --no-encrypt" \
    "$py" -m nzarc create -q --scheduler "$addr" -c neural --no-encrypt -o "$work/remote.nzarc" -C "$work" tree
timed "create -c neural --no-encrypt (local, no scheduler)" \
    "$py" -m nzarc create -q -c neural --no-encrypt -o "$work/local.nzarc" -C "$work" tree
cmp "$work/remote.nzarc" "$work/local.nzarc"
say "--no-encrypt: cluster archive == local archive ($(wc -c <"$work/local.nzarc") bytes, sha256 $(sha256sum "$work/local.nzarc" | cut -c1-16)…)"
"$py" -m nzarc info --json "$work/remote.nzarc" | "$py" -c "import json, sys; print('chunks per codec:', json.load(sys.stdin)['chunks_per_codec'])"
say "hand check passed"
