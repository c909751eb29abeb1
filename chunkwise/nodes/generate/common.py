"""Helpers the generate nodes share: section texts, the prefix window, QC against the plan."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from chunkwise.models.retry import ModelCallError
from chunkwise.runtime.blobs import BlobStore, open_blob_store
from chunkwise.runtime.progress import emit
from chunkwise.state.generate import GenerateContext, GenerationPlan, SectionRecord
from chunkwise.text import overlap, qc
from chunkwise.text.tokens import TiktokenTokenizer, Tokenizer, WhitespaceTokenizer

# A failed optional call (state table update, consistency check, judge) falls back to the
# deterministic path when the model cannot do the task; an unreachable endpoint still fails
# the run, which then resumes from its checkpoint.
OPTIONAL_FAILURES = frozenset({"validation", "unknown", "context_length", "malformed"})


def can_fall_back(exc: ModelCallError) -> bool:
    return exc.kind in OPTIONAL_FAILURES


@lru_cache(maxsize=16)
def _stored_plan(location: str, key: str) -> GenerationPlan:
    return GenerationPlan.model_validate_json(open_blob_store(location).get(key))


def plan_of(state: Mapping[str, Any], ctx: GenerateContext) -> GenerationPlan:
    """The run's plan: kept in the blob store (state holds its key), parsed once per process."""
    return _stored_plan(ctx.blob_store, str(state["plan_key"]))


@lru_cache(maxsize=8)
def _named_tokenizer(name: str) -> Tokenizer:
    return WhitespaceTokenizer() if name == "whitespace" else TiktokenTokenizer(name)


def tokenizer_of(ctx: GenerateContext) -> Any:
    """The context's tokenizer: a name, or any object with `encode`/`decode`."""
    if isinstance(ctx.tokenizer, str):
        return _named_tokenizer(ctx.tokenizer)
    return ctx.tokenizer


def tail_tokens(text: str, tokenizer: Any, limit: int) -> str:
    """The last `limit` tokens of `text`: a slice of it (`text.overlap.tail_tokens`) when the
    tokenizer has offsets, else decoded from `encode`/`decode` (the original protocol)."""
    if limit <= 0 or not text:
        return ""
    if callable(getattr(tokenizer, "offsets", None)):
        return overlap.tail_tokens(text, tokenizer, limit)
    ids = tokenizer.encode(text)
    return text if len(ids) <= limit else str(tokenizer.decode(ids[-limit:]))


def ordered(sections: Mapping[int, SectionRecord]) -> list[SectionRecord]:
    return [sections[i] for i in sorted(sections)]


def recent_text(
    store: BlobStore, sections: Mapping[int, SectionRecord], before: int, tokenizer: Any,
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


_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n```$", re.DOTALL)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)?(?:section\s+\d+\s*[:.\-]\s*)?(.*?)(?:\*\*)?\s*$",
                      re.IGNORECASE)


def clean_section(text: str, title: str) -> str:
    """The model's answer as section body: no code fence, no repeated title line."""
    text = text.strip()
    if match := _FENCE.match(text):
        text = match.group(1).strip()
    first, _, rest = text.partition("\n")
    heading = _HEADING.match(first)
    if heading and rest.strip() and (
        first.lstrip().startswith("#")
        or heading.group(1).strip().rstrip(":").lower() == title.strip().lower()
    ):
        text = rest.strip()
    return text


_ANNOUNCED: set[tuple[str, str]] = set()
_ANNOUNCED_LOCK = threading.Lock()


def announce(stage: str, total: int) -> None:
    """Emit `stage` once per run and process, so a resumed run's progress bar starts too."""
    try:
        from langgraph.config import get_config

        thread = str(get_config().get("configurable", {}).get("thread_id", ""))
    except Exception:
        thread = ""
    with _ANNOUNCED_LOCK:
        if thread and (thread, stage) in _ANNOUNCED:
            return
        _ANNOUNCED.add((thread, stage))
    emit("stage", name=stage, total=total)
