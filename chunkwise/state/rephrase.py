"""Typed state of the rephrase pipeline: counters and blob keys only.

The document, the plan of parts, every rewritten part and every per-part record live in the
blob store. A record holds the key of the record before it, so state carries one key (`head`)
however many parts are done, and each checkpoint stays a few hundred bytes: a list of keys in
state would be re-persisted at every step, which grows the checkpoint file with the square of
the number of parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from chunkwise.runtime.blobs import BlobStore
from chunkwise.state.context import BaseContext
from chunkwise.state.result import PipelineResult


class RephraseInput(TypedDict):
    """Give the text (moved to the blob store at once) or the blob key of a stored text, and a
    style preset name or a style instruction of your own."""

    text: NotRequired[str]
    text_key: NotRequired[str]
    style: NotRequired[str]
    style_instruction: NotRequired[str]


class RephraseOutput(TypedDict):
    """The run's `RephraseResult` as JSON: blob keys of the rewritten text and of the full
    report (`RephraseReport` JSON, with a record per part), and the report's summary."""

    result: dict[str, Any]


class RephraseState(RephraseInput):
    """Every field below is set by the node that owns it: `plan_chunks` all but the last
    (`rewrite_chunk` moves `cursor`, `head` and `flagged`), `stitch_output` the `result`. The
    input's `text` is emptied by `plan_chunks` once it is in the blob store (`text_key`)."""

    style_name: str
    instruction: str
    rewriter_name: str
    judge_name: str | None
    plan_key: str  # the parts (`text.overlap.parts_to_json`) in the blob store
    total: int
    cursor: int  # parts done
    head: str | None  # blob key of the newest `PartRecord`; None before the first part
    flagged: int
    result: dict[str, Any]


# --- report ---------------------------------------------------------------------------------


class CheckOutcome(BaseModel):
    name: str
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    score: float | None = None


class PartReport(BaseModel):
    """One rewritten part (a `text.overlap.Part`) as the report shows it: where it is, its
    size in and out, how it was verified, what it cost. A `PartRecord` without its links."""

    index: int
    start: int = Field(description="Char offset of the part's region in the input text")
    end: int
    tokens_in: int = Field(description="Tokens of the region rewritten")
    tokens_out: int = Field(description="Tokens of its rewrite")
    context_tokens: int = Field(
        default=0, description="Tokens of the already-covered overlap shown"
    )
    prefix_tokens: int = Field(default=0, description="Tokens of the rewrite so far shown")
    tokens_sent: int = Field(default=0, description="Prompt tokens of every rewrite attempt")
    judge_tokens_sent: int = 0
    calls: int = 0
    retries: int = 0
    passed: bool = True
    flagged: bool = False
    unchanged: bool = Field(
        default=False, description="Nearly unchanged under a style that asks for change, "
        "after its one retry (kept: every fact is there)"
    )
    changed: float = Field(default=0.0, description="Share of its words the rewrite changed")
    checks: list[CheckOutcome] = Field(default_factory=list)
    retry_reasons: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    input_tokens_billed: int = 0
    output_tokens_billed: int = 0


class PartRecord(PartReport):
    """A `PartReport` as `rewrite_chunk` stores it in the blob store: with the key of the
    rewritten text (`piece_key`) and of the record of the part before (`prev`), so state holds
    only the newest record's key however many parts are done."""

    piece_key: str
    prev: str | None = None


class ReportTotals(BaseModel):
    chunks: int
    flagged: int
    unchanged: int = 0
    changed: float = Field(default=0.0, description="Share of words changed, over the parts "
                           "weighted by their tokens")
    retries: int
    calls: int
    input_tokens: int = Field(description="Tokens of the input text")
    output_tokens: int = Field(description="Tokens of the stitched output")
    tokens_sent: int = Field(description="Prompt tokens of every rewrite call, retries included")
    judge_tokens_sent: int = 0
    sent_per_input_token: float = Field(description="tokens_sent / input_tokens")
    input_tokens_billed: int = 0
    output_tokens_billed: int = 0
    seconds: float = 0.0


class RephraseReport(BaseModel):
    style: str
    style_instruction: str
    chunk_tokens: int
    overlap_tokens: int
    prefix_window_tokens: int
    tokenizer: str
    rewriter_model: str = ""
    judge_model: str | None = None
    success: bool = True
    flagged: list[int] = Field(default_factory=list)
    unchanged: list[int] = Field(default_factory=list, description="Parts the style left "
                                 "nearly unchanged")
    chunks: list[PartReport] = Field(default_factory=list)
    totals: ReportTotals

    @classmethod
    def load(cls, store: BlobStore, key: str) -> RephraseReport:
        """The report a run stored under `key` (its `report_key`)."""
        return cls.model_validate_json(store.get(key))


# --- context --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RephraseContext(BaseContext):
    """Run options of rephrase (LangGraph `context_schema`)."""

    rewriter_model: Any = field(
        default=None,
        metadata={"description": "Spec or chat model that rewrites; None: defaults"},
    )
    judge_model: Any = field(
        default=None, metadata={"description": "Spec or chat model of the LLM judge"}
    )
    judge: bool = field(
        default=False, metadata={"description": "Ask the judge model to score every part"}
    )
    judge_min_score: int = field(
        default=4, metadata={"description": "Judge score (1-5) a part needs to pass"}
    )
    tokenizer: Any = field(
        default=None,
        metadata={
            "description": "None or 'tiktoken' (cl100k), 'whitespace', an encoding name, "
            "or a Tokenizer object"
        },
    )
    chunk_tokens: int = field(
        default=256, metadata={"description": "Tokens per part: overlap + new text"}
    )
    overlap_tokens: int = field(
        default=64,
        metadata={"description": "Source tokens before each part shown as already covered"},
    )
    prefix_window_tokens: int = field(
        default=1024,
        metadata={"description": "Tokens of the rewrite so far shown before each part"},
    )
    max_retries: int = field(
        default=2, metadata={"description": "Rewrites of a part that fails verification"}
    )
    checks: tuple[str, ...] | None = field(
        default=None,
        metadata={"description": "Built-in fidelity checks to run; None: all of them"},
    )
    extra_checks: tuple[Any, ...] = field(
        default=(),
        metadata={"description": "More checks: callables (ChunkSample) -> CheckResult"},
    )
    min_length_ratio: float | None = field(
        default=None, metadata={"description": "Override the style's lower length bound"}
    )
    max_length_ratio: float | None = field(
        default=None, metadata={"description": "Override the style's upper length bound"}
    )


class RephraseResult(PipelineResult):
    """A finished rewrite: blob keys of the text and of the full report, and the report's
    summary (everything but the per-part records). Parts that failed verification are kept,
    flagged and listed; they do not make the run fail."""

    output_key: str = ""
    report_key: str = ""
    summary: dict[str, Any] = Field(default_factory=dict)


# Rephrase keeps only plain values in its checkpoints: every record lives in the blob store.
CHECKPOINT_TYPES: tuple[type, ...] = ()
