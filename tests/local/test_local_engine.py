"""The engine's pure parts: prompt-lookup drafts and the saved-prefix cache (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_cpp")

from chunkwise.models.local.engine import (  # noqa: E402
    PrefixCache,
    common_prefix,
    lookup_continuation,
)


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix(np.array([1, 2, 3]), [1, 2, 3, 4]) == 3
    assert common_prefix([], [1]) == 0
    assert common_prefix([5], [6]) == 0


def test_lookup_takes_what_followed_the_latest_match_of_the_longest_ngram() -> None:
    # "1 2 3" occurs at 0 and "7 2 3" at 5; the text ends in "7 2 3": the 3-gram wins over
    # the more recent 2-gram "2 3".
    text = [7, 2, 3, 4, 5, 1, 2, 3, 8, 9, 7, 2, 3]
    assert lookup_continuation(text, 3).tolist() == [4, 5, 1]
    # only a 2-gram matches: the latest occurrence is used
    assert lookup_continuation([1, 2, 6, 1, 2, 7, 9, 1, 2], 2).tolist() == [7, 9]
    assert lookup_continuation([1, 2, 3, 4], 5).tolist() == []  # nothing repeats
    assert lookup_continuation([4], 5).tolist() == []


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
