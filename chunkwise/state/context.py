"""Run options shared by every pipeline's `Context` (LangGraph's `context_schema`).

Context is passed per run and never checkpointed, so it may carry a ready chat model; it never
carries keys (the model factory reads those from the environment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chunkwise.models.client import ModelClient, client_for
from chunkwise.models.resolve import ModelRef, ResolvedModel, resolve_model
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.blobs import BlobStore, open_blob_store
from chunkwise.runtime.paths import blob_location_for, default_checkpoint_db
from chunkwise.state.coerce import coerce_json_fields


def _default_blob_store() -> str:
    return blob_location_for(default_checkpoint_db())


@dataclass(kw_only=True)
class BaseContext:
    """Model settings and the blob store location; pipelines add their own options."""

    models: ModelSettings = field(
        default_factory=ModelSettings,
        metadata={"description": "Sampling, endpoint, timeout and rate limits for every role."},
    )
    blob_store: str = field(
        default_factory=_default_blob_store,
        metadata={"description": "Where big text lives: SQLite path, postgres URL or :memory:."},
    )

    def __post_init__(self) -> None:
        # Studio and the server API send context as JSON (nested settings as dicts)
        coerce_json_fields(self)

    def store(self) -> BlobStore:
        return open_blob_store(self.blob_store)

    def client(self, role: str, ref: ModelRef | None) -> ModelClient:
        """The client for a role: an explicit model, else env, credentials, then the local model."""
        return client_for(resolve_model(role, ref, self.models), store=self.store())


def describe_models(
    context: BaseContext, roles: dict[str, ModelRef | None]
) -> list[ResolvedModel]:
    """Which model each role uses and why, as data: the command prints `describe()` per role,
    and `models.defaults.LOCAL_DEFAULT_NOTICE` when one fell back to the local model."""
    return [resolve_model(role, ref, context.models) for role, ref in roles.items()]
