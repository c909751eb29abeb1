"""Run options shared by every pipeline's `Context` (LangGraph's `context_schema`).

Context is passed per run and never checkpointed, so it may carry a ready chat model; it never
carries keys (the model factory reads those from the environment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chunkwise.models.client import ModelClient, ModelRef, get_client
from chunkwise.models.defaults import resolve_spec
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
        if ref is not None and not isinstance(ref, str):
            return get_client(ref, self.models, store=self.store())
        resolved = resolve_spec(role, ref)
        settings = self.models
        if resolved.base_url and settings.base_url is None:
            settings = settings.with_(base_url=resolved.base_url)
        return get_client(resolved.spec, settings, store=self.store())


def describe_models(context: BaseContext, roles: dict[str, ModelRef | None]) -> list[str]:
    """One line per role naming the backend and model, and why it was chosen."""
    from chunkwise.models.factory import backend_of
    from chunkwise.models.spec import parse_model_spec

    lines = []
    local_by_default = False
    for role, ref in roles.items():
        if ref is not None and not isinstance(ref, str):
            lines.append(f"{role} model: {type(ref).__name__} (given in Python)")
            continue
        resolved = resolve_spec(role, ref)
        backend = backend_of(parse_model_spec(resolved.spec), context.models)
        lines.append(f"{role} model: {resolved.describe()} · {backend}")
        local_by_default = local_by_default or resolved.source == "default"
    if local_by_default:
        lines.append(
            "no cloud credentials found: running offline on the embedded local model "
            "(demo-grade output). For Bedrock set AWS credentials or --model "
            "bedrock_converse:MODEL_ID; for an OpenAI-compatible server set LLM_API_KEY and "
            "--model openai:MODEL --base-url URL"
        )
    return lines
