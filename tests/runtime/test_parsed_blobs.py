"""`read_cached`: what every step reads again is read and parsed once, within bounds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chunkwise.runtime import blobs
from chunkwise.runtime.blobs import SqliteBlobStore, read_cached

calls: Counter[str] = Counter()


def parse_json(text: str) -> Any:
    calls[text] += 1
    return json.loads(text)


def parse_upper(text: str) -> str:
    return text.upper()


def test_a_blob_is_parsed_once_and_shared(tmp_path: Path) -> None:
    store = SqliteBlobStore(tmp_path / "a.sqlite")
    key = store.put('{"parts": [1, 2, 3]}')
    first = read_cached(store, key, parse_json)
    assert read_cached(store, key, parse_json) is first
    # the key is the text's hash: another store holding the same text shares the entry
    other = SqliteBlobStore(tmp_path / "b.sqlite")
    assert read_cached(other, other.put('{"parts": [1, 2, 3]}'), parse_json) is first
    assert calls['{"parts": [1, 2, 3]}'] == 1
    # another parser of the same text is another entry
    assert read_cached(store, key, parse_upper) == '{"PARTS": [1, 2, 3]}'


def test_a_missing_key_raises_and_is_not_remembered(tmp_path: Path) -> None:
    store = SqliteBlobStore(tmp_path / "a.sqlite")
    missing = "sha256:" + "0" * 64
    with pytest.raises(KeyError):
        read_cached(store, missing, parse_upper)
    assert all(key != missing for _, key in blobs._PARSED)


def test_the_cache_is_bounded_in_entries_and_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteBlobStore(tmp_path / "a.sqlite")
    monkeypatch.setattr(blobs, "PARSED_MAX_ENTRIES", 3)
    keys = [store.put(f"text {i}") for i in range(10)]
    for key in keys:
        read_cached(store, key, parse_upper)
    assert [key for _, key in blobs._PARSED][-3:] == keys[-3:] and len(blobs._PARSED) == 3
    monkeypatch.setattr(blobs, "PARSED_MAX_CHARS", 1000)
    small, big = store.put("y" * 600), store.put("x" * 1200)
    read_cached(store, small, parse_upper)
    assert [key for _, key in blobs._PARSED] == [*keys[-2:], small]
    read_cached(store, big, parse_upper)
    assert [key for _, key in blobs._PARSED] == [big]  # the newest stays, even over the bound


def test_branches_asking_at_once_read_the_blob_once() -> None:
    """A fan-out's branches all start by reading the paper: one decompresses, the rest wait
    for its value (each used to decompress the whole paper itself)."""
    import threading

    from chunkwise.runtime.blobs import MemoryBlobStore

    inner = MemoryBlobStore()
    key = inner.put("the paper " * 1000)
    reads: list[str] = []
    everyone = threading.Event()

    class Slow(MemoryBlobStore):
        def get(self, key: str) -> str:
            reads.append(key)
            if len(reads) == 8:
                everyone.set()
            everyone.wait(0.5)  # room for every branch to start reading too, if it may
            return inner.get(key)

    store = Slow()
    start = threading.Barrier(8)
    values: list[str] = []

    def branch() -> None:
        start.wait(5)
        values.append(read_cached(store, key, parse_upper))

    threads = [threading.Thread(target=branch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(reads) == 1 and len(values) == 8 and len({id(v) for v in values}) == 1
