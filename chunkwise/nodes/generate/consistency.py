"""Consistency pass: one `Send` per section, and calls only where something may be wrong.

A section that failed QC is checked by its rules (without a model) and by the judge against the
final state table; a section that passed QC was written against the record of everything before
it, so the judge checks it only against what later sections established (the last section gets
no call). Only sections with problems are revised, and a revision is kept only when it does not
make the section's QC worse.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime
from langgraph.types import Send

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.generate.budget import (
    STRUCTURED_REPLY,
    Fitted,
    call_fitted,
    fit_prompt,
    reply_tokens,
)
from chunkwise.nodes.generate.common import (
    REPEAT_SHARE,
    can_fall_back,
    check_section,
    clean_section,
    ordered,
    plan_of,
    rule_problems,
    thresholds,
    timed,
)
from chunkwise.prompts.generate import (
    Shown,
    consistency_check_messages,
    later_facts_check_messages,
    revision_messages,
)
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
from chunkwise.text.qc import count_words, drop_repeats, length_score

MAX_LENGTH_LOSS = 10.0  # a revision may cost at most this much length score
MAX_LATER_FACTS = 40  # what a passed section is checked against, at most (the nearest first)


def pending(state: GenerateState) -> list[SectionRecord]:
    return [r for r in ordered(state["sections"]) if not r.consistency_checked]


def later_facts(records: list[SectionRecord], index: int) -> list[str]:
    """What the sections after `index` established, nearest first, bounded."""
    facts = [fact for r in records if r.index > index for fact in r.established]
    return list(dict.fromkeys(facts))[:MAX_LATER_FACTS]


def dispatch_consistency(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    """Store the final table once; the edge after this sends one task per section."""
    announce_stage("consistency", len(pending(state)))
    return {"table_key": runtime.context.store().put(state["table"].model_dump_json())}


def send_sections(state: GenerateState) -> list[Send] | Literal["reword_repeats"]:
    records = ordered(state["sections"])
    tasks = [
        Send("review_consistency", ConsistencyTask(
            record=record, plan_key=state["plan_key"], table_key=state["table_key"],
            later=later_facts(records, record.index),
            earlier_keys=[r.text_key for r in records if r.index < record.index]))
        for record in pending(state)
    ]
    return tasks or "reword_repeats"


def _guard(
    plan: GenerationPlan, record: SectionRecord, old: str, new: str, ctx: GenerateContext
) -> str | None:
    """Why a revision must be rejected, or None to accept it."""
    if not new.strip():
        return "the revision was empty"
    before = check_section(plan, record.index, old, (), ctx)
    after = check_section(plan, record.index, new, (), ctx)
    if after.penalty() > before.penalty():
        return "the revision broke QC: " + "; ".join(after.problems()[:3])
    target = plan.sections[record.index].target_length
    if length_score(target, count_words(new)) < before.length_score - MAX_LENGTH_LOSS:
        return f"the revision changed the length too much ({count_words(new)} words)"
    return None


def _judged(
    task: ConsistencyTask, plan: GenerationPlan, text: str, ctx: GenerateContext
) -> tuple[list[str], Usage, Fitted] | None:
    """The judge's problems with the section, its usage and prompt; None: no call needed."""
    record = task["record"]
    if not record.problems and not task["later"]:
        return None
    client = ctx.client("judge", ctx.judge_model)
    table = read_cached(ctx.store(), task["table_key"], StateTable.model_validate_json)

    def build(shown: Shown, _: str) -> list[BaseMessage]:
        if record.problems:  # failed QC: against the whole record
            return consistency_check_messages(plan, record.index, table, text, shown)
        return later_facts_check_messages(plan, record.index, task["later"], text)

    def fit(share: float) -> Fitted:
        return fit_prompt(build, client=client, reply=STRUCTURED_REPLY, share=share,
                          what=f"the consistency check of section {record.index + 1}")

    verdict, fitted = call_fitted(fit, lambda f: client.structured(
        f.messages, ConsistencyVerdict, task="consistency_check", item=record.index))
    problems = [] if verdict.value.consistent else (
        verdict.value.problems or ["the judge found an unspecified contradiction"])
    return problems, verdict.usage, fitted


@timed
def review_consistency(task: ConsistencyTask, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    record = task["record"]
    plan = plan_of(task["plan_key"], ctx)
    text = store.get(record.text_key)
    if not text.strip():  # left out as a copy: nothing to check, and a revision would copy again
        unit_done("consistency", record.index, ok=True)
        return {"sections": {record.index: record.model_copy(
            update={"consistency_checked": True})}}
    problems = rule_problems(plan, text)
    usage = Usage()
    note = ""
    fits: list[Fitted] = []
    try:
        judged = _judged(task, plan, text, ctx)
    except ModelCallError as exc:
        if not can_fall_back(exc):
            raise
        judged, note = None, f"consistency check without the judge ({exc.kind})"
    if judged is not None:
        problems += judged[0]
        usage = usage + judged[1]
        fits.append(judged[2])
    update: dict[str, Any] = {"consistency_checked": True, "consistency_problems": problems}
    if problems:
        earlier = [store.get(key) for key in task.get("earlier_keys", [])]
        client = ctx.client("writer", ctx.writer_model)
        table = read_cached(store, task["table_key"], StateTable.model_validate_json)  # shared
        room = reply_tokens(count_words(text), client.max_output_tokens)

        def fit(share: float) -> Fitted:
            return fit_prompt(
                lambda shown, _: revision_messages(plan, record.index, table, text, problems,
                                                   shown),
                client=client, reply=room, share=share,
                what=f"the revision of section {record.index + 1}")

        # the revision is kept from copying earlier sections' wording where the backend can
        seen = "\n\n".join(t.strip() for t in earlier if t.strip())
        reply, fitted = call_fitted(fit, lambda f: client.complete(
            f.messages, task="consistency_pass", max_tokens=f.max_tokens, item=record.index,
            history=seen))
        usage = usage + reply.usage
        fits.append(fitted)
        revised = clean_section(reply.text, record.title)
        # a revision may copy earlier sections again: those sentences go, as in the section loop
        revised, _ = drop_repeats(revised, earlier, threshold=thresholds(ctx).duplicate_similarity,
                                  sentence_share=REPEAT_SHARE)
        rejected = _guard(plan, record, text, revised, ctx)
        if rejected:
            note = "; ".join(x for x in (note, f"revision rejected: {rejected}") if x)
        else:
            update.update(text_key=store.put(revised), words=count_words(revised), revised=True)
    update.update(
        revision_note=note,
        prompt_tokens=max([record.prompt_tokens, *(f.prompt_tokens for f in fits)]),
        prompt_trims=list(dict.fromkeys([*record.prompt_trims, *(t for f in fits
                                                                  for t in f.trims)])),
    )
    ok = not problems or "revised" in update
    unit_done("consistency", record.index, ok=ok, tokens=usage.total_tokens)
    return {"sections": {record.index: record.model_copy(update=update)}, "usage": usage}
