"""The real SmolLM2 model through a Dask LocalCluster (two single-threaded worker processes):
a neural archive made on the cluster is byte-identical to the local one and extracts through
the cluster to the input.

Skipped only when ``smollm2-135m`` is not installed in ``$NZARC_HOME`` (CI installs it with
``nzarc model install smollm2-135m``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import two_workers

import nzarc
from nzarc.cluster.client import connect
from nzarc.cluster.options import ClusterOptions
from nzarc.codecs.context import CodecContext
from nzarc.neural.store import SMOLLM2_NAME, ModelStore
from nzarc.reader import ArchiveReader
from nzarc.testing import text_sample

pytestmark = [pytest.mark.realmodel]

#: 256-token windows: the 2 kB sample is two windows or more, one task for each worker.
WINDOW = 256


@pytest.fixture(scope="module")
def real_home() -> Path:
    """The NZARC_HOME whose store holds the intact pinned smollm2-135m."""
    store = ModelStore.default()
    if store.installed_pinned(SMOLLM2_NAME) is None:
        pytest.skip(f"{SMOLLM2_NAME} is not installed in {store.root} "
                    f"(nzarc model install {SMOLLM2_NAME})")
    return store.root


@pytest.fixture(scope="module")
def real_cluster(real_home: Path) -> Iterator[Any]:
    with two_workers(real_home) as c:
        yield c


def _create(src: Path, context: CodecContext | None = None) -> bytes:
    out = io.BytesIO()
    nzarc.create(out, [src], encrypt=False, codec="neural", window=WINDOW, codec_context=context)
    return out.getvalue()


def test_real_model_archive_on_the_cluster_is_the_local_one_and_round_trips(
    real_cluster: Any, tmp_path: Path
) -> None:
    data = text_sample(2048, seed=19)
    src = tmp_path / "sample.txt"
    src.write_bytes(data)
    local = _create(src)
    with connect(ClusterOptions(real_cluster.scheduler_address, timeout=60)) as runner:
        assert runner.workers == 2
        context = CodecContext(windows=runner)
        remote = _create(src, context)
        assert runner.max_outstanding >= 2  # the windows went to both workers at once
        with ArchiveReader(io.BytesIO(remote), codec_context=context) as reader:
            assert reader.info().chunks_per_codec == {"nzarc.neural": 1}
            contents = {d.member.name: d.read() for d in reader.iter_members()}
    assert remote == local
    assert len(remote) < len(data)
    assert contents == {"sample.txt": data}
