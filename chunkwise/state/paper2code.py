"""Typed state for paper2code: small values and blob keys only.

The paper, its chunks and the summaries live in the blob store; state carries their keys,
chunk offsets and per-chunk outcomes, so a checkpoint stays a few kilobytes whatever the
paper's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from chunkwise.models.usage import Usage, add_usage
from chunkwise.state.context import BaseContext
from chunkwise.state.result import PipelineResult
from chunkwise.text.sections import Span  # a chunk: state keeps the splitter's spans as they are


class SummaryOutcome(BaseModel):
    """What summarizing chunk `index` gave, as state keeps it (with the summary's blob key); a
    failure keeps the provider's reason. The result shows it as a `ChunkResult`."""

    index: int
    success: bool
    summary_key: str | None = None
    summary_length: int = 0
    processing_time: float = 0.0
    error: str | None = None


class DatasetCandidate(BaseModel):
    name: str = Field(description="Dataset name as commonly cited, e.g. 'WMT 2014 English-German'")
    why: str = Field(description="Why it fits the paper's task and model")
    source: str = Field(default="", description="Where to get it: a library id or URL")


class DatasetRecommendation(BaseModel):
    """Structured answer of the dataset step."""

    task: str = Field(description="The learning task the paper addresses")
    recommended_dataset: str = Field(description="Best single dataset to start with")
    candidates: list[DatasetCandidate] = Field(default_factory=list)
    preprocessing: str = Field(default="", description="Tokenization, splits, normalisation")


class ChunkResult(TypedDict):
    """One entry of the result's `chunk_results` (the original API's shape): a
    `SummaryOutcome` numbered from 1, without blob keys; "not run" for a chunk never tried."""

    chunk_number: int
    success: bool
    summary_length: int
    processing_time: float
    error: NotRequired[str]


def merge_outcomes(
    left: dict[int, SummaryOutcome] | None, right: dict[int, SummaryOutcome] | None
) -> dict[int, SummaryOutcome]:
    """Keyed by chunk index; a later outcome replaces an earlier one, a success is never lost."""
    merged = dict(left or {})
    for index, outcome in (right or {}).items():
        previous = merged.get(int(index))
        if previous is not None and previous.success and not outcome.success:
            continue
        merged[int(index)] = outcome
    return merged


class Paper2CodeInput(TypedDict):
    """Give a path, a paper id resolved through the context's paper folder, or the paper's
    text itself (LaTeX, Markdown or plain text; `paper_key`: a blob key of such a text)."""

    paper_path: NotRequired[str]
    paper_id: NotRequired[str]
    paper_text: NotRequired[str]
    paper_key: NotRequired[str]


class Paper2CodeOutput(TypedDict):
    result: dict[str, Any]


class Paper2CodeState(Paper2CodeInput):
    """Each field is set by the node named beside it; `load_paper` also starts the fields that
    a failed run's `finalize` reads before their own node has run."""

    paper_title: str  # load_paper (which sets the input's paper_id too)
    doc_key: str
    headings_key: str
    started_at: float
    chunks: list[Span]  # split_paper; chunk i is chunks[i]
    outcomes: Annotated[dict[int, SummaryOutcome], merge_outcomes]  # summarize_chunk, by index
    failure: str | None  # assess_summaries; collapse_summaries and write_code when they fail
    summary_keys: list[str]  # combine_summaries, then each collapse round
    collapse_rounds: int
    notes_tokens: int
    notes_budget: int
    datasets: DatasetRecommendation | None  # recommend_datasets
    code_key: str | None  # write_code
    final_generation_time: float
    usage: Annotated[Usage, add_usage]
    result: dict[str, Any]


class SummarizeTask(TypedDict):
    """The `Send` payload of one chunk: keys and offsets, never the text."""

    doc_key: str
    index: int
    chunk: Span
    total: int
    paper_title: str


def _default_papers_dir() -> str:
    import os

    return os.environ.get("CHUNKWISE_PAPERS_DIR", "papers")


@dataclass(kw_only=True)
class Paper2CodeContext(BaseContext):
    """Run options of paper2code (LangGraph `context_schema`)."""

    chunk_model: Any = field(
        default=None,
        metadata={"description": "Spec or chat model for chunk summaries (cheap); None: defaults"},
    )
    code_model: Any = field(
        default=None,
        metadata={"description": "Spec or chat model for datasets and code (strong)"},
    )
    num_chunks: int | Literal["auto"] = field(
        default=5,
        metadata={"description": "Chunks wanted; grows when a chunk would overflow the budget"},
    )
    chunk_tokens: int | None = field(
        default=None, metadata={"description": "Cap on tokens per chunk (below the model's)"}
    )
    min_success_ratio: float = field(
        default=0.5, metadata={"description": "Share of chunks that must be summarized"}
    )
    paper_source: Any = field(
        default=None,
        metadata={"description": "A PaperSource resolving paper ids (overrides papers_dir)"},
    )
    papers_dir: str = field(
        default_factory=_default_papers_dir,
        metadata={"description": "Folder where paper ids resolve to <id>.pdf/.tex/.md/.txt"},
    )


class Paper2CodeResult(PipelineResult):
    """The original API's result dictionary, typed; `code` and the dataset fields are empty
    when the run failed (`error` says why)."""

    paper_id: str = ""
    paper_title: str = ""
    code: str = ""
    model_used: str = Field(default="", description="The code model's spec")
    dataset_recommendations: dict[str, Any] = Field(default_factory=dict)
    recommended_dataset: str = ""
    chunk_results: list[ChunkResult] = Field(default_factory=list)
    num_chunks: int = 0
    successful_chunks: int = 0
    total_generation_time: float = 0.0
    final_generation_time: float = 0.0
    chunk_model: str = Field(default="", description="The chunk model's spec")
    collapse_rounds: int = 0
    code_syntax_error: str | None = None


# What a paper2code checkpoint may hold besides plain values (the serializer's allow-list).
CHECKPOINT_TYPES: tuple[type, ...] = (Span, SummaryOutcome, DatasetRecommendation,
                                      DatasetCandidate, Usage)
