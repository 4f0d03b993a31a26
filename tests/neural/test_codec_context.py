"""The neural codec's :class:`~nzarc.codecs.context.CodecContext`: how it reaches the
runtime's options (from the pipeline, the writer and the reader; never from the
environment), that it never changes the bytes, and that a cancel token stops a prefill
inside a model call."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from nzarc.codecs.context import CodecContext
from nzarc.neural.codec import NeuralCodec
from nzarc.neural.modelwork import window_intervals
from nzarc.neural.runtime import RuntimeOptions, load_model
from nzarc.neural.tiny import build_tiny_model
from nzarc.pipeline import build_decoders
from nzarc.planning import AUTO_CANDIDATES, auto_candidates, plan_codecs
from nzarc.signals import Cancelled, CancelToken

TEXT = b"An explicit context names the device; the bytes never depend on it.\n" * 30
SLOW = CodecContext(kernels="torch", matmul="fp32", decode_memory=1)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding a tiny model under the default model's name (its hash is
    registered nowhere, so the codec loads it through the store with its context's options)."""
    root = tmp_path_factory.mktemp("nzarc-home")
    models = root / "models"
    models.mkdir()
    built = build_tiny_model(11, root / "tiny.nzm")
    model = load_model(built)
    sha = model.weights_sha256
    built.rename(models / f"{sha}.nzm")
    meta = {"name": "smollm2-135m", "source_sha256": sha, "tokenizer_sha256": model.tokenizer_sha256,
            "runtime_id": "nzarc-int-v1"}  # fmt: skip
    (models / f"{sha}.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def store(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NZARC_HOME", str(home))
    for var in ("NZARC_KERNELS", "NZARC_MATMUL", "NZARC_NEURAL_MEMORY"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_the_context_becomes_the_runtime_options(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZARC_KERNELS", "torch")  # never read by the codec
    monkeypatch.setenv("NZARC_NEURAL_MEMORY", "1")
    plain = NeuralCodec(window=32, version=1)  # version 1: no mixer state in the decode budget
    assert plain.context == CodecContext() and plain._runtime_options == RuntimeOptions()
    assert plain.max_decode_memory(0) > (1 << 30)
    slow = NeuralCodec.from_params(plain.get_params(), context=SLOW)
    assert slow._runtime_options == RuntimeOptions(kernels="torch", matmul="fp32")
    assert slow.max_decode_memory(0) == 1 + (64 << 20)
    assert (slow._model().kernels, slow._model().matmul) == ("torch", "fp32")
    assert slow._model() is not plain._model()
    assert slow.get_params() == plain.get_params()  # nothing of the context is recorded
    enc = plain.encode(TEXT)
    assert slow.encode(TEXT) == enc and slow.decode(enc, len(TEXT)) == TEXT
    with pytest.raises(TypeError):
        NeuralCodec(window=32, context="cuda")  # type: ignore[arg-type]


def test_the_pipeline_passes_the_context_only_to_codecs_that_take_one(store: Path) -> None:
    plan = plan_codecs("auto", {"window": 32}, context=SLOW)
    neural = [c for c in plan.codecs if isinstance(c, NeuralCodec)]
    assert len(neural) == 1 and neural[0].context == SLOW
    others = [c for c in plan.codecs if not c.takes_context]
    plugins = {cid for cid, _, _ in auto_candidates()[len(AUTO_CANDIDATES):]}  # take no context
    assert {c.codec_id for c in others} == {"nzarc.store", "nzarc.zstd", "nzarc.xz"} | plugins
    built = build_decoders(plan.entries, range(len(plan.entries)), context=SLOW)
    assert [type(c) for c in built.values()] == [type(c) for c in plan.codecs]
    assert [c.context for c in built.values() if isinstance(c, NeuralCodec)] == [SLOW]
    assert plan_codecs("neural", {"window": 32}).codecs[1].context == CodecContext()


@pytest.mark.parametrize("kernels", ["torch", "auto"])
def test_a_cancel_during_a_prefill_stops_it_inside_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernels: str
) -> None:
    """The token is set once the first layer of a prefill is done: the call raises
    Cancelled before the next layer runs, not at the end of the model."""
    model = load_model(build_tiny_model(3, tmp_path / "deep.nzm", n_layer=6), RuntimeOptions(kernels=kernels))
    backend = model.backend
    layer_end = "_block_tail" if backend.name == "torch" else "_mlp"
    done = getattr(backend, layer_end)
    cancel = CancelToken()
    layers: list[float] = []

    def after_layer(*args: object, **kwargs: object) -> object:
        out = done(*args, **kwargs)
        layers.append(time.monotonic())
        cancel.set()  # as a signal handler would, while the model is mid-call
        return out

    monkeypatch.setattr(backend, layer_end, after_layer)
    ids = model.tokenizer.encode(TEXT)
    windows = [ids[i : i + 256] for i in range(0, 4 * 256, 256)]
    got = []
    with pytest.raises(Cancelled):
        for item in window_intervals(model, windows, cancel):
            got.append(item)
    assert len(layers) == 1 and got == []
    assert time.monotonic() - layers[0] < 2.0
    # without a cancel the same call runs every layer
    layers.clear()
    cancel = CancelToken()
    monkeypatch.setattr(backend, layer_end, lambda *a, **k: layers.append(0.0) or done(*a, **k))
    assert len(list(window_intervals(model, windows[:1], cancel))) == 1
    assert len(layers) == 6


def test_prefill_freqs_calls_its_check_between_layers_and_blocks(tiny) -> None:
    calls = []
    ids = torch.tensor([tiny.tokenizer.encode(TEXT)[:300]])
    first = next(tiny.prefill_freqs(ids, check=lambda: calls.append(1)))
    assert first[0] == 0
    # 300 tokens are 3 query blocks of 128 in each layer, and one check after each layer
    assert len(calls) == tiny.n_layer * (3 + 1)
