"""The section loop's recording half: update the state table from the accepted section."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.generate.budget import STRUCTURED_REPLY, Fitted, call_fitted, fit_prompt
from chunkwise.nodes.generate.common import can_fall_back, plan_of, timed
from chunkwise.prompts.generate import state_update_messages
from chunkwise.state.generate import (
    Entity,
    GenerateContext,
    GenerateState,
    GenerationPlan,
    StateTable,
    StateUpdate,
)
from chunkwise.text import qc

# What the table stores, so it stays compact however long the text grows; prompts show fewer
# (`prompts.generate.SHOWN_*`).
STORED_ENTITIES = 60  # the first ones: a name keeps its first canonical form
STORED_FACTS = 40  # the latest ones
STORED_TERMS = 40
STORED_THREADS = 10
STORED_SUMMARY_WORDS = 120
STORED_ITEM_CHARS = 200


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= STORED_ITEM_CHARS else text[: STORED_ITEM_CHARS - 1] + "…"


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def merge_update(table: StateTable, update: StateUpdate) -> StateTable:
    """Fold one section's update into the table: names keep their first canonical form."""
    entities = list(table.entities)
    known = {e.name.casefold() for e in entities}
    for entity in update.new_entities:
        name = _short(entity.name)
        if name and name.casefold() not in known:
            known.add(name.casefold())
            entities.append(Entity(name=name, note=_short(entity.note)))
    summary_words = " ".join(update.summary.split()).split(" ")
    summary = " ".join(summary_words[-STORED_SUMMARY_WORDS:]) if update.summary.strip() else (
        table.summary)
    terms = _dedupe(table.terminology + [_short(t) for t in update.terms])
    return StateTable(
        entities=entities[:STORED_ENTITIES],
        facts=_dedupe(table.facts + [_short(f) for f in update.facts])[-STORED_FACTS:],
        terminology=terms[:STORED_TERMS],
        open_threads=_dedupe([_short(t) for t in update.open_threads])[:STORED_THREADS],
        summary=summary,
        sections_done=table.sections_done + 1,
    )


def fallback_update(
    plan: GenerationPlan, index: int, text: str, table: StateTable
) -> StateUpdate:
    """Without a model: the spec's entities found, sentences with numbers, preferred terms."""
    spec = plan.sections[index]
    sentences = qc.sentences(text)
    facts = [s for s in sentences if any(ch.isdigit() for ch in s)][:3]
    terms = [use for use in dict.fromkeys(plan.terminology_preferences.values())
             if qc.contains_phrase(text, use)]
    lead = sentences[0] if sentences else ""
    return StateUpdate(
        new_entities=[Entity(name=e) for e in spec.required_entities
                      if qc.contains_phrase(text, e)],
        facts=facts,
        terms=terms[:5],
        open_threads=table.open_threads,
        summary=f"{table.summary} {spec.title}: {lead}".strip(),
    )


def established(update: StateUpdate) -> list[str]:
    """What a section's update recorded that later sections must not contradict."""
    names = [f"{e.name}: {e.note}" if e.note else e.name for e in update.new_entities]
    return [_short(item) for item in [*update.facts, *names] if item.strip()]


@timed
def update_table(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    plan = plan_of(state["plan_key"], ctx)
    index = state["cursor"]
    table = state["table"]
    record = state["sections"][index]
    text = ctx.store().get(record.text_key)
    usage, warnings = Usage(), list[str]()
    if not text.strip():  # a section left out establishes nothing
        return {"cursor": index + 1, "usage": usage, "warnings": warnings}
    if index == state["section_count"] - 1:
        # nothing is written after the last section: its record is only what the consistency
        # pass checks earlier sections against, and the model's update cost a call (20-30 s
        # on the local model) for that; what it established is read without a model
        update = fallback_update(plan, index, text, table)
        record = record.model_copy(update={"established": established(update)})
        return {"table": merge_update(table, update), "cursor": index + 1, "usage": usage,
                "warnings": warnings, "sections": {index: record}}
    client = ctx.client("writer", ctx.writer_model)

    def fit(share: float) -> Fitted:
        return fit_prompt(
            lambda shown, _: state_update_messages(plan, index, table, text, shown),
            client=client, reply=STRUCTURED_REPLY, share=share,
            what=f"the state update after section {index + 1}")

    fitted = fit(1.0)
    try:
        reply, fitted = call_fitted(fit, lambda f: client.structured(
            f.messages, StateUpdate, task="state_update", item=index))
        update, usage = reply.value, reply.usage
    except ModelCallError as exc:
        if not can_fall_back(exc):
            raise
        update = fallback_update(plan, index, text, table)
        warnings.append(f"section {index + 1}: state table updated without the model ({exc})")
    record = record.model_copy(update={
        "established": established(update),
        "prompt_trims": list(dict.fromkeys([*record.prompt_trims, *fitted.trims])),
        "prompt_tokens": max(record.prompt_tokens, fitted.prompt_tokens),
    })
    return {"table": merge_update(table, update), "cursor": index + 1, "usage": usage,
            "warnings": warnings, "sections": {index: record}}


def route_after_table(
    state: GenerateState, runtime: Runtime[GenerateContext]
) -> Literal["write_section", "dispatch_consistency", "reword_repeats"]:
    if state["cursor"] < state["section_count"]:
        return "write_section"
    return "dispatch_consistency" if runtime.context.consistency_pass else "reword_repeats"
