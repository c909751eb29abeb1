"""The engine's pure part: the saved-prefix cache (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_cpp")

from chunkwise.models.local.engine import PrefixCache, common_prefix


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix(np.array([1, 2, 3]), [1, 2, 3, 4]) == 3
    assert common_prefix([], [1]) == 0
    assert common_prefix([5], [6]) == 0


def test_prefix_cache_keeps_the_longest_and_drops_the_least_recent() -> None:
    cache = PrefixCache(capacity=100)
    cache.put(np.array([1, 2, 3]), b"a" * 40)
    cache.put(np.array([1, 2, 3, 4]), b"b" * 40)  # extends the first: replaces it
    cache.put(np.array([5, 6]), b"c" * 40)

    saved, shared = cache.best([1, 2, 3, 4, 9])
    assert saved is not None and saved.state == b"b" * 40 and shared == 4
    assert cache.best([7]) == (None, 0)

    cache.put(np.array([8]), b"d" * 40)  # over capacity: [5, 6] was used least recently
    assert cache.best([5, 6])[0] is None
    assert cache.best([1, 2, 3, 4])[1] == 4


def test_the_best_prefix_is_found_behind_others_of_other_lengths() -> None:
    cache = PrefixCache(capacity=1000)
    cache.put(np.array([1, 2, 3]), b"a")
    cache.put(np.array([7, 8, 9, 10, 11]), b"b")
    cache.put(np.array([4, 5]), b"c")

    saved, shared = cache.best([7, 8, 9, 0])
    assert saved is not None and saved.state == b"b" and shared == 3
    saved, shared = cache.best([4, 5, 6])  # now behind the one just used
    assert saved is not None and saved.state == b"c" and shared == 2
