"""Build a LangChain chat model from a spec, with SDK retries off (the seam owns retries)."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel

from chunkwise.errors import ConfigError
from chunkwise.models.settings import ModelSettings
from chunkwise.models.spec import ModelSpec


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sampling(settings: ModelSettings) -> dict[str, Any]:
    values = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_new_tokens,
    }
    return {k: v for k, v in values.items() if v is not None}


def aws_region(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def _bedrock(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    import boto3
    from botocore.config import Config
    from langchain_aws import ChatBedrockConverse

    if boto3.Session().get_credentials() is None and not os.environ.get("AWS_BEARER_TOKEN_BEDROCK"):
        raise ConfigError(
            f"no AWS credentials for {spec}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
            "AWS_PROFILE, or pick another backend (e.g. --model openai:MODEL --base-url URL)"
        )
    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        read_timeout=settings.timeout,
        connect_timeout=min(settings.timeout, 10.0),
    )
    kwargs: dict[str, Any] = {"model": spec.model, "region_name": aws_region(), "config": config}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME") or settings.base_url
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    return ChatBedrockConverse(**kwargs, **_sampling(settings))


def openai_api_key(base_url: str | None) -> str | None:
    """LLM_API_KEY, then OPENAI_API_KEY; a loopback server may go without one."""
    key = os.environ.get("LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if base_url and _is_loopback(base_url):
        return "not-needed"
    return None


def _openai(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    base_url = settings.base_url
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
    }
    if base_url:
        kwargs["base_url"] = base_url
    return ChatOpenAI(**kwargs, **_sampling(settings))


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
        raise ConfigError(f"cannot set up {spec}: {' '.join(str(exc).split())}") from None
    if not isinstance(model, BaseChatModel):
        raise ConfigError(f"{spec} did not give a chat model")
    return model


def build_chat_model(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    """A chat model for `spec`; credentials come from the environment, never from settings."""
    if spec.provider == "bedrock_converse":
        return _bedrock(spec, settings)
    if spec.provider == "openai":
        return _openai(spec, settings)
    if spec.provider == "local":
        return _local(spec, settings)
    return _generic(spec, settings)


def endpoint_of(spec: ModelSpec, settings: ModelSettings) -> str:
    """What a rate limit applies to: one provider account at one region or base URL."""
    if spec.provider == "bedrock_converse":
        return f"bedrock:{os.environ.get('AWS_ENDPOINT_URL_BEDROCK_RUNTIME') or aws_region()}"
    if spec.provider == "local":
        return "local"
    return f"{spec.provider}:{settings.base_url or 'default'}"
