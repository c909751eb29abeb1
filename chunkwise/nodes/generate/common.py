"""Helpers the generate nodes share: section texts, the prefix window, QC against the plan."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from chunkwise.models.retry import ModelCallError
from chunkwise.runtime.blobs import BlobStore, read_cached
from chunkwise.state.generate import GenerateContext, GenerationPlan, SectionRecord
from chunkwise.text import qc
from chunkwise.text.fences import unwrap_fence
from chunkwise.text.overlap import tail_tokens
from chunkwise.text.tokens import TokenCodec, Tokenizer

# A failed optional call (state table update, consistency check, judge) falls back to the
# deterministic path when the model cannot do the task; an unreachable endpoint still fails
# the run, which then resumes from its checkpoint.
OPTIONAL_FAILURES = frozenset({"validation", "unknown", "context_length", "malformed"})


# A sentence at least this share of whose word 5-grams were already used goes (`qc.drop_repeats`,
# in the attempt tidy and after a revision): at 0.5 the saved benchmark texts kept 10-11%
# repeated 5-grams; 0.4 took LB3's from 10.7% to 6.1% for 26 of 144 words and the issue brief's
# first run from 6.4% to 4.3% (0.25 would cost a sixth to a quarter of the words).
REPEAT_SHARE = 0.4


def can_fall_back(exc: ModelCallError) -> bool:
    return exc.kind in OPTIONAL_FAILURES


Node = TypeVar("Node", bound=Callable[..., dict[str, Any]])


def timed(node: Node) -> Node:
    """The node, adding the seconds it took to the run's `seconds` (the report divides them
    by the words written)."""

    @functools.wraps(node)
    def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.monotonic()
        update = node(*args, **kwargs)
        return {**update, "seconds": time.monotonic() - started}

    return run  # type: ignore[return-value]


def plan_of(plan_key: str, ctx: GenerateContext) -> GenerationPlan:
    """The run's plan: kept in the blob store (state holds its key), parsed once per process
    and shared, so it is never mutated."""
    return read_cached(ctx.store(), plan_key, GenerationPlan.model_validate_json)


def ordered(sections: Mapping[int, SectionRecord]) -> list[SectionRecord]:
    return [sections[i] for i in sorted(sections)]


def recent_text(
    store: BlobStore,
    sections: Mapping[int, SectionRecord],
    before: int,
    tokenizer: Tokenizer | TokenCodec,
    limit: int,
) -> str:
    """The last `limit` tokens of the sections before `before` (only the tail is read)."""
    parts: list[str] = []
    chars = 0
    for index in sorted((i for i in sections if i < before), reverse=True):
        text = store.get(sections[index].text_key)
        parts.append(text)
        chars += len(text)
        if chars >= 8 * limit:  # a token covers far fewer than 8 characters
            break
    return tail_tokens("\n\n".join(reversed(parts)), tokenizer, limit)


def thresholds(ctx: GenerateContext) -> qc.QCThresholds:
    return qc.QCThresholds(min_length_score=ctx.min_length_score)


def check_section(
    plan: GenerationPlan,
    index: int,
    text: str,
    others: Sequence[str | None],
    ctx: GenerateContext,
    duplicates: Sequence[qc.Duplicate] | None = None,
) -> qc.SectionCheck:
    """Deterministic QC of section `index` against its spec, the plan's rules and `others`."""
    spec = plan.sections[index]
    return qc.check_section(
        text,
        index=index,
        title=spec.title,
        target_words=spec.target_length,
        key_points=spec.key_points,
        required_entities=spec.required_entities,
        terminology_preferences=plan.terminology_preferences,
        do_not_include=plan.do_not_include,
        narrative_voice=plan.narrative_voice,
        others=others,
        thresholds=thresholds(ctx),
        duplicates=duplicates,
        is_last=index == len(plan.sections) - 1,
    )


def rule_problems(plan: GenerationPlan, text: str) -> list[str]:
    """The consistency rules checked without a model: terminology, forbidden items, voice."""
    problems = [
        f'uses "{variant}" {n}x: write "{use}" instead'
        for variant, use, n in qc.terminology_violations(text, plan.terminology_preferences)
    ]
    problems += [
        f'mentions "{item}" {n}x: it must not appear'
        for item, n in qc.forbidden_mentions(text, plan.do_not_include)
    ]
    if voice := qc.voice_problem(text, plan.narrative_voice):
        problems.append(f"narrative voice: {voice}")
    return problems


_HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)?(?:section\s+\d+\s*[:.\-]\s*)?(.*?)(?:\*\*)?\s*$",
                      re.IGNORECASE)


_PREFACE = re.compile(r"(?:here(?:'s| is)|sure|certainly|okay|of course)\b[^\n]{0,120}:[ \t]*\n",
                      re.IGNORECASE)
_TRAILER = re.compile(r"\n\s*\(?(?:word count|words?)\s*:?\s*\d+\)?\.?\s*$", re.IGNORECASE)
# the quote markers of the prompts (`<<<`, `>>>`), which a small model echoes on a line alone
_MARKER_LINE = re.compile(r"^[ \t]*(?:<<<|>>>)[ \t]*$\n?", re.MULTILINE)


def clean_section(text: str, title: str) -> str:
    """The model's answer as section body: no "Here is..." line, no code fence, no repeated
    title line, no word count at the end, no quote marker line echoed from the prompt."""
    text = _MARKER_LINE.sub("", text).strip()
    if (preface := _PREFACE.match(text)) and text[preface.end():].strip():
        text = text[preface.end():].strip()
    if (inner := unwrap_fence(text)) is not None:
        text = inner.strip()
    text = _TRAILER.sub("", text).strip()
    first, _, rest = text.partition("\n")
    heading = _HEADING.match(first)
    if heading and rest.strip() and (
        first.lstrip().startswith("#")
        or heading.group(1).strip().rstrip(":").lower() == title.strip().lower()
    ):
        text = rest.strip()
    return text
