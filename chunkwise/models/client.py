"""The one seam every model call goes through.

A `ModelClient` wraps a LangChain chat model with what nodes should not have to think about:
the endpoint's shared rate limiter, retry classification, structured output with repair,
usage and cost accounting, progress events, and a content-addressed call cache so a re-run or
resumed run never pays twice for the same (model, endpoint, parameters, prompt).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from chunkwise.errors import ConfigError
from chunkwise.models.adapter import TASK_TAG  # every call is tagged with its task
from chunkwise.models.factory import build_chat_model, endpoint_of, env_fingerprint
from chunkwise.models.limiter import RateLimiter, limiter_for
from chunkwise.models.limits import limits_for
from chunkwise.models.retry import (
    Backoff,
    Classified,
    ModelCallError,
    call_with_retries,
    classify,
)
from chunkwise.models.settings import ModelSettings, StructuredMethod
from chunkwise.models.spec import ModelSpec, parse_model_spec
from chunkwise.models.usage import Usage, priced, usage_from_metadata
from chunkwise.runtime.blobs import BlobStore
from chunkwise.runtime.progress import emit

T = TypeVar("T", bound=BaseModel)
Prompt = str | Sequence[BaseMessage]
ModelRef = str | BaseChatModel
DEFAULT_OUTPUT_ESTIMATE = 512  # output tokens booked against --tpm when --max-new-tokens is unset


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    cached: bool = False


@dataclass(frozen=True)
class Structured(Generic[T]):
    value: T
    usage: Usage
    cached: bool = False


def _messages(prompt: Prompt) -> list[BaseMessage]:
    return [HumanMessage(prompt)] if isinstance(prompt, str) else list(prompt)


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)


def _estimate_tokens(messages: Sequence[BaseMessage]) -> int:
    from chunkwise.text.tokens import count_tokens

    return sum(count_tokens(_text_of(m)) + 4 for m in messages)


class ModelClient:
    """A chat model plus limiter, retries, cache and usage, for one role of a run."""

    def __init__(
        self,
        chat: BaseChatModel,
        *,
        name: str,
        endpoint: str,
        settings: ModelSettings,
        context_window: int,
        max_output_tokens: int,
        limiter: RateLimiter,
        store: BlobStore | None = None,
        structured_method: StructuredMethod | None = None,
        sdk_attempts: int = 1,
        cache_scope: str | None = None,
    ) -> None:
        self.chat = chat
        self.name = name
        self.endpoint = endpoint
        self.settings = settings
        self.context_window = context_window
        self.max_output_tokens = max_output_tokens
        self.limiter = limiter
        self.store = store if settings.cache else None
        self.structured_method = structured_method
        # what, besides the model name, makes an answer reusable: the endpoint (stable across
        # processes; a Python-given model's endpoint holds its id, so it passes its class)
        self.cache_scope = cache_scope or endpoint
        # a chat model given in Python may retry inside its SDK: keep the total within bounds
        attempts = max(1, settings.max_attempts // max(1, sdk_attempts))
        self._backoff = Backoff(
            attempts, settings.backoff_base, settings.backoff_cap, settings.max_retry_after
        )

    def __repr__(self) -> str:
        return f"ModelClient({self.name!r}, endpoint={self.endpoint!r})"

    # -- cache -------------------------------------------------------------------------------
    def _cache_key(
        self,
        task: str,
        messages: Sequence[BaseMessage],
        schema: Any = None,
        *,
        max_tokens: int | None = None,
    ) -> str:
        payload = {
            "model": self.name,
            "endpoint": self.cache_scope,
            "temperature": self.settings.temperature,
            "top_p": self.settings.top_p,
            "max_new_tokens": self.settings.max_new_tokens,
            "task": task,
            "messages": [[m.type, _text_of(m)] for m in messages],
            "schema": schema,
        }
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return "call:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()

    # -- one request -------------------------------------------------------------------------
    def _send(self, runnable: Any, messages: list[BaseMessage], task: str) -> tuple[Any, int]:
        """One logical call: limiter slot per attempt, retries; returns (result, retries)."""
        estimate = _estimate_tokens(messages) + (
            self.settings.max_new_tokens or DEFAULT_OUTPUT_ESTIMATE
        )
        retries = 0

        def attempt() -> Any:
            with self.limiter.slot(estimate) as settle:
                emit("call_started", task=task, model=self.name)
                ok = False
                try:
                    result = runnable.invoke(
                        messages,
                        config={
                            "tags": [TASK_TAG + task],
                            "run_name": task,
                            "metadata": {"chunkwise_task": task, "chunkwise_model": self.name},
                        },
                    )
                    ok = True
                except Exception as exc:
                    info = classify(exc)
                    if info.kind == "throttled" and info.retry_after:
                        # before this slot frees: no other branch starts inside the server's pause
                        self.limiter.hold(min(info.retry_after, self._backoff.max_retry_after))
                    raise
                finally:
                    emit("call_finished", task=task, model=self.name, ok=ok)
                raw = result.get("raw") if isinstance(result, dict) else result
                meta = getattr(raw, "usage_metadata", None) or {}
                if meta:
                    settle(int(meta.get("input_tokens") or 0) + int(meta.get("output_tokens") or 0))
                return result

        def on_retry(info: Classified, number: int, wait: float) -> None:
            nonlocal retries
            retries += 1
            emit("call_retry", task=task, model=self.name, kind=info.kind, attempt=number,
                 wait=round(wait, 2), status=info.status)

        result = call_with_retries(
            attempt, backoff=self._backoff, describe=f"{self.name} ({task})", on_retry=on_retry
        )
        return result, retries

    def _usage(self, message: Any, messages: Sequence[BaseMessage], retries: int = 0) -> Usage:
        meta = getattr(message, "usage_metadata", None)
        if meta:
            usage = usage_from_metadata(dict(meta))
        else:  # models that report nothing: estimate
            from chunkwise.text.tokens import count_tokens

            out = count_tokens(_text_of(message)) if isinstance(message, BaseMessage) else 0
            usage = Usage(input_tokens=_estimate_tokens(messages), output_tokens=out, calls=1)
        if retries:
            usage = usage.model_copy(update={"retries": retries})
        return priced(usage, self.name)

    # -- public ------------------------------------------------------------------------------
    def complete(self, prompt: Prompt, *, task: str, max_tokens: int | None = None) -> Completion:
        """Plain text out; cached by (model, endpoint, parameters, task, prompt).

        `max_tokens` caps this call's reply below `--max-new-tokens` (small models ramble past
        a requested length; the cap keeps them to it)."""
        messages = _messages(prompt)
        if max_tokens is not None and self.settings.max_new_tokens is not None:
            max_tokens = min(max_tokens, self.settings.max_new_tokens)
        key = self._cache_key(task, messages, max_tokens=max_tokens)
        if self.store is not None and (hit := self.store.cache_get(key)) is not None:
            return Completion(hit["text"], Usage(), cached=True)
        started = time.monotonic()
        chat = self.chat if max_tokens is None else self.chat.bind(max_tokens=max_tokens)
        reply, retries = self._send(chat, messages, task)
        text = _text_of(reply)
        usage = self._usage(reply, messages, retries)
        if self.store is not None:
            self.store.cache_put(key, {"text": text, "seconds": time.monotonic() - started})
        return Completion(text, usage)

    def structured(
        self, prompt: Prompt, schema: type[T], *, task: str, repair_attempts: int = 2
    ) -> Structured[T]:
        """A validated pydantic object; an invalid answer is sent back with its errors."""
        messages = _messages(prompt)
        key = self._cache_key(task, messages, schema.model_json_schema())
        if self.store is not None and (hit := self.store.cache_get(key)) is not None:
            return Structured(schema.model_validate(hit["value"]), Usage(), cached=True)
        kwargs: dict[str, Any] = {"include_raw": True}
        target: Any = schema
        if self.structured_method is not None:
            kwargs["method"] = self.structured_method
        if self.structured_method == "json_schema":
            # ChatOpenAI validates a pydantic response_format inside the call and raises, which
            # would skip the repair turn; with the JSON schema we validate (and repair) here.
            target = {"title": schema.__name__, **schema.model_json_schema()}
        runnable = self.chat.with_structured_output(target, **kwargs)
        total = Usage()
        for attempt in range(repair_attempts + 1):
            result, retries = self._send(runnable, messages, task)
            raw = result.get("raw")
            total = total + self._usage(raw, messages, retries)
            parsed, error = result.get("parsed"), result.get("parsing_error")
            if parsed is not None and error is None:
                try:
                    value = parsed if isinstance(parsed, schema) else schema.model_validate(parsed)
                except ValidationError as exc:
                    error = exc
                else:
                    if self.store is not None:
                        self.store.cache_put(key, {"value": value.model_dump(mode="json")})
                    return Structured(value, total)
            if attempt == repair_attempts:
                detail = " ".join(str(error or "no structured answer").split())[:500]
                raise ModelCallError(
                    f"{self.name} ({task}): invalid structured output after "
                    f"{attempt + 1} attempts: {detail}",
                    kind="validation",
                    attempts=attempt + 1,
                )
            reply_text = _answer_text(raw)
            messages = [
                *messages,
                AIMessage(reply_text or "(no answer)"),
                HumanMessage(
                    "That answer does not match the required schema: "
                    f"{' '.join(str(error or 'no structured answer').split())[:1500]}\n"
                    "Answer again with every required field, valid values only."
                ),
            ]
        raise AssertionError("unreachable")


def _answer_text(raw: Any) -> str:
    """What the model said, for the repair turn: its text, else its tool call arguments."""
    if not isinstance(raw, BaseMessage):
        return ""
    text = _text_of(raw)
    calls = getattr(raw, "tool_calls", None) or []
    if not text and calls:
        text = json.dumps(calls[0].get("args", {}), ensure_ascii=False, default=str)
    return text


# -- building clients ----------------------------------------------------------------------
_CHAT_MODELS: dict[tuple[object, ...], BaseChatModel] = {}
_CHAT_LOCK = threading.Lock()
_BUILD_LOCKS: dict[tuple[object, ...], threading.Lock] = {}


def _build_key(spec: ModelSpec, settings: ModelSettings) -> tuple[object, ...]:
    """What a built chat model depends on: the spec, sampling, endpoint, timeout and env."""
    return (
        str(spec), settings.temperature, settings.top_p, settings.max_new_tokens,
        settings.base_url, settings.timeout, settings.context_window, settings.max_in_flight,
        env_fingerprint(),
    )


def _default_method(
    provider: str, settings: ModelSettings, custom_url: bool
) -> StructuredMethod | None:
    if settings.structured_method is not None:
        return settings.structured_method
    if provider in ("bedrock_converse", "amazon_bedrock", "bedrock"):
        return "function_calling"
    if provider == "openai":
        # OpenAI-compatible servers (OpenRouter, vLLM, Ollama, llama.cpp) support tools more
        # widely than json_schema response formats; OpenAI itself does both.
        return "function_calling" if custom_url else "json_schema"
    return None


def _limiter(endpoint: str, settings: ModelSettings) -> RateLimiter:
    return limiter_for(
        endpoint,
        rpm=settings.rpm,
        tpm=settings.tpm,
        min_interval=settings.min_interval,
        max_in_flight=settings.max_in_flight,
        window=settings.rate_window,
    )


def _instance_spec(chat: BaseChatModel) -> str:
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


def _without_sdk_retries(chat: BaseChatModel) -> tuple[BaseChatModel, int]:
    """A copy of a Python-given chat model with its SDK retries off when that is possible,
    else the model and how many HTTP requests one of its calls may make."""
    from langchain_openai.chat_models.base import BaseChatOpenAI

    if isinstance(chat, BaseChatOpenAI):
        root = getattr(chat, "root_client", None)
        if root is not None and int(getattr(root, "max_retries", 0) or 0) > 0:
            copy = chat.model_copy(update={"max_retries": 0})
            sync_root = root.with_options(max_retries=0)
            copy.root_client = sync_root
            copy.client = sync_root.chat.completions
            root_async = getattr(chat, "root_async_client", None)
            if root_async is not None:
                async_root = root_async.with_options(max_retries=0)
                copy.root_async_client = async_root
                copy.async_client = async_root.chat.completions
            return copy, 1
        return chat, 1
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


def _client(
    chat: BaseChatModel,
    *,
    name: str,
    model_id: str,
    endpoint: str,
    settings: ModelSettings,
    store: BlobStore | None,
    **extra: Any,
) -> ModelClient:
    """A client whose window and output cap come from settings, the model, or known limits."""
    limits = limits_for(model_id)
    window = settings.context_window or int(getattr(chat, "context_window", 0) or 0)
    return ModelClient(
        chat,
        name=name,
        endpoint=endpoint,
        settings=settings,
        context_window=window or limits.context_window,
        max_output_tokens=settings.max_new_tokens or limits.max_output_tokens,
        limiter=_limiter(endpoint, settings),
        store=store,
        **extra,
    )


def get_client(
    ref: ModelRef, settings: ModelSettings, *, store: BlobStore | None = None
) -> ModelClient:
    """A client for a spec string or a ready chat model; chat models are built once per process
    (per spec, build settings and environment)."""
    if isinstance(ref, BaseChatModel):
        chat, sdk_attempts = _without_sdk_retries(ref)
        name = _instance_spec(ref)
        custom_url = bool(getattr(ref, "openai_api_base", None))
        return _client(
            chat,
            name=name,
            model_id=name,
            endpoint=f"instance:{type(ref).__name__}:{id(ref)}",
            settings=settings,
            store=store,
            structured_method=_default_method(name.split(":", 1)[0], settings, custom_url),
            sdk_attempts=sdk_attempts,
            cache_scope=f"instance:{type(ref).__name__}",
        )
    if not isinstance(ref, str):
        raise ConfigError(f"model must be a spec string or a LangChain chat model, not {ref!r}")
    spec = parse_model_spec(ref)
    key = _build_key(spec, settings)
    with _CHAT_LOCK:
        chat_model = _CHAT_MODELS.get(key)
        build_lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
    if chat_model is None:
        with build_lock:  # one build per key, other keys not blocked (a local model loads slowly)
            with _CHAT_LOCK:
                chat_model = _CHAT_MODELS.get(key)
            if chat_model is None:
                chat_model = build_chat_model(spec, settings)
                with _CHAT_LOCK:
                    _CHAT_MODELS[key] = chat_model
    endpoint = endpoint_of(spec, settings)
    return _client(
        chat_model,
        name=str(spec),
        model_id=spec.model,
        endpoint=endpoint,
        settings=settings,
        store=store,
        structured_method=_default_method(
            spec.provider, settings, not endpoint.startswith("openai:https://api.openai.com")
        ),
    )


def clear_model_cache() -> None:
    """Drop built chat models (tests that change the environment between cases)."""
    with _CHAT_LOCK:
        _CHAT_MODELS.clear()
        _BUILD_LOCKS.clear()
