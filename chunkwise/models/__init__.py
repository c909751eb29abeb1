"""The one seam for model calls; see `client.ModelClient` and docs/architecture.md.

- `spec.parse_model_spec`: `provider:model` strings (`bedrock_converse:<id>`, `openai:<model>`,
  any `init_chat_model` provider, `local:<name>`); Bedrock ids ending in `:0` survive.
- `defaults.resolve_spec`: flag > env > credentials > `local:default`, per role.
- `factory.build_chat_model`: LangChain chat models with SDK retries off.
- `client.get_client(ref, settings, store=...)`: a `ModelClient` (limiter, retries, usage, cache).
- `retry`: `classify`, `call_with_retries`, `ModelCallError(kind=...)`.
- `limiter`: `RateLimiter`, `limiter_for(endpoint, ...)` (one per endpoint per process).
- `usage`: `Usage`, `add_usage`, prices (`CHUNKWISE_PRICES`) and cost.
- `settings`: `ModelSettings`, `chunk_processing_delay()`.
- `secrets`: `redact`, `RedactingFilter`, `protect_sdk_loggers`.
"""
