"""Consistency pass: every section is checked (rules without a model, then the judge's
structured check against the state table); only sections with problems are revised, and a
revision is kept only when it does not make the section's QC worse. One `Send` per section."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.generate.common import (
    can_fall_back,
    check_section,
    clean_section,
    ordered,
    plan_of,
    rule_problems,
)
from chunkwise.prompts.generate import consistency_check_messages, revision_messages
from chunkwise.runtime.blobs import read_cached
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import (
    ConsistencyTask,
    ConsistencyVerdict,
    GenerateContext,
    GenerateState,
    GenerationPlan,
    SectionRecord,
    StateTable,
)
from chunkwise.text.qc import count_words, length_score

MAX_LENGTH_LOSS = 10.0  # a revision may cost at most this much length score


def pending(state: GenerateState) -> list[SectionRecord]:
    return [r for r in ordered(state["sections"]) if not r.consistency_checked]


def dispatch_consistency(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    """Store the final table once; the edge after this sends one task per section."""
    announce_stage("consistency", len(pending(state)))
    return {"table_key": runtime.context.store().put(state["table"].model_dump_json())}


def send_sections(state: GenerateState) -> list[Send] | Literal["check_quality"]:
    tasks = [
        Send("review_consistency", ConsistencyTask(
            record=record, plan_key=state["plan_key"], table_key=state["table_key"]))
        for record in pending(state)
    ]
    return tasks or "check_quality"


def _guard(
    plan: GenerationPlan, record: SectionRecord, old: str, new: str, ctx: GenerateContext
) -> str | None:
    """Why a revision must be rejected, or None to accept it."""
    if not new.strip():
        return "the revision was empty"
    before = check_section(plan, record.index, old, (), ctx)
    after = check_section(plan, record.index, new, (), ctx)
    if len(after.problems()) > len(before.problems()):
        return "the revision broke QC: " + "; ".join(after.problems()[:3])
    target = plan.sections[record.index].target_length
    if length_score(target, count_words(new)) < before.length_score - MAX_LENGTH_LOSS:
        return f"the revision changed the length too much ({count_words(new)} words)"
    return None


def review_consistency(task: ConsistencyTask, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    record = task["record"]
    plan = plan_of(task["plan_key"], ctx)
    table = read_cached(store, task["table_key"], StateTable.model_validate_json)  # shared
    text = store.get(record.text_key)
    problems = rule_problems(plan, text)
    usage = Usage()
    note = ""
    try:
        verdict = ctx.client("judge", ctx.judge_model).structured(
            consistency_check_messages(plan, record.index, table, text), ConsistencyVerdict,
            task="consistency_check",
        )
        usage = usage + verdict.usage
        if not verdict.value.consistent:
            problems += verdict.value.problems or ["the judge found an unspecified contradiction"]
    except ModelCallError as exc:
        if not can_fall_back(exc):
            raise
        note = f"consistency check without the judge ({exc.kind})"
    update: dict[str, Any] = {"consistency_checked": True, "consistency_problems": problems}
    if problems:
        reply = ctx.client("writer", ctx.writer_model).complete(
            revision_messages(plan, record.index, table, text, problems), task="consistency_pass"
        )
        usage = usage + reply.usage
        revised = clean_section(reply.text, record.title)
        rejected = _guard(plan, record, text, revised, ctx)
        if rejected:
            note = "; ".join(x for x in (note, f"revision rejected: {rejected}") if x)
        else:
            update.update(text_key=store.put(revised), words=count_words(revised), revised=True)
    update["revision_note"] = note
    ok = not problems or "revised" in update
    unit_done("consistency", record.index, ok=ok, tokens=usage.total_tokens)
    return {"sections": {record.index: record.model_copy(update=update)}, "usage": usage}
