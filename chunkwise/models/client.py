"""The one seam every model call goes through.

A `ModelClient` wraps a LangChain chat model with what nodes should not have to think about:
the endpoint's shared rate limiter, retry classification, structured output with repair,
usage and cost accounting, progress events, and a content-addressed call cache so a re-run or
resumed run never pays twice for the same (model, endpoint, parameters, prompt).

`client_for(resolve_model(role, ref, settings), store=...)` is the only way to get one: the
resolution (`models.resolve`) decides everything once, and the chat model it names is built
once per process per build key (a local model loads slowly).

Why not LangChain's own helpers:
- `Runnable.with_retry` retries on exception types with its own backoff, on top of the SDK's
  retries: it neither tells a 429 from a 400 across OpenAI, botocore and LangChain's error
  types, nor honours Retry-After, nor pauses the other branches of the endpoint, nor bounds
  the attempts in total. `models.retry` does those, and SDK retries are off.
- `InMemoryRateLimiter` is a requests-per-second bucket attached to one chat model object: no
  tokens per minute, no calls in flight, no settling to reported usage, no adapting to 429s or
  rate-limit headers, and not shared by the roles and processes that use one provider account.
  `models.limiter` is per endpoint, and pluggable across processes.
- `set_llm_cache` is one global cache for the whole process (the host's own LangChain calls
  included) keyed on the raw messages: it cannot live in the run's own blob store beside the
  checkpoints, would cache an invalid structured answer as readily as a repaired one, and a
  hit would still take a limiter slot. The seam caches validated results per task.
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

from chunkwise.models.adapter import TASK_TAG  # every call is tagged with its task
from chunkwise.models.factory import (
    build_chat_model,
    with_reply_cap,
    with_structured_reply_cap,
    without_sdk_retries,
)
from chunkwise.models.headers import error_headers, provider_limits, response_headers
from chunkwise.models.limiter import Feedback, Limiter, limiter_for
from chunkwise.models.limits import ModelLimits, model_limits
from chunkwise.models.resolve import ResolvedModel
from chunkwise.models.retry import (
    Backoff,
    Classified,
    ModelCallError,
    call_with_retries,
    classify,
)
from chunkwise.models.secrets import redact
from chunkwise.models.usage import Usage, priced, usage_from_metadata
from chunkwise.runtime.blobs import BlobStore
from chunkwise.runtime.call_gate import call_slot
from chunkwise.runtime.progress import emit

T = TypeVar("T", bound=BaseModel)
Prompt = str | Sequence[BaseMessage]
DEFAULT_OUTPUT_ESTIMATE = 512  # output tokens booked against --tpm when --max-new-tokens is unset


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    cached: bool = False
    retry_seconds: float = 0.0  # waited between attempts (backoff and Retry-After)


@dataclass(frozen=True)
class Structured(Generic[T]):
    value: T
    usage: Usage
    cached: bool = False
    retry_seconds: float = 0.0


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


def _takes_history(chat: Any) -> bool:
    """Whether `chat` can be told what its reply must not copy (`complete(history=...)`): the
    local backend's chat model, whose prose sampling has DRY."""
    return getattr(chat, "prose_repetition", None) is not None


class ModelClient:
    """A chat model plus limiter, retries, cache and usage, for one role of a run."""

    def __init__(
        self,
        chat: BaseChatModel,
        resolved: ResolvedModel,
        *,
        limits: ModelLimits,
        limiter: Limiter,
        store: BlobStore | None = None,
        sdk_attempts: int = 1,
    ) -> None:
        settings = resolved.settings
        self.chat = chat
        self.resolved = resolved
        self.name = resolved.name
        self.endpoint = resolved.endpoint
        self.settings = settings
        self.limits = limits
        self.context_window = limits.context_window
        self.max_output_tokens = limits.max_output_tokens
        self.limiter = limiter
        self.store = store if settings.cache else None
        self.structured_method = resolved.structured_method
        # what, besides the model name, makes an answer reusable: the endpoint, or for a model
        # given in Python its own parameters (stable across processes)
        self.cache_scope = resolved.cache_scope
        # a chat model given in Python may retry inside its SDK: keep the total within bounds
        attempts = max(1, settings.max_attempts // max(1, sdk_attempts))
        self._backoff = Backoff(
            attempts, settings.backoff_base, settings.backoff_cap, settings.max_retry_after,
            settings.max_throttle_wait,
        )
        instance = resolved.instance
        self._price_url = (getattr(instance, "openai_api_base", None) if instance is not None
                           else settings.base_url)

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
        history: str = "",
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
        if history:
            payload["history"] = history
        raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return "call:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()

    # -- one request -------------------------------------------------------------------------
    def _send(
        self, runnable: Any, messages: list[BaseMessage], task: str, item: int | None = None,
        *, prompt_tokens: int, reply_cap: int | None = None,
    ) -> tuple[Any, int, float]:
        """One logical call: a limiter permit per attempt, retries; returns (result, retries,
        seconds waited between attempts). `item` (a chunk, part or section index) tags the
        call for tracers and progress events. `prompt_tokens` is the prompt's count, made once
        per call (`_estimate_tokens`) for both the permit and an estimated usage.

        The permit books the prompt plus the reply cap this request carries (`reply_cap`, else
        `--max-new-tokens`): OpenAI charges `max_tokens` against TPM when it admits a request,
        so booking less (a default guess under a larger per-call cap) let the limiter admit
        faster than the provider would."""
        cap = reply_cap or self.settings.max_new_tokens or DEFAULT_OUTPUT_ESTIMATE
        estimate = prompt_tokens + cap
        retries, waited = 0, 0.0
        tags = [TASK_TAG + task] + ([f"item:{item}"] if item is not None else [])
        metadata = {"chunkwise_task": task, "chunkwise_model": self.name, "chunkwise_item": item}
        config = {"tags": tags, "run_name": task, "metadata": metadata}

        def attempt() -> Any:
            permit = self.limiter.acquire(estimate)
            emit("call_started", task=task, model=self.name, index=item)
            try:
                result = runnable.invoke(messages, config=config)
            except Exception as exc:
                info = classify(exc)
                after = info.retry_after
                if after is not None:
                    after = min(after, self._backoff.max_retry_after)
                # before the permit is released: no other branch starts inside the server's pause
                self.limiter.feedback(permit, Feedback(
                    throttled=info.kind == "throttled", retry_after=after,
                    limits=provider_limits(error_headers(exc)),
                ))
                emit("call_finished", task=task, model=self.name, index=item, ok=False,
                     error=redact(f"{info.kind}: {' '.join(info.message.split())[:300]}"))
                raise
            finally:
                self.limiter.release(permit)
            raw = result.get("raw") if isinstance(result, dict) else result
            meta = getattr(raw, "usage_metadata", None) or {}
            used = int(meta.get("input_tokens") or 0) + int(meta.get("output_tokens") or 0)
            emit("call_finished", task=task, model=self.name, index=item, ok=True,
                 tokens=used if meta else None)
            if meta:
                self.limiter.settle(permit, used)
            self.limiter.feedback(permit, Feedback(limits=provider_limits(response_headers(raw))))
            return result

        def on_retry(info: Classified, number: int, wait: float) -> None:
            nonlocal retries, waited
            retries += 1
            waited += wait
            emit("call_retry", task=task, model=self.name, index=item, kind=info.kind,
                 attempt=number, wait=round(wait, 2), status=info.status)

        result = call_with_retries(
            attempt, backoff=self._backoff, describe=f"{self.name} ({task})", on_retry=on_retry
        )
        return result, retries, waited

    def _usage(self, message: Any, prompt_tokens: int, retries: int = 0) -> Usage:
        meta = getattr(message, "usage_metadata", None)
        if meta:
            usage = usage_from_metadata(dict(meta))
        else:  # models that report nothing: estimate
            from chunkwise.text.tokens import count_tokens

            out = count_tokens(_text_of(message)) if isinstance(message, BaseMessage) else 0
            usage = Usage(input_tokens=prompt_tokens, output_tokens=out, calls=1)
        if retries:
            usage = usage.model_copy(update={"retries": retries})
        return priced(usage, self.name, base_url=self._price_url)

    # -- public ------------------------------------------------------------------------------
    def complete(
        self, prompt: Prompt, *, task: str, max_tokens: int | None = None, item: int | None = None,
        prompt_tokens: int | None = None, history: str = "",
    ) -> Completion:
        """Plain text out; cached by (model, endpoint, parameters, task, prompt).

        `max_tokens` caps this call's reply below `--max-new-tokens` (small models ramble past
        a requested length; the cap keeps them to it). `prompt_tokens` is a count the caller
        already has (a chunk's tokens plus the prompt around it), so a long prompt is not
        tokenized again just to book its permit. `history` is text the reply should not copy
        wording from (a long text's earlier sections): the local backend's DRY counts it as
        already written (`Repetition.dry_history`); other backends have no such control and
        ignore it."""
        messages = _messages(prompt)
        if max_tokens is not None and self.settings.max_new_tokens is not None:
            max_tokens = min(max_tokens, self.settings.max_new_tokens)
        history = history if history.strip() and _takes_history(self.chat) else ""
        key = self._cache_key(task, messages, max_tokens=max_tokens, history=history)
        if self.store is not None and (hit := self.store.cache_get(key)) is not None:
            return Completion(hit["text"], Usage(), cached=True)
        chat = self.chat if max_tokens is None else with_reply_cap(self.chat, max_tokens)
        if history:
            chat = chat.bind(dry_history=history)
        if prompt_tokens is None:
            prompt_tokens = _estimate_tokens(messages)
        # a slot of the run's --concurrency, held until the answer is stored: a call killed
        # after its slot went to the next one must not lose an answer already paid for
        with call_slot():
            started = time.monotonic()
            reply, retries, waited = self._send(chat, messages, task, item,
                                                prompt_tokens=prompt_tokens, reply_cap=max_tokens)
            text = _text_of(reply)
            usage = self._usage(reply, prompt_tokens, retries)
            if self.store is not None:
                self.store.cache_put(key, {"text": text, "seconds": time.monotonic() - started})
        return Completion(text, usage, retry_seconds=waited)

    def structured(
        self,
        prompt: Prompt,
        schema: type[T],
        *,
        task: str,
        repair_attempts: int = 2,
        item: int | None = None,
        max_tokens: int | None = None,
    ) -> Structured[T]:
        """A validated pydantic object; an invalid answer is sent back with its errors.
        `max_tokens` caps each answer: a small model under a JSON grammar can otherwise write
        one string until the window is full (the 0.5B planner spent many minutes so)."""
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
        chat = self.chat if max_tokens is None else with_structured_reply_cap(self.chat,
                                                                             max_tokens)
        runnable = chat.with_structured_output(target, **kwargs)
        with call_slot():  # held until the answer is stored, as in `complete`
            return self._structured_turns(runnable, messages, schema, key, task, item,
                                          repair_attempts)

    def _structured_turns(
        self, runnable: Any, messages: list[BaseMessage], schema: type[T], key: str, task: str,
        item: int | None, repair_attempts: int,
    ) -> Structured[T]:
        """Ask, validate, and send an invalid answer back with its errors, up to the bound."""
        total, waited_total = Usage(), 0.0
        asked = messages
        for attempt in range(repair_attempts + 1):
            prompt_tokens = _estimate_tokens(messages)
            result, retries, waited = self._send(runnable, messages, task, item,
                                                 prompt_tokens=prompt_tokens)
            waited_total += waited
            raw = result.get("raw")
            total = total + self._usage(raw, prompt_tokens, retries)
            parsed, error = result.get("parsed"), result.get("parsing_error")
            if parsed is not None and error is None:
                try:
                    value = parsed if isinstance(parsed, schema) else schema.model_validate(parsed)
                except ValidationError as exc:
                    error = exc
                else:
                    if self.store is not None:
                        self.store.cache_put(key, {"value": value.model_dump(mode="json")})
                    return Structured(value, total, retry_seconds=waited_total)
            if attempt == repair_attempts:
                detail = " ".join(str(error or "no structured answer").split())[:500]
                raise ModelCallError(
                    f"{self.name} ({task}): invalid structured output after "
                    f"{attempt + 1} attempts: {detail}",
                    kind="validation",
                    attempts=attempt + 1,
                )
            # the question, the last answer and its errors: earlier turns are not stacked, and
            # an answer that ran on to its token limit is shown by its start, so a repair turn
            # cannot outgrow the model's window (a small model's plan did, 8,563 > 8,192)
            messages = [
                *asked,
                AIMessage(_shortened(_answer_text(raw)) or "(no answer)"),
                HumanMessage(
                    "That answer does not match the required schema: "
                    f"{' '.join(str(error or 'no structured answer').split())[:1500]}\n"
                    "Answer again with every required field, valid values only."
                ),
            ]
        raise AssertionError("unreachable")


REPAIR_ECHO_CHARS = 4000  # of an invalid answer, sent back in the repair turn


def _shortened(text: str) -> str:
    if len(text) <= REPAIR_ECHO_CHARS:
        return text
    return (f"{text[:REPAIR_ECHO_CHARS]}\n[... {len(text) - REPAIR_ECHO_CHARS} more characters "
            "cut: the answer ran on]")


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


def _built(resolved: ResolvedModel) -> BaseChatModel:
    """The chat model a resolved spec names, built once per build key and process."""
    assert resolved.spec is not None and resolved.build_key is not None
    key = resolved.build_key
    with _CHAT_LOCK:
        chat_model = _CHAT_MODELS.get(key)
        build_lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
    if chat_model is not None:
        return chat_model
    with build_lock:  # one build per key, other keys not blocked (a local model loads slowly)
        with _CHAT_LOCK:
            chat_model = _CHAT_MODELS.get(key)
        if chat_model is None:
            chat_model = build_chat_model(resolved.spec, resolved.settings)
            with _CHAT_LOCK:
                _CHAT_MODELS[key] = chat_model
    return chat_model


def client_for(resolved: ResolvedModel, *, store: BlobStore | None = None) -> ModelClient:
    """The client for a resolved model: its chat model (built once; a missing key or package
    is a `ConfigError` here), the endpoint's shared limiter, its limits and the call cache."""
    if resolved.instance is not None:
        chat, sdk_attempts = without_sdk_retries(resolved.instance)
    else:
        chat, sdk_attempts = _built(resolved), 1
    return ModelClient(
        chat,
        resolved,
        limits=model_limits(resolved.name, resolved.settings, chat=chat),
        limiter=limiter_for(resolved.endpoint, resolved.settings.limiter_config()),
        store=store,
        sdk_attempts=sdk_attempts,
    )


def clear_model_cache() -> None:
    """Drop built chat models (tests that change the environment between cases)."""
    with _CHAT_LOCK:
        _CHAT_MODELS.clear()
        _BUILD_LOCKS.clear()
