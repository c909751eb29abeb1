"""Fixtures for the local backend: fake part packages small enough to join in milliseconds."""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chunkwise.models.local import weights
from chunkwise.models.local.weights import ModelWeights

PART_SIZES = (4096, 4096, 1000)


@dataclass
class FakeModel:
    """A built-in model made of fake part packages, registered for the test's duration."""

    weights: ModelWeights
    parts: list[Path]
    content: bytes
    cache_dir: Path

    @property
    def target(self) -> Path:
        return self.cache_dir / self.weights.file_name


def _write_part_package(root: Path, module: str, data: bytes) -> Path:
    package = root / module
    (package / "data").mkdir(parents=True)
    part = package / "data" / "part.bin"
    part.write_bytes(data)
    (package / "__init__.py").write_text(
        "import os\n"
        "def get_part_path():\n"
        "    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part.bin')\n"
    )
    return part


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModel]:
    site = tmp_path / "site"
    cache = tmp_path / "cache"
    tag = uuid.uuid4().hex[:8]
    modules = [f"chunkwise_fake_part_{tag}_{i}" for i in range(len(PART_SIZES))]
    pieces = [bytes([i + 1]) * size for i, size in enumerate(PART_SIZES)]
    pieces[0] = b"GGUF" + pieces[0][4:]
    parts = [_write_part_package(site, m, p) for m, p in zip(modules, pieces, strict=True)]
    content = b"".join(pieces)
    model = ModelWeights(
        name="fake-coder-0.1b",
        file_name="fake-coder-0.1b.gguf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        part_modules=tuple(modules),
        n_ctx_train=4096,
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(weights.BUILTIN_MODELS, model.name, model)
    monkeypatch.setattr(weights, "_VERIFIED", set())
    monkeypatch.setenv(weights.CACHE_ENV, str(cache))
    yield FakeModel(weights=model, parts=parts, content=content, cache_dir=cache)
    for module in modules:
        sys.modules.pop(module, None)
