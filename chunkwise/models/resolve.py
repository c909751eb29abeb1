"""From a role's settings to one frozen description of its model, before anything is built.

`resolve_model(role, ref, settings)` decides, once, everything a client depends on: the spec
(flag > env > credentials > local default, `models.defaults`), where the choice came from, the
backend a person reads, the endpoint a rate limit applies to, the settings with the route's
base URL folded in, the scope of cached answers, the structured-output method and the key a
built chat model is reused under. It does no I/O and prints nothing; `client_for` builds from
it, and the CLI prints `describe()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from chunkwise.errors import ConfigError
from chunkwise.models.defaults import resolve_spec
from chunkwise.models.factory import backend_of, endpoint_of, env_fingerprint, openai_base_url
from chunkwise.models.settings import ModelSettings, StructuredMethod
from chunkwise.models.spec import ModelSpec, parse_model_spec

Source = Literal["flag", "env", "credentials", "default", "python"]
ModelRef = str | BaseChatModel


@dataclass(frozen=True)
class ResolvedModel:
    """Which model a role uses, why, and everything its client is built from (no secrets)."""

    role: str
    name: str  # `provider:model`: for messages, prices and known limits
    spec: ModelSpec | None  # None for a chat model given in Python
    source: Source
    variable: str | None  # the environment variable that decided, if any
    backend: str  # person-readable: `Amazon Bedrock Converse (us-east-1)`, ...
    endpoint: str  # what a rate limit applies to: one account at one region or base URL
    settings: ModelSettings  # with the OpenAI-compatible route's base URL folded in
    cache_scope: str  # what besides the name makes a cached answer reusable
    structured_method: StructuredMethod | None
    build_key: tuple[object, ...] | None  # a built chat model is reused under this key
    instance: BaseChatModel | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        """One line for the CLI: `openai:m · OpenAI-compatible at URL · from env LLM_MODEL`."""
        if self.instance is not None:
            return f"{type(self.instance).__name__} (given in Python)"
        why = f"{self.source} {self.variable}" if self.variable else self.source
        return f"{self.name} · {self.backend} · from {why}"


def _default_method(
    provider: str, settings: ModelSettings, custom_url: bool
) -> StructuredMethod | None:
    if settings.structured_method is not None:
        return settings.structured_method
    if provider in ("bedrock_converse", "amazon_bedrock", "bedrock", "aws"):
        return "function_calling"
    if provider == "openai":
        # OpenAI-compatible servers (OpenRouter, vLLM, Ollama, llama.cpp) support tools more
        # widely than json_schema response formats; OpenAI itself does both.
        return "function_calling" if custom_url else "json_schema"
    return None


def resolve_model(
    role: str,
    ref: ModelRef | None,
    settings: ModelSettings,
    env: Mapping[str, str] | None = None,
) -> ResolvedModel:
    """Resolve a role's model: a chat model given in Python, a spec, or the defaults.

    `env` is what the choice is read from (default `os.environ`); keys are never read here.
    Raises a one-line `ConfigError` for a spec that does not parse.
    """
    if isinstance(ref, BaseChatModel):
        return _resolve_instance(role, ref, settings)
    if ref is not None and not isinstance(ref, str):
        raise ConfigError(f"model must be a spec string or a LangChain chat model, not {ref!r}")
    env = os.environ if env is None else env
    chosen = resolve_spec(role, ref, env)
    spec = parse_model_spec(chosen.spec)
    if spec.provider == "openai":
        base_url = openai_base_url(settings.with_(base_url=settings.base_url or chosen.base_url),
                                   env)
        settings = settings.with_(base_url=base_url)
    endpoint = endpoint_of(spec, settings, env)
    build_key = (
        str(spec), settings.temperature, settings.top_p, settings.max_new_tokens,
        settings.base_url, settings.timeout, settings.context_window, settings.max_in_flight,
        env_fingerprint(env),
    )
    return ResolvedModel(
        role=role,
        name=str(spec),
        spec=spec,
        source=chosen.source,
        variable=chosen.variable,
        backend=backend_of(spec, settings, env),
        endpoint=endpoint,
        settings=settings,
        cache_scope=endpoint,
        structured_method=_default_method(
            spec.provider, settings, not endpoint.startswith("openai:https://api.openai.com")
        ),
        build_key=build_key,
    )


def instance_name(chat: BaseChatModel) -> str:
    """`provider:model` for a chat model given in Python (for names, prices and limits)."""
    try:
        params = chat._get_ls_params()
    except Exception:
        params = {}
    model = str(
        params.get("ls_model_name") or getattr(chat, "model_name", None)
        or getattr(chat, "model", None) or getattr(chat, "model_id", None) or type(chat).__name__
    )
    provider = str(params.get("ls_provider") or type(chat).__name__)
    return f"{provider}:{model}"


# Fields that never change an answer (or hold clients, callbacks and credentials).
_UNKEYED = frozenset({
    "name", "cache", "verbose", "callbacks", "callback_manager", "tags", "metadata",
    "rate_limiter", "custom_get_token_ids", "profile", "disable_streaming", "output_version",
    "max_retries", "request_timeout", "timeout", "streaming", "stream_usage",
    "include_response_headers", "client", "async_client", "root_client", "root_async_client",
    "http_client", "http_async_client", "bedrock_client", "config",
})
# A field named with one of these words may hold a credential: it never enters a cache key.
_SECRET_WORDS = frozenset({
    "key", "apikey", "token", "secret", "password", "credential", "credentials", "auth",
    "authorization", "headers", "cookie", "cookies", "signature",
})


def _secret_name(name: str) -> bool:
    return any(part in _SECRET_WORDS for part in re.split(r"[^a-z0-9]+", name.lower()))


def _stable(value: Any) -> Any:
    """A JSON-able, process-independent form: no secrets, no memory addresses."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, SecretStr):
        return None
    if isinstance(value, Mapping):
        return {
            str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if not _secret_name(str(k))
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [_stable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if callable(value):
        module = getattr(value, "__module__", "") or ""
        return f"{module}.{getattr(value, '__qualname__', type(value).__qualname__)}"
    return f"{type(value).__module__}.{type(value).__qualname__}"


def model_fingerprint(chat: BaseChatModel) -> str:
    """A hash of a chat model's own parameters (server, model, sampling, ...), never its keys:
    two models that would answer differently never share cached answers."""
    try:
        fields = {k: v for k, v in chat.model_dump().items() if k not in _UNKEYED}
    except Exception:
        fields = {}
    try:
        ls_params = dict(chat._get_ls_params())
    except Exception:
        ls_params = {}
    payload = {
        "class": f"{type(chat).__module__}.{type(chat).__qualname__}",
        "params": _stable(fields),
        "ls": _stable(ls_params),
    }
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _resolve_instance(role: str, chat: BaseChatModel, settings: ModelSettings) -> ResolvedModel:
    name = instance_name(chat)
    fingerprint = model_fingerprint(chat)
    kind = type(chat).__name__
    return ResolvedModel(
        role=role,
        name=name,
        spec=None,
        source="python",
        variable=None,
        backend=f"{kind} given in Python",
        endpoint=f"instance:{kind}:{fingerprint[:16]}",
        settings=settings,
        cache_scope=f"instance:{kind}:{fingerprint}",
        structured_method=_default_method(
            name.split(":", 1)[0], settings, bool(getattr(chat, "openai_api_base", None))
        ),
        build_key=None,
        instance=chat,
    )
