"""The built-in codecs pass nzarc's own conformance kit (nzarc.testing)."""

from __future__ import annotations

import pytest

from nzarc.codecs.store import StoreCodec
from nzarc.codecs.xz import XzCodec
from nzarc.codecs.zstd import ZstdCodec
from nzarc.testing import conformance_suite

TestStore = conformance_suite(StoreCodec, [{}], stress=4)

TestZstd = conformance_suite(
    ZstdCodec,
    [{"level": 1}, {"level": 19}, {"level": -5}],
    stress=24,
    stress_marks=[pytest.mark.slow],
)

TestXz = conformance_suite(
    XzCodec,
    [{"level": 0, "extreme": False}, {"level": 9, "extreme": True}, {"level": 6}],
    stress=12,
    stress_marks=[pytest.mark.slow],
)
