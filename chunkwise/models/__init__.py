"""The one seam for model calls; see `client.ModelClient` and docs/architecture.md.

From settings to a client in two steps, each once:
    resolved = resolve_model(role, ref, settings)   # frozen `ResolvedModel`, no I/O
    client = client_for(resolved, store=store)       # builds (once per process), wraps

- `spec.parse_model_spec`: `provider:model` strings (`bedrock_converse:<id>`, `openai:<model>`,
  any `init_chat_model` provider, `local:<name>`); Bedrock ids ending in `:0` survive.
- `defaults.resolve_spec`: flag > env > credentials > `local:default`, per role.
- `resolve`: `resolve_model`, `ResolvedModel` (spec, source, backend, endpoint, settings,
  cache scope, `describe()`).
- `factory.build_chat_model`: LangChain chat models with SDK retries off.
- `client`: `client_for`, `ModelClient` (limiter, retries, usage, cache).
- `retry`: `classify`, `call_with_retries`, `ModelCallError(kind=...)`.
- `limiter`: the `Limiter` protocol, `RateLimiter` (paced buckets, AIMD, provider headers),
  `limiter_for(endpoint, config)` (one per endpoint per process), `set_limiter_factory`.
- `headers`: response headers and the provider's rate limits in them.
- `limits`: context window and reply cap (settings > model > profile > table > default).
- `usage`: `Usage`, `add_usage`, prices (`CHUNKWISE_PRICES`, built in, `genai-prices`) and cost.
- `settings`: `ModelSettings` (validated), `chunk_processing_delay()`.
- `secrets`: `redact`, `RedactingFilter`, `protect_sdk_loggers`.
"""

from chunkwise.models.client import ModelClient, client_for
from chunkwise.models.resolve import ModelRef, ResolvedModel, resolve_model

__all__ = ["ModelClient", "ModelRef", "ResolvedModel", "client_for", "resolve_model"]
