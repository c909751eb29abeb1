"""A deterministic chat model that answers by task: for tests, notebooks and dry runs.

Every call the seam makes is tagged `chunkwise:<task>`; a `ScriptedChatModel` looks the task
up in `responders` (falling back to `"*"`) and returns what the responder gives: a string, or
for structured calls a pydantic object or dict. Calls are recorded, and `fail` can inject an
exception for chosen calls, so pipeline logic (fan-out, thresholds, retries, resume) is tested
without a real model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig, RunnableLambda
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from chunkwise.models.adapter import task_from_tags


@dataclass(frozen=True)
class ScriptedCall:
    """What the model was asked: the task, the messages, and the schema for structured calls."""

    task: str
    messages: tuple[BaseMessage, ...]
    schema: Any = None
    history: str = ""  # what the reply was told not to copy (with `prose_repetition` set)

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.content) for m in self.messages)

    @property
    def last(self) -> str:
        return str(self.messages[-1].content) if self.messages else ""


Responder = Callable[[ScriptedCall], Any]


def _words(text: str) -> int:
    return len(text.split())


class ScriptedChatModel(BaseChatModel):
    """Answers each task with its responder; records every call; can fail on demand."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responders: dict[str, Responder] = Field(default_factory=dict)
    fail: Callable[[ScriptedCall], BaseException | None] | None = None
    model_name: str = "scripted"
    # set (to anything) to take `ModelClient.complete(history=...)` as the local backend does:
    # the history then reaches the responder as `ScriptedCall.history`
    prose_repetition: Any = None
    _calls: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "chunkwise-scripted"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "scripted"
        return params

    def __getstate__(self) -> dict[Any, Any]:
        """Picklable (Ray ships a batch's context to its workers): the copy starts with no
        calls and its own lock; the calls a copy answers are recorded in its process only."""
        state = dict(super().__getstate__())
        state["__pydantic_private__"] = {"_calls": [], "_lock": None}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[ScriptedCall]:
        with self._lock:
            return list(self._calls)

    def calls_for(self, task: str) -> list[ScriptedCall]:
        return [c for c in self.calls if c.task == task]

    def _answer(self, call: ScriptedCall) -> Any:
        with self._lock:
            self._calls.append(call)
        if self.fail is not None and (error := self.fail(call)) is not None:
            raise error
        responder = self.responders.get(call.task) or self.responders.get("*")
        if responder is None:
            raise KeyError(f"scripted model has no responder for task {call.task!r}")
        return responder(call)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call = ScriptedCall(task_from_tags(getattr(run_manager, "tags", None)), tuple(messages),
                            history=str(kwargs.get("dry_history", "")))
        text = str(self._answer(call))
        message = AIMessage(
            text,
            usage_metadata={
                "input_tokens": sum(_words(str(m.content)) for m in messages),
                "output_tokens": _words(text),
                "total_tokens": sum(_words(str(m.content)) for m in messages) + _words(text),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> RunnableLambda[Any, Any]:
        def run(messages: Any, config: RunnableConfig) -> Any:
            msgs = tuple(messages.to_messages() if hasattr(messages, "to_messages") else messages)
            call = ScriptedCall(task_from_tags(config.get("tags")), msgs, schema)
            value = self._answer(call)
            parsed: Any = value
            error: Exception | None = None
            if isinstance(schema, type) and issubclass(schema, BaseModel):
                try:
                    parsed = schema.model_validate(value)
                except Exception as exc:
                    parsed, error = None, exc
            dump = value.model_dump_json() if isinstance(value, BaseModel) else str(value)
            raw = AIMessage(
                dump,
                usage_metadata={
                    "input_tokens": sum(_words(str(m.content)) for m in msgs),
                    "output_tokens": _words(dump),
                    "total_tokens": sum(_words(str(m.content)) for m in msgs) + _words(dump),
                },
            )
            if include_raw:
                return {"raw": raw, "parsed": parsed, "parsing_error": error}
            if error is not None:
                raise error
            return parsed

        return RunnableLambda(run)
