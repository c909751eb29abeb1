"""The one seam every model call goes through.

A `ModelClient` wraps a LangChain chat model with what nodes should not have to think about:
the endpoint's shared rate limiter, retry classification, structured output with repair,
usage accounting, progress events, and a content-addressed call cache so a re-run or resumed
run never pays twice for the same (model, parameters, prompt).
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
from chunkwise.models.factory import build_chat_model, endpoint_of
from chunkwise.models.limiter import RateLimiter, limiter_for
from chunkwise.models.limits import limits_for
from chunkwise.models.retry import Backoff, ModelCallError, call_with_retries
from chunkwise.models.settings import ModelSettings, StructuredMethod
from chunkwise.models.spec import ModelSpec, parse_model_spec
from chunkwise.models.usage import Usage, usage_from_metadata
from chunkwise.runtime.blobs import BlobStore
from chunkwise.runtime.progress import emit

T = TypeVar("T", bound=BaseModel)
TASK_TAG = "chunkwise:"  # every call is tagged with its task, for traces and scripted models
Prompt = str | Sequence[BaseMessage]
ModelRef = str | BaseChatModel


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
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
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
        self._backoff = Backoff(settings.max_attempts, settings.backoff_base, settings.backoff_cap)

    # -- cache -------------------------------------------------------------------------------
    def _cache_key(self, task: str, messages: Sequence[BaseMessage], schema: Any = None) -> str:
        payload = {
            "model": self.name,
            "temperature": self.settings.temperature,
            "top_p": self.settings.top_p,
            "max_new_tokens": self.settings.max_new_tokens,
            "task": task,
            "messages": [[m.type, _text_of(m)] for m in messages],
            "schema": schema,
        }
        raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return "call:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()

    # -- one request -------------------------------------------------------------------------
    def _send(self, runnable: Any, messages: list[BaseMessage], task: str) -> Any:
        estimate = _estimate_tokens(messages) + (self.settings.max_new_tokens or 512)

        def attempt() -> Any:
            with self.limiter.slot(estimate) as settle:
                emit("call_started", task=task, model=self.name)
                try:
                    result = runnable.invoke(
                        messages, config={"tags": [TASK_TAG + task], "run_name": task}
                    )
                finally:
                    emit("call_finished", task=task, model=self.name)
                raw = result.get("raw") if isinstance(result, dict) else result
                meta = getattr(raw, "usage_metadata", None) or {}
                if meta:
                    settle(int(meta.get("input_tokens", 0)) + int(meta.get("output_tokens", 0)))
                return result

        def on_retry(info: Any, number: int, wait: float) -> None:
            emit("call_retry", task=task, model=self.name, kind=info.kind, attempt=number,
                 wait=round(wait, 2))

        return call_with_retries(
            attempt, backoff=self._backoff, describe=f"{self.name} ({task})", on_retry=on_retry
        )

    def _usage(self, message: Any, messages: Sequence[BaseMessage]) -> Usage:
        meta = getattr(message, "usage_metadata", None)
        if meta:
            return usage_from_metadata(dict(meta))
        from chunkwise.text.tokens import count_tokens  # models that report nothing: estimate

        out = count_tokens(_text_of(message)) if isinstance(message, BaseMessage) else 0
        return Usage(input_tokens=_estimate_tokens(messages), output_tokens=out, calls=1)

    # -- public ------------------------------------------------------------------------------
    def complete(self, prompt: Prompt, *, task: str) -> Completion:
        """Plain text out; cached by (model, parameters, task, prompt)."""
        messages = _messages(prompt)
        key = self._cache_key(task, messages)
        if self.store is not None and (hit := self.store.cache_get(key)) is not None:
            return Completion(hit["text"], Usage(), cached=True)
        started = time.monotonic()
        reply = self._send(self.chat, messages, task)
        text = _text_of(reply)
        usage = self._usage(reply, messages)
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
        if self.structured_method is not None:
            kwargs["method"] = self.structured_method
        runnable = self.chat.with_structured_output(schema, **kwargs)
        total = Usage()
        for attempt in range(repair_attempts + 1):
            result = self._send(runnable, messages, task)
            raw = result.get("raw")
            total = total + self._usage(raw, messages)
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
            reply_text = _text_of(raw) if isinstance(raw, BaseMessage) else ""
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


_CHAT_MODELS: dict[tuple[str, ModelSettings], BaseChatModel] = {}
_CHAT_LOCK = threading.Lock()


def _default_method(spec: ModelSpec, settings: ModelSettings) -> StructuredMethod | None:
    if settings.structured_method is not None:
        return settings.structured_method
    if spec.provider == "bedrock_converse":
        return "function_calling"
    if spec.provider == "openai":
        return "function_calling" if settings.base_url else "json_schema"
    return None


def get_client(
    ref: ModelRef, settings: ModelSettings, *, store: BlobStore | None = None
) -> ModelClient:
    """A client for a spec string or a ready chat model; chat models are built once per process."""
    if isinstance(ref, BaseChatModel):
        model_id = str(getattr(ref, "model_name", None) or getattr(ref, "model", None)
                       or getattr(ref, "model_id", None) or type(ref).__name__)
        limits = limits_for(model_id)
        window = settings.context_window or int(getattr(ref, "context_window", 0) or 0)
        return ModelClient(
            ref,
            name=f"{type(ref).__name__}:{model_id}",
            endpoint=f"instance:{id(ref)}",
            settings=settings,
            context_window=window or limits.context_window,
            max_output_tokens=settings.max_new_tokens or limits.max_output_tokens,
            limiter=limiter_for(f"instance:{id(ref)}", rpm=settings.rpm, tpm=settings.tpm,
                                min_interval=settings.min_interval),
            store=store,
            structured_method=settings.structured_method,
        )
    if not isinstance(ref, str):
        raise ConfigError(f"model must be a spec string or a LangChain chat model, not {ref!r}")
    spec = parse_model_spec(ref)
    build_settings = settings.with_(rpm=None, tpm=None, min_interval=0.0, cache=True)
    with _CHAT_LOCK:
        chat = _CHAT_MODELS.get((str(spec), build_settings))
        if chat is None:
            chat = build_chat_model(spec, settings)
            _CHAT_MODELS[(str(spec), build_settings)] = chat
    limits = limits_for(spec.model)
    window = settings.context_window or int(getattr(chat, "context_window", 0) or 0)
    endpoint = endpoint_of(spec, settings)
    return ModelClient(
        chat,
        name=str(spec),
        endpoint=endpoint,
        settings=settings,
        context_window=window or limits.context_window,
        max_output_tokens=settings.max_new_tokens or limits.max_output_tokens,
        limiter=limiter_for(endpoint, rpm=settings.rpm, tpm=settings.tpm,
                            min_interval=settings.min_interval),
        store=store,
        structured_method=_default_method(spec, settings),
    )


def clear_model_cache() -> None:
    """Drop built chat models (tests that change the environment between cases)."""
    with _CHAT_LOCK:
        _CHAT_MODELS.clear()
