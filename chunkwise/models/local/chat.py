"""`LlamaCppChatModel`: a LangChain chat model running a GGUF file in-process with llama.cpp.

Written against `llama_cpp.Llama` directly rather than langchain-community's ChatLlamaCpp
(being sunset) so that we control three things the pipelines rely on: one shared, serialized
llama.cpp context per model (see `runtime`), structured output through grammar-constrained
decoding (see `structured`), and a context overflow that surfaces as a clear, non-retryable
"context length" error.

Per call it also picks the repetition controls (`sampling`: DRY for prose, nothing for code or
JSON; a call may say `text_kind="prose"|"code"` or pass the controls itself) and reports
llama.cpp's own counters in `response_metadata["llama_timings"]` (see `engine`).

Context budget: `n_ctx` (default 8192, exposed as `context_window`) is the total number of
tokens, counted by the model's own tokenizer, shared by the whole templated prompt (system text,
instructions, chat-template overhead of a few tokens per message, the JSON-schema instruction
for structured output, and the chunk) and the reply. A splitter must keep
    prompt overhead + chunk tokens + reply reserve <= context_window,
where the reply reserve is `max_tokens` when set; without it the reply may use whatever is
left and stops with finish_reason "length" at the end of the context.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from chunkwise.models.local.messages import to_llama_messages, with_json_instruction
from chunkwise.models.local.runtime import (
    LoadedModel,
    context_overflow,
    load_model,
    usable_cpus,
)
from chunkwise.models.local.sampling import (
    PROSE_REPETITION,
    REPETITION_ARGUMENTS,
    TEXT_KINDS,
    Repetition,
    repetition_for_call,
)
from chunkwise.models.local.structured import (
    STRUCTURED_METHODS,
    OutputSchema,
    forced_tool,
    output_parser,
    output_schema,
    response_format,
)

DEFAULT_N_CTX = 8192

# create_chat_completion arguments a caller may set per call (via invoke kwargs or bind).
_PASSTHROUGH = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "max_tokens",
        "seed",
        "response_format",
        "logit_bias",
    }
)
# Per-call arguments the model itself consumes: what kind of text the reply is, and explicit
# repetition controls (see `sampling.repetition_for_call`).
_TEXT_KIND = "text_kind"


@dataclass(frozen=True)
class _Call:
    """One request, ready for llama.cpp."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    tool: Mapping[str, Any] | None
    repetition: Repetition


class LlamaCppChatModel(BaseChatModel):
    """Chat model over a local GGUF file; see the module docstring for the context budget."""

    model_path: str
    """GGUF file to load."""
    model_name: str = ""
    """Name reported in response metadata (e.g. `qwen2.5-coder-1.5b`)."""
    n_ctx: int = Field(default=DEFAULT_N_CTX, gt=0)
    """Context size in tokens, prompt and reply together."""
    n_threads: int | None = Field(default_factory=usable_cpus)
    """CPU threads for prompt evaluation and generation (default: the CPUs this process may
    use); only the first model object per (file, n_ctx) decides."""
    temperature: float = 0.0
    """0 means greedy decoding, so runs are repeatable."""
    top_p: float | None = None
    """Nucleus sampling; None keeps llama.cpp's default."""
    max_tokens: int | None = None
    """Reply cap; None lets the reply use the rest of the context."""
    seed: int | None = None
    """Sampling seed; only matters when temperature > 0."""
    prose_repetition: Repetition = PROSE_REPETITION
    """Repetition controls for prose replies (never for code or JSON); see `sampling`."""

    @property
    def context_window(self) -> int:
        """Tokens available to prompt plus reply (`n_ctx`), for chunk budgeting."""
        return self.n_ctx

    @property
    def _llm_type(self) -> str:
        return "chunkwise-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids under the model's own tokenizer, so budgets match what the model sees."""
        # Tokenizing reads only the vocabulary, so it does not need the generation lock.
        return list(self._loaded().llama.tokenize(text.encode("utf-8"), add_bos=False))

    def _loaded(self) -> LoadedModel:
        return load_model(self.model_path, self.n_ctx, self.n_threads)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call = self._prepare(messages, stop, kwargs)
        loaded = self._loaded()
        with loaded.lock:
            loaded.begin(call.repetition)
            response = self._guard_overflow(
                lambda: loaded.llama.create_chat_completion(messages=call.messages, **call.params)
            )
            timings = loaded.timings()
        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        usage = response["usage"]
        message = self._message(
            text,
            call.tool,
            finish_reason=choice.get("finish_reason"),
            timings=timings,
            usage=UsageMetadata(
                input_tokens=usage["prompt_tokens"],
                output_tokens=usage["completion_tokens"],
                total_tokens=usage["total_tokens"],
            ),
        )
        generation_info = {"finish_reason": choice.get("finish_reason")}
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info=generation_info)],
            llm_output={"model_name": self.model_name, "token_usage": dict(usage)},
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        call = self._prepare(messages, stop, kwargs)
        tool = call.tool
        loaded = self._loaded()
        pieces: list[str] = []
        finish_reason = None
        # The lock is held across yields: a slow consumer delays other branches, but the
        # llama.cpp context is never touched by two generations at once.
        with loaded.lock:
            loaded.begin(call.repetition)
            input_tokens = loaded.prompt_tokens(call.messages)
            stream = loaded.llama.create_chat_completion(
                messages=call.messages, stream=True, **call.params
            )
            for chunk in self._guard_overflow_iter(stream):
                choice = chunk["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                piece = choice["delta"].get("content") or ""
                if not piece:
                    continue
                pieces.append(piece)
                if tool is None:
                    out = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=out)
                    yield out
            timings = loaded.timings()
        # Streamed deltas are one per generated token except where llama.cpp holds back
        # partial UTF-8 or stop-string prefixes, so this count is a close lower bound.
        usage = None
        if input_tokens is not None:
            usage = UsageMetadata(
                input_tokens=input_tokens,
                output_tokens=len(pieces),
                total_tokens=input_tokens + len(pieces),
            )
        calls = []
        if tool is not None:
            calls = [
                tool_call_chunk(
                    name=tool["function"]["name"],
                    args="".join(pieces),
                    id=f"call_{uuid.uuid4().hex}",
                    index=0,
                )
            ]
        last = AIMessageChunk(
            content="",
            tool_call_chunks=calls,
            usage_metadata=usage,
            response_metadata=_metadata(self.model_name, finish_reason, timings),
            chunk_position="last",
        )
        yield ChatGenerationChunk(message=last, generation_info={"finish_reason": finish_reason})

    def _prepare(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> _Call:
        """Llama messages, create_chat_completion arguments, forced tool and repetition."""
        kwargs = dict(kwargs)
        tool = None
        if "tools" in kwargs:
            tool = forced_tool(kwargs.pop("tools"), kwargs.pop("tool_choice", None))
            kwargs["response_format"] = response_format(output_schema(tool))
        kind = kwargs.pop(_TEXT_KIND, None)
        if kind is not None and kind not in TEXT_KINDS:
            raise ValueError(f"{_TEXT_KIND} must be one of {TEXT_KINDS}, got {kind!r}")
        overrides = {name: kwargs.pop(name) for name in REPETITION_ARGUMENTS & set(kwargs)}
        unknown = set(kwargs) - _PASSTHROUGH
        if unknown:
            raise TypeError(f"LlamaCppChatModel got unsupported arguments: {sorted(unknown)}")
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": stop or [],
        }
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.seed is not None:
            params["seed"] = self.seed
        params.update(kwargs)
        llama_messages = to_llama_messages(messages)
        json_format = params.get("response_format")
        if json_format is not None:
            llama_messages = with_json_instruction(llama_messages, json_format.get("schema"))
        repetition = repetition_for_call(
            structured=json_format is not None,
            kind=kind,
            messages=llama_messages,
            prose=self.prose_repetition,
            overrides=overrides,
        )
        return _Call(llama_messages, params, tool, repetition)

    def _message(
        self,
        text: str,
        tool: Mapping[str, Any] | None,
        *,
        finish_reason: str | None,
        usage: UsageMetadata,
        timings: dict[str, float] | None = None,
    ) -> AIMessage:
        metadata = _metadata(self.model_name, finish_reason, timings)
        if tool is None:
            return AIMessage(content=text, usage_metadata=usage, response_metadata=metadata)
        name, call_id = tool["function"]["name"], f"call_{uuid.uuid4().hex}"
        try:
            args = json.loads(text)
        except json.JSONDecodeError as exc:
            # Only a reply cut off by the token limit can be invalid under the grammar.
            bad = invalid_tool_call(name=name, args=text, id=call_id, error=str(exc))
            return AIMessage(
                content="",
                invalid_tool_calls=[bad],
                usage_metadata=usage,
                response_metadata=metadata,
            )
        return AIMessage(
            content="",
            tool_calls=[tool_call(name=name, args=args, id=call_id)],
            usage_metadata=usage,
            response_metadata=metadata,
        )

    def _guard_overflow(self, call: Any) -> Any:
        try:
            return call()
        except ValueError as exc:
            overflow = context_overflow(exc, self.n_ctx)
            if overflow is None:
                raise
            raise overflow from None

    def _guard_overflow_iter(self, stream: Iterator[Any]) -> Iterator[Any]:
        # Streaming defers llama-cpp-python's overflow check to the first chunk.
        iterator = iter(stream)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except ValueError as exc:
                overflow = context_overflow(exc, self.n_ctx)
                if overflow is None:
                    raise
                raise overflow from None
            yield chunk

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Any | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind one tool the model must call; its arguments are grammar-constrained JSON.

        Only forced calls are supported (a single tool with `tool_choice="any"`, `"required"`
        or the tool's name): constrained decoding cannot leave the model free to not call.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        forced_tool(formatted, tool_choice)
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: str = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Replies parsed into `schema` (pydantic instance, or dict for dict/TypedDict schemas).

        Every method ("json_schema", "function_calling", "json_mode") maps to llama.cpp's
        JSON-schema constrained decoding, which is what makes small local models reliable
        here; `strict` is accepted for interface parity and always effectively on.
        """
        if kwargs:
            raise ValueError(f"Received unsupported arguments {kwargs}")
        if method not in STRUCTURED_METHODS:
            raise ValueError(f"method must be one of {STRUCTURED_METHODS}, got {method!r}")
        if schema is None and method != "json_mode":
            raise ValueError(f"schema is required for method {method!r}")
        target: OutputSchema | None = output_schema(schema) if schema is not None else None
        llm = self.bind(
            response_format=response_format(target),
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        )
        parser = output_parser(schema if schema is not None else {"type": "object"})
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        no_parse = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks(
            [no_parse], exception_key="parsing_error"
        )


def _metadata(
    model_name: str, finish_reason: str | None, timings: dict[str, float] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"model_name": model_name, "finish_reason": finish_reason}
    if timings:
        metadata["llama_timings"] = timings
    return metadata
