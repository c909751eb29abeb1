"""Build a LangChain chat model from a spec, with SDK retries off (the seam owns retries).

- `bedrock_converse:<model id>` -> `ChatBedrockConverse` with botocore `total_max_attempts=1`
  (exactly one HTTP request per call; botocore's `max_attempts=1` would be one *retry*), read
  timeout from the settings, region from `AWS_REGION`/`AWS_DEFAULT_REGION` (default us-east-1)
  and the endpoint from `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` when set (a VPC endpoint, a proxy, a
  test server). `--base-url` does not apply to Bedrock.
- `openai:<model>` -> `ChatOpenAI(max_retries=0)` on the OpenAI-compatible route: the base URL
  is `--base-url`, else `LLM_BASE_URL`, else OpenRouter when `LLM_API_KEY` is set, else
  api.openai.com; the key is `LLM_API_KEY` (or `OPENAI_API_KEY`); a loopback server needs none.
- `local:<name>` -> the embedded llama.cpp model (`chunkwise.models.local`).
- any other `provider:model` -> `init_chat_model(..., max_retries=0)`.

OpenAI models keep their response headers (`include_response_headers=True`) so the limiter can
read the provider's rate limits. A chat model given in Python gets the same treatment on a copy
(`without_sdk_retries`). `with_reply_cap` binds a per-call output cap under the name the
server reads.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel

from chunkwise.errors import ConfigError
from chunkwise.models.secrets import protect_sdk_loggers, redact
from chunkwise.models.settings import ModelSettings
from chunkwise.models.spec import ModelSpec

OPENAI_COMPAT_BASE_URL = "https://openrouter.ai/api/v1"
BEDROCK_ENDPOINT_ENV = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
# Environment variables that change which chat model a spec builds (hashed into cache keys).
BUILD_ENV = (
    "LLM_API_KEY", "OPENAI_API_KEY", "LLM_BASE_URL", "OPENAI_BASE_URL", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", BEDROCK_ENDPOINT_ENV, "AWS_ENDPOINT_URL",
    "CHUNKWISE_LOCAL_MODEL", "CHUNKWISE_LOCAL_N_CTX", "CHUNKWISE_MODEL_CACHE",
)


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_fingerprint(env: Mapping[str, str] | None = None) -> str:
    """A hash of the variables that shape a built model: rebuild when they change, store none."""
    env = _env(env)
    raw = "\0".join(f"{name}={env.get(name, '')}" for name in BUILD_ENV)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def _sampling(settings: ModelSettings) -> dict[str, Any]:
    values = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_new_tokens,
    }
    return {k: v for k, v in values.items() if v is not None}


def aws_region(env: Mapping[str, str] | None = None) -> str:
    env = _env(env)
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def bedrock_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    return _env(env).get(BEDROCK_ENDPOINT_ENV) or None


def bedrock_client_config(settings: ModelSettings) -> Any:
    """botocore Config: one attempt per call, the run's timeout, a pool for parallel branches."""
    from botocore.config import Config

    pool = max(10, settings.max_in_flight or 0, 32)
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=settings.timeout,
        connect_timeout=min(settings.timeout, 10.0),
        max_pool_connections=pool,
    )


def _bedrock(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    import boto3
    from langchain_aws import ChatBedrockConverse

    if not os.environ.get("AWS_BEARER_TOKEN_BEDROCK"):
        try:
            credentials = boto3.Session().get_credentials()
        except Exception as exc:  # a broken profile or config file
            raise ConfigError(f"AWS credentials for {spec}: {redact(str(exc))}") from None
        if credentials is None:
            raise ConfigError(
                f"no AWS credentials for {spec}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                "AWS_PROFILE, or pick another backend (e.g. --model openai:MODEL --base-url URL)"
            )
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "region_name": aws_region(),
        "config": bedrock_client_config(settings),
    }
    endpoint = bedrock_endpoint()
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    try:
        return ChatBedrockConverse(**kwargs, **_sampling(settings))
    except Exception as exc:
        raise ConfigError(f"cannot set up {spec}: {redact(' '.join(str(exc).split()))}") from None


def openai_base_url(
    settings: ModelSettings, env: Mapping[str, str] | None = None
) -> str | None:
    """The OpenAI-compatible route's base URL (None: api.openai.com)."""
    env = _env(env)
    if settings.base_url:
        return settings.base_url
    if env.get("LLM_BASE_URL"):
        return env["LLM_BASE_URL"]
    if env.get("LLM_API_KEY"):
        return OPENAI_COMPAT_BASE_URL
    return env.get("OPENAI_BASE_URL") or None


def openai_api_key(base_url: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """LLM_API_KEY, then OPENAI_API_KEY (the other way round for api.openai.com itself);
    a loopback server may go without one."""
    env = _env(env)
    names = ("OPENAI_API_KEY", "LLM_API_KEY") if base_url is None else (
        "LLM_API_KEY", "OPENAI_API_KEY")
    for name in names:
        if env.get(name):
            return env[name]
    if base_url and is_loopback(base_url):
        return "not-needed"
    return None


def _openai(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    base_url = openai_base_url(settings)
    key = openai_api_key(base_url)
    if key is None:
        where = base_url or "api.openai.com"
        raise ConfigError(
            f"no API key for {spec} at {where}: export LLM_API_KEY (or OPENAI_API_KEY)"
        )
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "api_key": key,
        "timeout": settings.timeout,
        "max_retries": 0,
        "stream_usage": True,
        "include_response_headers": True,  # rate-limit headers for the limiter
    }
    sampling = _sampling(settings)
    if base_url:
        kwargs["base_url"] = base_url
        # OpenAI-compatible servers speak chat completions, not OpenAI's Responses API
        kwargs["use_responses_api"] = False
        if "max_tokens" in sampling:
            # ChatOpenAI renames max_tokens to OpenAI's newer max_completion_tokens, which not
            # every compatible server (llama.cpp, Ollama, older vLLM) reads; send the classic name
            kwargs["extra_body"] = {"max_tokens": sampling.pop("max_tokens")}
    try:
        return ChatOpenAI(**kwargs, **sampling)
    except Exception as exc:
        raise ConfigError(f"cannot set up {spec}: {redact(' '.join(str(exc).split()))}") from None


def _local(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    from chunkwise.models.local import build_local_chat_model

    return build_local_chat_model(
        spec.model,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=settings.max_new_tokens,
        n_ctx=settings.context_window,
    )


def _generic(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {**_sampling(settings), "timeout": settings.timeout, "max_retries": 0}
    if settings.base_url:
        kwargs["base_url"] = settings.base_url
    try:
        model = init_chat_model(spec.model, model_provider=spec.provider, **kwargs)
    except ImportError as exc:
        raise ConfigError(
            f"provider {spec.provider!r} needs its LangChain package: {exc}; pip install it"
        ) from None
    except Exception as exc:
        raise ConfigError(f"cannot set up {spec}: {redact(' '.join(str(exc).split()))}") from None
    if not isinstance(model, BaseChatModel):
        raise ConfigError(f"{spec} did not give a chat model")
    return model


def build_chat_model(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    """A chat model for `spec`; credentials come from the environment, never from settings."""
    if spec.provider == "bedrock_converse":
        chat = _bedrock(spec, settings)
    elif spec.provider == "openai":
        chat = _openai(spec, settings)
    elif spec.provider == "local":
        chat = _local(spec, settings)
    else:
        chat = _generic(spec, settings)
    protect_sdk_loggers()  # the SDK modules are imported now: filter their debug logs
    return chat


def endpoint_of(
    spec: ModelSpec, settings: ModelSettings, env: Mapping[str, str] | None = None
) -> str:
    """What a rate limit applies to: one provider account at one region or base URL."""
    if spec.provider == "bedrock_converse":
        return f"bedrock:{bedrock_endpoint(env) or aws_region(env)}"
    if spec.provider == "local":
        return "local"
    if spec.provider == "openai":
        return f"openai:{openai_base_url(settings, env) or 'https://api.openai.com/v1'}"
    return f"{spec.provider}:{settings.base_url or 'default'}"


def backend_of(
    spec: ModelSpec, settings: ModelSettings, env: Mapping[str, str] | None = None
) -> str:
    """A person-readable backend name: `Amazon Bedrock (us-east-1)`, `OpenAI-compatible at ...`."""
    if spec.provider == "bedrock_converse":
        where = bedrock_endpoint(env) or aws_region(env)
        return f"Amazon Bedrock Converse ({where})"
    if spec.provider == "openai":
        where = openai_base_url(settings, env) or "https://api.openai.com/v1"
        return f"OpenAI-compatible at {where}"
    if spec.provider == "local":
        return "embedded llama.cpp (offline)"
    where = f" at {settings.base_url}" if settings.base_url else ""
    return f"{spec.provider} via init_chat_model{where}"


def _is_chat_openai(chat: BaseChatModel) -> bool:
    """Whether `chat` is a ChatOpenAI, without importing langchain-openai to find out.

    An instance means the module is loaded; importing it only to ask cost every other model
    (Bedrock, local, scripted) 0.85 s, paid by the first call of a run. Another thread may be
    importing it right now (in sys.modules half-built): no class yet means no instance."""
    openai_class = getattr(sys.modules.get("langchain_openai.chat_models.base"),
                           "BaseChatOpenAI", None)
    return openai_class is not None and isinstance(chat, openai_class)


def _compatible_server(chat: BaseChatModel) -> bool:
    """A ChatOpenAI pointed anywhere but OpenAI itself (llama.cpp, Ollama, vLLM, OpenRouter)."""
    if not _is_chat_openai(chat):
        return False
    base = str(getattr(chat, "openai_api_base", None) or "")
    return bool(base) and not base.startswith("https://api.openai.com")


def with_reply_cap(chat: BaseChatModel, max_tokens: int) -> Any:
    """`chat` with this call's reply capped at `max_tokens`.

    ChatOpenAI sends `max_tokens` as OpenAI's newer `max_completion_tokens`, which llama.cpp's
    server, Ollama and older vLLM ignore; on a compatible server the classic name goes in the
    request body instead (merged into the model's own `extra_body`)."""
    if _compatible_server(chat):
        extra = dict(getattr(chat, "extra_body", None) or {})
        return chat.bind(extra_body={**extra, "max_tokens": max_tokens})
    return chat.bind(max_tokens=max_tokens)


def with_structured_reply_cap(chat: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of `chat` whose replies stop at `max_tokens` (or its own lower cap), for a
    structured call: `with_structured_output` builds on the model itself, so a `bind` as in
    `with_reply_cap` would be lost. A model without a `max_tokens` setting is returned as is."""
    if "max_tokens" not in type(chat).model_fields:
        return chat
    current = getattr(chat, "max_tokens", None)
    cap = max_tokens if not isinstance(current, int) else min(current, max_tokens)
    return chat.model_copy(update={"max_tokens": cap})


def without_sdk_retries(chat: BaseChatModel) -> tuple[BaseChatModel, int]:
    """A copy of a Python-given chat model with its SDK retries off when that is possible,
    else the model and how many HTTP requests one of its calls may make.

    For ChatOpenAI this rewrites private attributes of langchain-openai (`root_client`,
    `client`, `root_async_client`, `async_client`: the SDK clients it builds at validation);
    tests/servers/test_openai_http.py fails if a new langchain-openai renames them. The copy
    also keeps response headers (the provider's rate limits, for the limiter)."""
    if _is_chat_openai(chat):
        update: dict[str, Any] = {"include_response_headers": True}
        root = getattr(chat, "root_client", None)
        if root is None or int(getattr(root, "max_retries", 0) or 0) <= 0:
            return chat.model_copy(update=update), 1
        copy: Any = chat.model_copy(update={**update, "max_retries": 0})  # a ChatOpenAI
        sync_root = root.with_options(max_retries=0)
        copy.root_client = sync_root
        copy.client = sync_root.chat.completions
        root_async = getattr(chat, "root_async_client", None)
        if root_async is not None:
            async_root = root_async.with_options(max_retries=0)
            copy.root_async_client = async_root
            copy.async_client = async_root.chat.completions
        return copy, 1
    client = getattr(chat, "client", None)
    config = getattr(getattr(client, "meta", None), "config", None)
    retries = getattr(config, "retries", None)
    if isinstance(retries, dict):  # botocore: total_max_attempts after client creation
        total = retries.get("total_max_attempts")
        if total is None:  # botocore's defaults: 3 attempts (standard, adaptive), 5 (legacy)
            total = 5 if retries.get("mode") == "legacy" else 3
        return chat, max(1, int(total))
    max_retries = getattr(chat, "max_retries", None)
    if isinstance(max_retries, int) and max_retries > 0:
        return chat, max_retries + 1
    return chat, 1
