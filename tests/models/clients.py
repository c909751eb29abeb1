"""One line from a model reference to a client, for tests (the library resolves, then builds)."""

from __future__ import annotations

from chunkwise.models.client import ModelClient, client_for
from chunkwise.models.resolve import ModelRef, resolve_model
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.blobs import BlobStore


def make_client(
    ref: ModelRef, settings: ModelSettings, *, store: BlobStore | None = None, role: str = "test"
) -> ModelClient:
    return client_for(resolve_model(role, ref, settings), store=store)
