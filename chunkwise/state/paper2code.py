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

from chunkwise.errors import ConfigError
from chunkwise.models.usage import Usage, add_usage
from chunkwise.runtime.module_trace import ModuleTrace
from chunkwise.runtime.sandbox import validation_available
from chunkwise.state.context import BaseContext
from chunkwise.state.result import PipelineResult
from chunkwise.text.code_check import Finding
from chunkwise.text.sections import Span  # a chunk: state keeps the splitter's spans as they are

Layout = Literal["file", "repo"]
# The single file's name in checks, tracebacks and the sandbox; a repository's entry point.
ENTRY_POINT = "main.py"
DEFAULT_MAX_REPAIRS = 3
DEFAULT_VALIDATE_TIMEOUT = 120.0


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


FileKind = Literal["model", "data", "train", "evaluate", "entry", "other"]


class PlannedFile(BaseModel):
    path: str = Field(description="File name relative to the repository root, e.g. model.py")
    purpose: str = Field(description="What the file holds, in one sentence")
    kind: FileKind = Field(default="other", description="model, data, train, evaluate, "
                           "entry (main.py) or other")


class Hyperparameter(BaseModel):
    name: str = Field(description="Python identifier, e.g. d_model or learning_rate")
    value: str = Field(description="The value as the paper gives it, e.g. 512 or 1e-4")
    description: str = Field(default="", description="What it controls, with its paper section")


class RepoPlan(BaseModel):
    """Structured answer of the plan step: the files in dependency order and the
    hyperparameters `config.yaml` holds."""

    files: list[PlannedFile] = Field(description="Python files in dependency order: a file "
                                     "imports only files listed before it")
    hyperparameters: list[Hyperparameter] = Field(default_factory=list)


class SmokeRun(BaseModel):
    """How the sandboxed smoke run of one attempt ended; the redacted output tails are in the
    blob store (`output_key`), where a repair prompt reads them."""

    ok: bool
    seconds: float
    error: str | None = None
    killed_reason: str | None = None
    network_isolated: bool = False
    output_key: str | None = None
    trace: ModuleTrace | None = None  # the torch module the exception happened in


class CodeAttempt(BaseModel):
    """One version of the generated code and what checking it found. Number 0 is the code
    as written; number n the code after repair round n."""

    number: int
    files: dict[str, str] = Field(description="path -> blob key of the file's text")
    findings: list[Finding] = Field(default_factory=list)
    static_passed: bool
    smoke: SmokeRun | None = None  # None: not run (no --validate, or the static check failed)
    auto_fixes: list[str] = Field(default_factory=list,
                                  description="What chunkwise fixed without a model call")

    @property
    def compiles(self) -> bool:
        return not any(f.kind == "syntax" for f in self.findings)

    @property
    def runs(self) -> bool:
        return self.smoke is not None and self.smoke.ok

    def error_line(self) -> str | None:
        """Why it failed, in one line: its first blocking finding or the smoke error."""
        blocking = [f for f in self.findings if f.blocking]
        if blocking:
            return blocking[0].render()
        if self.smoke is not None and not self.smoke.ok:
            return self.smoke.error or "the smoke run failed"
        return None

    def rank(self) -> tuple[int, int, int]:
        """Runs > passes the static check > parses > does not parse; then fewer blocking
        findings; then the later attempt (a repair aimed at the last error)."""
        stage = 3 if self.runs else 2 if self.static_passed else 1 if self.compiles else 0
        return (stage, -sum(1 for f in self.findings if f.blocking), self.number)


def best_attempt(attempts: list[CodeAttempt]) -> CodeAttempt:
    return max(attempts, key=CodeAttempt.rank)


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
    failure: str | None  # assess_summaries; collapse_summaries, write_code, plan_repo and
    # write_repo_file when they fail
    summary_keys: list[str]  # combine_summaries, then each collapse round
    collapse_rounds: int
    notes_tokens: int
    notes_budget: int
    datasets: DatasetRecommendation | None  # recommend_datasets
    plan: RepoPlan | None  # plan_repo (--layout repo)
    draft_files: dict[str, str]  # write_code / write_repo_file / repair_code: path -> blob key
    attempts: list[CodeAttempt]  # check_code, one per check
    repairs: int  # repair_code: rounds done
    repair_stopped: str | None  # repair_code: why the loop ended before its bound
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
    layout: Layout = field(
        default="file",
        metadata={"description": "file: one PyTorch file; repo: planned files and config.yaml"},
    )
    validate: bool = field(
        default=False,
        metadata={"description": "Run the code's __main__ smoke run in a sandbox (needs "
                  "chunkwise[validate]); the static check always runs"},
    )
    validate_timeout: float = field(
        default=DEFAULT_VALIDATE_TIMEOUT,
        metadata={"description": "Wall-clock seconds the smoke run may take"},
    )
    max_repairs: int = field(
        default=DEFAULT_MAX_REPAIRS,
        metadata={"description": "Repair rounds at most when the check or smoke run fails"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_repairs < 0:
            raise ConfigError("max_repairs (--max-repairs) must not be negative")
        if self.validate_timeout <= 0:
            raise ConfigError("validate_timeout (--validate-timeout) must be positive")
        if self.validate and (missing := validation_available()) is not None:
            raise ConfigError(missing)


class SmokeReport(BaseModel):
    ok: bool
    seconds: float
    error: str | None = Field(default=None, description="One line: the exception or the limit")
    diagnosis: str | None = Field(
        default=None, description="One line: the torch module the exception happened in and "
        "its input, e.g. 'while calling encoder.fc1 = Linear(...) with input float32[40, 16]'")
    network_isolated: bool = False


class AttemptReport(BaseModel):
    """One attempt in the result: how far it got."""

    number: int
    compiles: bool
    static_passed: bool
    smoke_ok: bool | None = None  # None: not run
    error: str | None = None  # the first blocking finding or the smoke run's error line
    diagnosis: str | None = None  # the torch module the smoke run failed in (SmokeReport's)
    auto_fixes: list[str] = Field(default_factory=list)


class Validation(BaseModel):
    """What checking the kept code found. `passed`: the static check passed and, with
    --validate, the smoke run too; `smoke` is None when it did not run."""

    passed: bool
    static: list[Finding] = Field(default_factory=list)
    smoke: SmokeReport | None = None
    attempts: int = 0
    repairs: int = 0
    kept: int = Field(default=0, description="Number of the attempt kept (0: as written)")
    history: list[AttemptReport] = Field(default_factory=list)
    stopped: str | None = Field(default=None, description="Why repairs ended early, if they did")


class GeneratedFile(BaseModel):
    path: str
    lines: int
    key: str = Field(description="Blob key of the file's text")


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
    layout: Layout = "file"
    files: list[GeneratedFile] = Field(
        default_factory=list, description="With --layout repo: the tree's files, texts as keys"
    )
    validation: Validation | None = None


# What a paper2code checkpoint may hold besides plain values (the serializer's allow-list).
CHECKPOINT_TYPES: tuple[type, ...] = (
    Span, SummaryOutcome, DatasetRecommendation, DatasetCandidate, Usage, RepoPlan,
    PlannedFile, Hyperparameter, CodeAttempt, SmokeRun, Finding, ModuleTrace,
)
