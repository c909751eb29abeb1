"""The section loop's writing half: write (or rewrite) one section, then review it.

One section per graph step: `write_section` stores the draft and `review_section` checks it
(deterministic QC); a draft that fails goes back for a rewrite with its problems listed, up to
`max_retries` times, and the best attempt is kept. A resumed run continues at the section
(and attempt) where it stopped.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.nodes.generate.common import (
    can_fall_back,
    check_section,
    clean_section,
    ordered,
    plan_of,
    recent_text,
)
from chunkwise.prompts.generate import rewrite_messages, section_messages
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import Draft, GenerateContext, GenerateState, SectionRecord
from chunkwise.text.attempts import replaces_best
from chunkwise.text.qc import count_words
from chunkwise.text.tokens import resolve_tokenizer


def write_section(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    plan = plan_of(state["plan_key"], ctx)
    index = state["cursor"]
    announce_stage("sections", len(plan.sections) - index)
    table = state["table"]
    tokenizer = resolve_tokenizer(ctx.tokenizer, codec_ok=True)
    recent = recent_text(store, state["sections"], index, tokenizer, ctx.prefix_window_tokens)
    client = ctx.client("writer", ctx.writer_model)
    previous = state["draft"]
    if previous is not None and previous.index == index and previous.problems:
        draft_text = store.get(previous.text_key)
        messages = rewrite_messages(plan, index, table, recent, draft_text, previous.problems,
                                    count_words(draft_text))
        try:
            reply = client.complete(messages, task="qc_rewrite")
        except ModelCallError as exc:
            if not can_fall_back(exc):
                raise
            # the model cannot rewrite: stop retrying, the review keeps the best draft
            gave_up = previous.model_copy(update={"final": True, "problems": []})
            return {"draft": gave_up,
                    "warnings": [f"section {index + 1}: no QC rewrite ({exc})"]}
        attempt = previous.attempt + 1
        best: tuple[str, int | None] = (previous.best_key, previous.best_problems)
    else:
        reply = client.complete(section_messages(plan, index, table, recent),
                                task="section_generation")
        attempt, best = 0, ("", None)
    text = clean_section(reply.text, plan.sections[index].title)
    draft = Draft(index=index, attempt=attempt, text_key=store.put(text),
                  best_key=best[0], best_problems=best[1])
    return {"draft": draft, "usage": reply.usage}


def review_section(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    plan = plan_of(state["plan_key"], ctx)
    draft = state["draft"]
    assert draft is not None  # write_section set it
    index = draft.index
    earlier = [store.get(r.text_key) for r in ordered(state["sections"]) if r.index < index]
    text = store.get(draft.text_key)
    problems = check_section(plan, index, text, earlier, ctx).problems() if text.strip() else [
        "the section is empty"
    ]
    if replaces_best(len(problems), draft.best_problems):
        draft = draft.model_copy(update={"best_key": draft.text_key,
                                         "best_problems": len(problems)})
    if problems and draft.attempt < ctx.max_retries and not draft.final:
        return {"draft": draft.model_copy(update={"problems": problems})}
    if draft.best_key != draft.text_key:  # an earlier attempt was better: keep it
        text = store.get(draft.best_key)
        problems = check_section(plan, index, text, earlier, ctx).problems()
    record = SectionRecord(
        index=index,
        title=plan.sections[index].title,
        text_key=draft.best_key,
        words=count_words(text),
        attempts=draft.attempt + 1,
        problems=problems,
    )
    unit_done("sections", index, ok=not problems)
    return {"sections": {index: record}, "draft": None}


def route_after_review(state: GenerateState) -> Literal["write_section", "update_table"]:
    return "write_section" if state["draft"] is not None else "update_table"
