"""`ChunkWiseRephrasePipeline`: the original rephrase API, now a checkpointed graph.

Existing callers keep::

    pipeline = ChunkWiseRephrasePipeline(
        model=EchoRewriteModel(),          # rewrite(RewriteRequest) -> str, or a chat model
        tokenizer=WhitespaceTokenizer(),   # tiktoken (cl100k, offline) when omitted
        config=PipelineConfig(chunk_tokens=256, overlap_tokens=64, prefix_window_tokens=1024),
    )
    text = pipeline.run(document, style_instruction="Rewrite for clarity.")

What is new is optional: style presets, fidelity checks with retries, an LLM judge, the report
(`pipeline.last_report`, or `run_with_report`), and resume by `run_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import BaseMessage

from chunkwise.graphs.rephrase import PIPELINE
from chunkwise.models.adapter import TextFunctionChatModel, adapt_model
from chunkwise.models.settings import ModelSettings
from chunkwise.prompts.rephrase import STYLES, RewriteRequest, parse_rewrite_messages
from chunkwise.runtime.paths import blob_location_for, default_checkpoint_db
from chunkwise.runtime.runner import EventHandler, run_pipeline
from chunkwise.state.rephrase import RephraseContext, RephraseReport, RephraseResult
from chunkwise.text.fidelity import CheckResult, ChunkSample
from chunkwise.text.tokens import TiktokenTokenizer, Tokenizer, WhitespaceTokenizer

__all__ = [
    "STYLES",
    "CheckResult",
    "ChunkSample",
    "ChunkWiseRephrasePipeline",
    "PipelineConfig",
    "RephraseRun",
    "RewriteModel",
    "RewriteModelChat",
    "RewriteRequest",
    "TiktokenTokenizer",
    "WhitespaceTokenizer",
]


@runtime_checkable
class RewriteModel(Protocol):
    """The original model interface: one request in, the rewritten text out."""

    def rewrite(self, request: RewriteRequest) -> str: ...


@dataclass(frozen=True)
class PipelineConfig:
    """Sizes in tokens of the pipeline's tokenizer, as in the original API."""

    chunk_tokens: int = 256
    overlap_tokens: int = 64
    prefix_window_tokens: int = 1024
    max_retries: int = 2


@dataclass(frozen=True)
class RephraseRun:
    """What `run_with_report` returns: the text, its full report, and the run's typed result
    (blob keys, usage) under the id that resumes it."""

    text: str
    report: RephraseReport
    run_id: str
    result: RephraseResult


class RewriteModelChat(TextFunctionChatModel):
    """A `RewriteModel` seen as a chat model. The request is recovered exactly from the prompt
    (`parse_rewrite_messages`)."""

    rewriter: Any
    model_name: str = "rewrite-model"

    def answer(self, task: str, messages: list[BaseMessage]) -> str:
        text = self.rewriter.rewrite(parse_rewrite_messages(messages))
        if not isinstance(text, str):
            raise TypeError(
                f"{type(self.rewriter).__name__}.rewrite returned {type(text).__name__}"
            )
        return text


def as_chat_model(model: Any) -> Any:
    """Chat models and spec strings pass through; `rewrite()` objects are wrapped."""
    return adapt_model(
        model,
        "rewrite(RewriteRequest) -> str",
        lambda m: RewriteModelChat(rewriter=m, model_name=type(m).__name__),
    )


class ChunkWiseRephrasePipeline:
    """Rewrite a long text part by part, each part conditioned on the rewrite so far."""

    def __init__(
        self,
        model: Any = None,
        tokenizer: Tokenizer | str | None = None,
        config: PipelineConfig | None = None,
        *,
        style: str | None = None,
        judge_model: Any = None,
        judge: bool | None = None,
        checks: Sequence[str] | None = None,
        verifiers: Sequence[Callable[[ChunkSample], CheckResult]] = (),
        model_settings: ModelSettings | None = None,
        checkpoint_db: str | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self.style = style
        self.checkpoint_db = checkpoint_db or default_checkpoint_db()
        self.on_event = on_event
        chat = as_chat_model(model)
        settings = model_settings or ModelSettings()
        if isinstance(chat, RewriteModelChat) and model_settings is None:
            settings = settings.with_(cache=False)  # a Python object's answers are its own
        self.context = RephraseContext(
            rewriter_model=chat,
            judge_model=judge_model,
            judge=bool(judge if judge is not None else judge_model is not None),
            tokenizer=tokenizer,
            chunk_tokens=self.config.chunk_tokens,
            overlap_tokens=self.config.overlap_tokens,
            prefix_window_tokens=self.config.prefix_window_tokens,
            max_retries=self.config.max_retries,
            checks=tuple(checks) if checks is not None else None,
            extra_checks=tuple(verifiers),
            models=settings,
            blob_store=blob_location_for(self.checkpoint_db),
        )
        self.last_report: RephraseReport | None = None
        self.last_run_id: str | None = None

    def run(
        self,
        text: str,
        style_instruction: str | None = None,
        *,
        style: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """The rewritten text; the report is in `last_report`. The same `run_id` resumes."""
        return self.run_with_report(text, style_instruction, style=style, run_id=run_id).text

    def run_with_report(
        self,
        text: str,
        style_instruction: str | None = None,
        *,
        style: str | None = None,
        run_id: str | None = None,
    ) -> RephraseRun:
        payload: dict[str, Any] = {"text": text}
        if style or self.style:
            payload["style"] = style or self.style
        if style_instruction is not None:
            payload["style_instruction"] = style_instruction
        outcome = run_pipeline(
            PIPELINE,
            input=payload,
            context=self.context,
            checkpoint_db=self.checkpoint_db,
            run_id=run_id,
            on_event=self.on_event,
        )
        result = outcome.require_result()
        store = self.context.store()
        report = RephraseReport.load(store, result.report_key)
        self.last_report, self.last_run_id = report, outcome.run_id
        return RephraseRun(store.get(result.output_key), report, outcome.run_id, result)
