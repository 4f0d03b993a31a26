"""nzarc.neural (tiny model) passes the codec conformance kit of nzarc.testing."""

from __future__ import annotations

import pytest
import torch

from nzarc.neural.codec import NeuralCodec, register_model
from nzarc.testing import check_codec


@pytest.mark.slow
def test_conformance_kit_with_the_tiny_model(tiny) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = check_codec(
            NeuralCodec, [{"model": register_model(tiny), "window": 32}], chunk_size=1 << 16, stress=2
        )
    finally:
        torch.set_num_threads(before)
    assert report.roundtrips > 0 and report.declined == 0
