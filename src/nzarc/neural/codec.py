"""``nzarc.neural``: text compressed by the exact integer language model and a range coder.

Importing this module is cheap: torch, the runtime and the model are loaded only when a
codec is used. spec/NEURAL-CODEC.md is the normative description of the bitstreams.

Params (all recorded in the archive header)
    ``{"model": <lowercase hex SHA-256 of the model file>, "window": N, "act_levels": P}``.
    ``"model"`` is left out when it is :data:`DEFAULT_MODEL_SHA256`, the pinned
    SmolLM2-135M conversion (a reader takes an absent ``"model"`` to mean exactly
    that hash, never "whatever is installed"); the model pin in the header
    still carries the full hash.
    ``N`` (``MIN_WINDOW..MAX_WINDOW``, at most the model's longest window) is
    the number of tokens coded per independent window. ``P`` (1 or 2) is the
    runtime's activation precision (spec/NEURAL.md section 3.4); an absent
    ``"act_levels"`` means 1, the precision of archives written before the
    param existed. Writers use ``DEFAULT_ACT_LEVELS`` (2: about 1% fewer bits
    than 1, for about 25% more creation and 8% more extraction time). Where the model runs
    (the context's device, below; the range coder runs on the device of the tables it
    is given), the routes it takes and how many threads it uses do not affect the bytes,
    so they are not params.
    ``"version": 2, "lanes": L`` select bitstream version 2 (spec section 5), which writers
    use by default, in ``DEFAULT_LANES`` lanes; absent, they mean version 1.
    ``"runtime": 2`` runs the model as ``nzarc-int-v2`` (spec/NEURAL.md section 7: keys and
    values rounded to 8 bits, caches a third of v1's); absent, it means ``nzarc-int-v1``.
    Writers use ``DEFAULT_RUNTIME``. The model pin's runtime id names the same runtime.

Bitstream (version 1) of a chunk of ``raw_len`` bytes
    1. The chunk is tokenised (:meth:`Tokenizer.encode`, lossless for every
       byte string) into ``T`` tokens, ``T <= MAX_TOKENS_PER_BYTE * raw_len``.
    2. The tokens are cut into ``W = ceil(T / N)`` windows of ``N`` tokens
       (the last one holds the rest). Window ``w`` is coded on its own: the
       model is fed ``BOS, t_0, ..., t_{n-2}`` and token ``t_i`` is range-coded
       (:mod:`nzarc.neural.coder`) with the model's frequency table for
       position ``i`` (``cum`` = sum of the table below ``t_i``, ``freq`` =
       its entry, ``total = 2**freq_bits``).
    3. The chunk is ``varint(T)``, then ``varint(len(stream_w))`` for each of
       the ``W`` windows, then the ``W`` streams concatenated. A varint is
       unsigned LEB128 in its shortest form.

Decoding checks, before any model work: ``T`` within its bound (``T = 0``
iff ``raw_len = 0``), canonical varints, every stream length at most
``ceil(freq_bits / 8) * n + 1`` for its ``n`` symbols, and the lengths adding
up to exactly the rest of the data. Then every window of every chunk in the
call is decoded in lockstep batches through the runtime's incremental session
(batch size bounded by a memory budget), each range-coded stream must end
canonically, and the detokenised bytes must be exactly ``raw_len`` long.
Any failure raises :class:`CodecError`. Decoding time is linear in
``raw_len`` (at most ``2 * raw_len`` model steps).

Resources
    The default window is ``DEFAULT_WINDOW`` tokens: longer windows give
    the model more context (fewer bits) but cost more per token and more
    KV-cache memory per window when decoding. A decoding batch holds as many
    windows as fit the context's ``decode_memory`` bytes (default 2 GiB) of KV cache
    and tables; a larger budget means larger batches and faster decoding.

Context
    The codec takes a :class:`~nzarc.codecs.context.CodecContext` (``takes_context``):
    its ``device``, ``kernels`` and ``matmul`` become the runtime's
    :class:`~nzarc.neural.runtime.options.RuntimeOptions`, and its ``decode_memory`` the
    decoding batch budget (above), and its ``progress`` receives the model-work events
    (:data:`~nzarc.events.MODEL_KINDS`) of every call, in-process or through the context's
    window runner. None of these changes the bytes. Without a context the
    codec runs on the CPU with the default routes and budget; it reads no environment.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from nzarc.codecs.context import DEFAULT_CONTEXT, CodecContext
from nzarc.codecs.contract import Codec, ModelPin
from nzarc.errors import (
    CodecError,
    CodecParamsError,
    EncodeDeclined,
    ModelMismatch,
)
from nzarc.events import report_model
from nzarc.neural.chunklayout import MAX_TOKENS_PER_BYTE, chunk_bytes, parse_chunk
from nzarc.neural.modelaccess import (
    DEFAULT_MODEL_NAME,
    INSTALL_HINT,
    default_model_sha,
    load_codec_model,
    model_installed,
    register_model,
    runtime_options,
)
from nzarc.neural.modelwork import CodecModel
from nzarc.neural.store import SMOLLM2_MODEL_SHA256
from nzarc.neural.textdetect import looks_like_text
from nzarc.neural.windowcode import decode_jobs, encode_windows
from nzarc.signals import CancelToken

__all__ = [
    "NeuralCodec",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_SHA256",
    "DEFAULT_WINDOW",
    "DEFAULT_ACT_LEVELS",
    "DEFAULT_RUNTIME",
    "INSTALL_HINT",
    "register_model",
]

#: SHA-256 of the default model file; the meaning of params without ``"model"``.
DEFAULT_MODEL_SHA256 = SMOLLM2_MODEL_SHA256
DEFAULT_WINDOW = 4096
#: Activation precision written by default (see the module docstring).
DEFAULT_ACT_LEVELS = 2
MIN_WINDOW = 8
MAX_WINDOW = 8192
#: Memory budget of one decoding batch (KV caches and frequency tables), in bytes.
DEFAULT_DECODE_MEMORY = 2 << 30
#: Largest raw_len / coded length read or written: version 1, about 4x the best measured on
#: text (~8); version 2, whose mixer learns a chunk's own repeats, codes logs at 60-250x on
#: its own, so it gets room to the next power of two above that (a reader's --max-ratio
#: still overrides both; a chunk above the limit goes to the next candidate when written).
MAX_RATIO = 32
MAX_RATIO_V2 = 1024
#: Bitstream versions: 1 (the LM alone) and 2 (the LM mixed with adaptive context models in
#: lanes, spec/NEURAL-CODEC.md section 5), selected by the param "version" (absent: 1).
BITSTREAMS = (1, 2)
#: What a writer writes with when the caller names no version.
DEFAULT_VERSION = 2
#: Runtimes of the model (param "runtime", absent: 1) by runtime id, and the writers' default.
RUNTIME_IDS, DEFAULT_RUNTIME = {1: "nzarc-int-v1", 2: "nzarc-int-v2"}, 1
#: Lanes of a version-2 chunk (param "lanes"): the default, and the bounds.
DEFAULT_LANES = 8
MAX_LANES = 64

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_ID = "nzarc.neural"

def __getattr__(name: str) -> Any:
    """``MODELS``: the models this codec can use, for the ``nzarc_models()`` hook (lazy)."""
    if name == "MODELS":
        from nzarc.codecs.contract import ModelDescriptor
        from nzarc.neural import store

        return (
            ModelDescriptor(
                name=store.SMOLLM2_NAME,
                weights_sha256=store.SMOLLM2_MODEL_SHA256,
                tokenizer_sha256=store.SMOLLM2_TOKENIZER_SHA256,
                runtime_id="nzarc-int-v1",
                how_to_obtain=f"nzarc model install {store.SMOLLM2_NAME}",
            ),
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check(cancel: CancelToken | None) -> Callable[[], None] | None:
    """The ``check()`` of ``cancel`` (None without one), for a window runner."""
    return cancel.check if cancel is not None else None


# ----------------------------------------------------------------------------- the codec


class NeuralCodec(Codec):
    """The exact integer language model driving a range coder; see the module docstring."""

    codec_id: ClassVar[str] = _ID
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    batches_internally: ClassVar[bool] = True
    cancellable: ClassVar[bool] = True
    takes_context: ClassVar[bool] = True
    uses_models: ClassVar[tuple[str, ...]] = (DEFAULT_MODEL_NAME,)
    max_ratio: float | None = MAX_RATIO

    def __init__(
        self,
        model: str | None = None,
        window: int = DEFAULT_WINDOW,
        act_levels: int = DEFAULT_ACT_LEVELS,
        *,
        version: int = DEFAULT_VERSION,
        lanes: int = DEFAULT_LANES,
        runtime: int = DEFAULT_RUNTIME,
        context: CodecContext | None = None,
    ) -> None:
        if not isinstance(window, int) or isinstance(window, bool):
            raise CodecParamsError(f"{_ID}: param 'window' must be an integer")
        if not MIN_WINDOW <= window <= MAX_WINDOW:
            raise CodecParamsError(f"{_ID}: param 'window' = {window} is outside {MIN_WINDOW}..{MAX_WINDOW}")
        # (numpy: not imported until a neural codec is made)
        from nzarc.neural.intops import ACT_LEVELS

        if act_levels not in ACT_LEVELS or isinstance(act_levels, bool) or not isinstance(act_levels, int):
            raise CodecParamsError(f"{_ID}: param 'act_levels' must be one of {', '.join(map(str, ACT_LEVELS))}")
        if not isinstance(version, int) or isinstance(version, bool) or version not in BITSTREAMS:
            raise CodecParamsError(f"{_ID}: param 'version' must be one of {', '.join(map(str, BITSTREAMS))}")
        if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= MAX_LANES:
            raise CodecParamsError(f"{_ID}: param 'lanes' must be an integer in 1..{MAX_LANES}")
        if not isinstance(runtime, int) or isinstance(runtime, bool) or runtime not in RUNTIME_IDS:
            raise CodecParamsError(f"{_ID}: param 'runtime' must be one of {', '.join(map(str, RUNTIME_IDS))}")
        if model is None:  # the params are checked first: a bad one is refused without a model
            model = default_model_sha()
        if not isinstance(model, str) or not _SHA_RE.match(model):
            raise CodecParamsError(f"{_ID}: param 'model' must be a lowercase hex SHA-256, got {model!r}")
        if not model_installed(model):
            raise ModelMismatch(
                f"{_ID}: model {model} is not installed",
                hint=f"{INSTALL_HINT} (the archive needs the model with SHA-256 {model})",
            )
        self.model_sha = model
        self.window = window
        self.act_levels = act_levels
        self.bitstream = version
        self.max_ratio = MAX_RATIO_V2 if version == 2 else MAX_RATIO
        self.lanes = lanes
        self.runtime = runtime
        self.runtime_id = RUNTIME_IDS[runtime]
        context = context or DEFAULT_CONTEXT
        if not isinstance(context, CodecContext):
            raise TypeError("context must be a nzarc.codecs.context.CodecContext")
        self.context = context
        self._runtime_options = runtime_options(context)
        self._decode_memory = context.decode_memory or DEFAULT_DECODE_MEMORY
        self._model_obj: CodecModel | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, context: CodecContext | None = None
    ) -> NeuralCodec:
        if not isinstance(params, Mapping):
            raise CodecParamsError(f"{_ID}: params must be a map")
        unknown = set(params) - {"model", "window", "act_levels", "version", "lanes", "runtime"}
        if unknown:
            raise CodecParamsError(
                f"{_ID}: unknown param(s) {sorted(map(str, unknown))}"
                " (allowed: model, window, act_levels, version, lanes, runtime)"
            )
        if "window" not in params:
            raise CodecParamsError(f"{_ID}: param 'window' is required")
        if params.get("act_levels") == 1:
            raise CodecParamsError(f"{_ID}: param 'act_levels' = 1 must be left out (an absent value means 1)")
        if params.get("version") == 1:
            raise CodecParamsError(f"{_ID}: param 'version' = 1 must be left out (an absent value means 1)")
        if params.get("runtime") == 1:
            raise CodecParamsError(f"{_ID}: param 'runtime' = 1 must be left out (an absent value means 1)")
        if "lanes" in params and params.get("version") != 2:
            raise CodecParamsError(f"{_ID}: param 'lanes' needs 'version' = 2")
        if params.get("version") == 2 and "lanes" not in params:
            raise CodecParamsError(f"{_ID}: param 'lanes' is required with 'version' = 2")
        return cls(
            model=params.get("model", DEFAULT_MODEL_SHA256),
            window=params["window"],
            act_levels=params.get("act_levels", 1),
            version=params.get("version", 1),
            lanes=params.get("lanes", DEFAULT_LANES),
            runtime=params.get("runtime", 1),
            context=context,
        )

    def get_params(self) -> dict[str, Any]:
        params = self._run_params()
        if self.bitstream == 2:
            params |= {"version": 2, "lanes": self.lanes}
        if self.model_sha == DEFAULT_MODEL_SHA256:
            return params
        return {"model": self.model_sha} | params

    def _run_params(self) -> dict[str, Any]:
        """How the model is run: the window, the precision and the runtime, each of the last
        two unless it is 1 (also the pin's extra)."""
        params: dict[str, Any] = {"window": self.window}
        if self.act_levels != 1:
            params["act_levels"] = self.act_levels
        if self.runtime != 1:
            params["runtime"] = self.runtime
        return params

    # ------------------------------------------------------------------ model access

    def _work_key(self) -> tuple[str, int, str]:
        """What a window runner needs to run this codec's model: its SHA-256, precision and runtime."""
        return (self.model_sha, self.act_levels, self.runtime_id)

    def _model(self) -> CodecModel:
        with self._lock:
            if self._model_obj is None:
                model = load_codec_model(self.model_sha, self._runtime_options)
                if self.window > int(model.max_len):
                    raise CodecParamsError(
                        f"{_ID}: window {self.window} exceeds the model's longest window {model.max_len}"
                    )
                self._model_obj = model.with_runtime(self.runtime_id).with_act_levels(self.act_levels)
            return self._model_obj

    def required_models(self) -> list[ModelPin]:
        model = self._model()
        return [
            ModelPin(
                name=str(model.name),  # from the model file itself, so equal wherever the file is
                weights_sha256=self.model_sha,
                tokenizer_sha256=str(model.tokenizer_sha256),
                runtime_id=str(model.runtime_id),
                extra=self._run_params(),
            )
        ]

    def accepts(self, chunk: bytes) -> bool:
        return looks_like_text(chunk)

    def max_decode_memory(self, raw_len: int) -> int:
        extra = 0
        if self.bitstream == 2:
            from nzarc.neural.mix.lanes import decode_state_bytes

            vocab = int(self._model().vocab_size)
            extra = decode_state_bytes(vocab, MAX_TOKENS_PER_BYTE * raw_len, self.window, self.lanes)
        return self._decode_memory + 64 * raw_len + (64 << 20) + extra

    # ------------------------------------------------------------------ encoding

    def encode(self, chunk: bytes) -> bytes:
        return self.encode_many([chunk])[0]

    def encode_many(self, chunks: Sequence[bytes], *, cancel: CancelToken | None = None) -> list[bytes]:
        """Encode ``chunks``; ``cancel`` is checked between prefill slabs and windows
        (:class:`~nzarc.signals.Cancelled` once it is set)."""
        model = self._model()
        progress = self.context.progress
        if int(model.freq_bits) > 30:
            raise EncodeDeclined(f"{_ID}: frequency tables of {model.freq_bits} bits are not supported")
        n = self.window
        token_lists = [model.tokenizer.encode(bytes(c)) for c in chunks]
        if self.bitstream == 2:
            from nzarc.neural.mix.lanes import encode_chunks

            report_model(progress, "encode-bytes", sum(len(c) for c in chunks))
            key, runner = self._work_key(), self.context.windows
            coded = encode_chunks(model, token_lists, n, self.lanes, runner, key, cancel, progress)
            return [chunk_bytes(len(t), s) for t, s in zip(token_lists, coded, strict=True)]
        windows: list[list[int]] = []
        owner: list[int] = []
        for ci, toks in enumerate(token_lists):
            for start in range(0, len(toks), n):
                windows.append(toks[start : start + n])
                owner.append(ci)
        report_model(progress, "encode-bytes", sum(len(c) for c in chunks))
        report_model(progress, "encode-planned", sum(len(w) for w in windows))
        runner = self.context.windows
        if runner is None or not windows:
            streams = encode_windows(model, windows, cancel, progress)
        else:
            streams = runner.encode_windows(self._work_key(), windows, progress, _check(cancel))
        per_chunk: list[list[bytes]] = [[] for _ in chunks]
        for wi, ci in enumerate(owner):
            per_chunk[ci].append(streams[wi])
        return [chunk_bytes(len(t), parts) for t, parts in zip(token_lists, per_chunk, strict=True)]

    # ------------------------------------------------------------------ decoding

    def _parse(self, data: bytes, raw_len: int) -> tuple[int, list[bytes]]:
        """Validate a chunk's layout; return (token count, window streams)."""
        if self.bitstream == 2:
            from nzarc.neural.mix.lanes import stream_limit

            def limit(symbols: int) -> int:
                return stream_limit(int(self._model().vocab_size), symbols)

        else:

            def limit(symbols: int) -> int:
                return -(-int(self._model().freq_bits) // 8) * symbols + 1

        return parse_chunk(data, raw_len, self.window, limit)

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return self.decode_many([(data, raw_len)])[0]

    def decode_many(
        self, items: Sequence[tuple[bytes, int]], *, cancel: CancelToken | None = None
    ) -> list[bytes]:
        """Decode ``items``; ``cancel`` is checked at every model step
        (:class:`~nzarc.signals.Cancelled` once it is set)."""
        parsed = [self._parse(d, r) for d, r in items]
        results: list[bytes | None] = [b"" if total == 0 else None for total, _ in parsed]
        todo = [i for i, r in enumerate(results) if r is None]
        if not todo:
            return [b"" for _ in items]
        model = self._model()
        n = self.window
        if self.bitstream == 2:
            return self._decode_mixed(model, items, parsed, todo, cancel)
        jobs: list[tuple[int, int, bytes, int]] = []  # (chunk, window index, stream, symbols)
        for ci in todo:
            total, streams = parsed[ci]
            for w, s in enumerate(streams):
                jobs.append((ci, w, s, min(n, total - w * n)))
        progress = self.context.progress
        report_model(progress, "decode-bytes", sum(items[ci][1] for ci in todo))
        report_model(progress, "decode-planned", sum(j[3] for j in jobs))
        pairs = [(j[2], j[3]) for j in jobs]
        runner = self.context.windows
        if runner is None:
            decoded = decode_jobs(model, pairs, self._decode_memory, cancel, progress)
        else:
            decoded = runner.decode_windows(self._work_key(), pairs, progress, _check(cancel))
        tokens: dict[tuple[int, int], list[int]] = {}
        for (ci, w, _, symbols), toks in zip(jobs, decoded, strict=True):
            if len(toks) != symbols:
                raise CodecError(f"{_ID}: a window decoded to {len(toks)} tokens, expected {symbols}")
            tokens[(ci, w)] = toks
        for ci in todo:
            ids: list[int] = []
            for w in range(len(parsed[ci][1])):
                ids.extend(tokens.pop((ci, w)))
            out = model.tokenizer.decode(ids)
            if len(out) != items[ci][1]:
                raise CodecError(f"{_ID}: chunk decoded to {len(out)} bytes, expected {items[ci][1]}")
            results[ci] = out
        return [r if r is not None else b"" for r in results]

    def _decode_mixed(
        self,
        model: CodecModel,
        items: Sequence[tuple[bytes, int]],
        parsed: list[tuple[int, list[bytes]]],
        todo: list[int],
        cancel: CancelToken | None,
    ) -> list[bytes]:
        """Version 2: every lane of every chunk in lockstep rounds (spec/NEURAL-CODEC.md section 5)."""
        from nzarc.neural.mix.lanes import decode_chunks

        if int(model.freq_bits) > 30:  # the decoder's prefix sums are int32
            raise CodecError(f"{_ID}: frequency tables of {model.freq_bits} bits are not supported")
        progress = self.context.progress
        report_model(progress, "decode-bytes", sum(items[ci][1] for ci in todo))
        chunks = [parsed[ci] for ci in todo]
        key, runner = self._work_key(), self.context.windows
        decoded = decode_chunks(
            model, chunks, self.window, self.lanes, self._decode_memory, runner, key, cancel, progress
        )
        results = [b""] * len(items)
        for ci, ids in zip(todo, decoded, strict=True):
            out = model.tokenizer.decode(ids)
            if len(out) != items[ci][1]:
                raise CodecError(f"{_ID}: chunk decoded to {len(out)} bytes, expected {items[ci][1]}")
            results[ci] = out
        return results
