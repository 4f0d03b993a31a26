"""Shared fixtures for the neural runtime tests."""

from __future__ import annotations

import pytest
from neural_helpers import installed_real_model


@pytest.fixture(scope="session")
def tiny():
    from nzarc.neural.tiny import tiny_model

    return tiny_model(0)


@pytest.fixture(scope="session")
def real_model():
    sha = installed_real_model()
    if sha is None:
        pytest.skip("SmolLM2 model not installed (nzarc model install smollm2-135m)")
    from nzarc.neural.store import ModelStore

    return ModelStore.default().load(sha)
