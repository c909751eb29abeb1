"""Byte-level file work for model weights: streamed hashing, atomic joining, format sniffing.

Kept free of model knowledge so it can be tested with a few kilobytes of fake parts. Everything
streams in fixed blocks because the real files are over a gigabyte.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

BLOCK_SIZE = 8 * 1024 * 1024
GGUF_MAGIC = b"GGUF"


class DigestMismatch(Exception):
    """The bytes written do not hash to what was expected; carries the digest actually seen."""

    def __init__(self, actual: str) -> None:
        super().__init__(actual)
        self.actual = actual


def sha256_file(path: Path, block_size: int = BLOCK_SIZE) -> str:
    """Hex sha256 of a file, read in blocks so memory stays flat whatever the file size."""
    digest = hashlib.sha256()
    buffer = bytearray(block_size)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def atomic_join(
    parts: Sequence[Path], target: Path, expected_sha256: str, block_size: int = BLOCK_SIZE
) -> None:
    """Concatenate `parts` into `target`, publishing it only if the result has the expected hash.

    The bytes go to a hidden temp file in the target's folder (same filesystem, so the final
    rename is atomic) and are hashed on the way through, so the joined file is read once. On any
    failure, including a digest mismatch or an interrupt, the temp file is removed: a reader of
    `target` sees either nothing or a complete, verified file, never a partial one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in every branch below
        dir=target.parent, prefix=f".{target.name}.", suffix=".partial", delete=False
    )
    temp = Path(handle.name)
    try:
        with handle:
            digest = hashlib.sha256()
            buffer = bytearray(block_size)
            view = memoryview(buffer)
            for part in parts:
                with part.open("rb", buffering=0) as source:
                    while n := source.readinto(buffer):
                        digest.update(view[:n])
                        handle.write(view[:n])
            handle.flush()
            os.fsync(handle.fileno())
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise DigestMismatch(actual)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def has_gguf_magic(path: Path) -> bool:
    """True if the file starts with the GGUF magic: the cheapest sign llama.cpp can read it."""
    with path.open("rb") as handle:
        return handle.read(len(GGUF_MAGIC)) == GGUF_MAGIC
