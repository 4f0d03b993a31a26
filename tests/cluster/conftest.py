"""Fixtures of the cluster tests: an NZARC_HOME with the tiny seeded model under the
default model's name, and one real ``distributed.LocalCluster`` (two single-threaded worker
processes) per test module, whose workers find that model and this tree's nzarc."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import two_workers


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NZARC_HOME whose store holds the tiny model as ``smollm2-135m``."""
    from nzarc.neural.store import file_sha256
    from nzarc.neural.tiny import build_tiny_model, tiny_model

    tiny = tiny_model(0)
    root = tmp_path_factory.mktemp("home")
    models = root / "models"
    models.mkdir()
    tmp = build_tiny_model(0, models / "tiny.nzm")
    sha = file_sha256(tmp)
    assert sha == tiny.weights_sha256
    tmp.rename(models / f"{sha}.nzm")
    meta = {"name": "smollm2-135m", "tokenizer_sha256": tiny.tokenizer_sha256,
            "runtime_id": "nzarc-int-v1", "source_sha256": "0" * 64}
    (models / f"{sha}.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def cluster(tiny_home: Path) -> Iterator[Any]:
    """A LocalCluster of two single-threaded worker processes (its nannies restart a killed one)."""
    with two_workers(tiny_home) as c:
        yield c
