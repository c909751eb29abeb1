"""Blob stores and checkpointers on a real SQLite file and the PostgreSQL server CI starts."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.errors import ConfigError
from chunkwise.runtime.blobs import BlobStore, MemoryBlobStore, SqliteBlobStore, open_blob_store
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.paths import blob_location_for
from tests.paper2code.support import paper_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gated_mixer_paper.md"


def _roundtrip(store: BlobStore) -> str:
    text = "Équation $E=mc^2$ — 数学 " * 1000
    key = store.put(text)
    assert key.startswith("sha256:") and store.put(text) == key
    assert store.get(key) == text
    with pytest.raises(KeyError):
        store.get("sha256:" + "0" * 64)
    key = f"call:{uuid.uuid4().hex}"  # the postgres store outlives test runs
    assert store.cache_get(key) is None
    store.cache_put(key, {"text": "a"})
    store.cache_put(key, {"text": "b"})
    assert store.cache_get(key) == {"text": "b"}
    return key


def test_memory_and_sqlite_blob_stores(tmp_path: Path) -> None:
    _roundtrip(MemoryBlobStore())
    key = _roundtrip(SqliteBlobStore(tmp_path / "b.sqlite"))
    reopened = SqliteBlobStore(tmp_path / "b.sqlite")
    assert reopened.cache_get(key) == {"text": "b"}


def test_sqlite_blobs_are_compressed(tmp_path: Path) -> None:
    store = SqliteBlobStore(tmp_path / "b.sqlite")
    store.put("the same sentence again. " * 200_000)
    assert (tmp_path / "b.sqlite").stat().st_size < 1_000_000


def test_blobs_sit_beside_the_checkpoints() -> None:
    assert blob_location_for("/x/runs.sqlite") == "/x/runs.blobs.sqlite"
    assert blob_location_for("postgresql://h/db") == "postgresql://h/db"


def test_unwritable_checkpoint_db_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="--checkpoint-db"), open_checkpointer(
        str(blocker / "sub" / "runs.sqlite")
    ):
        pass


def test_postgres_blob_store(postgres_url: str) -> None:
    _roundtrip(open_blob_store(postgres_url))


def test_paper2code_resumes_from_postgres(postgres_url: str) -> None:
    model = paper_model()
    run_id = f"pg-{uuid.uuid4().hex[:8]}"
    generator = ChunkedPyTorchGenerator(chunk_model=model, code_model=model,
                                        checkpoint_db=postgres_url)
    first = generator.generate_code_for_paper(path=str(EXAMPLE), run_id=run_id)
    assert first["success"], first.get("error")
    calls = len(model.calls)
    again = generator.generate_code_for_paper(path=str(EXAMPLE), run_id=run_id)
    assert again["code"] == first["code"] and len(model.calls) == calls


def test_bad_postgres_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"), open_checkpointer(
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    ):
        pass
