"""Reword pass: each sentence that reuses wording read before it gets a short call (and a
second when the first reply cannot be used).

It runs on the final texts, after the consistency pass (a revision can bring repeats back),
section by section in order, since what counts as read before a sentence is every section
before it. A reply is kept only when it repeats less, keeps the sentence's numbers, names,
citations and the plan's terms, and does not make its section's QC worse; anything else leaves
the sentence as written. The calls are cached, so a resumed run does not pay for them twice.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from chunkwise.models.client import ModelClient
from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.generate.common import can_fall_back, check_section, ordered, plan_of, timed
from chunkwise.prompts.generate import reword_messages
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import (
    GenerateContext,
    GenerateState,
    GenerationPlan,
    SectionRecord,
)
from chunkwise.text import qc
from chunkwise.text.rewording import (
    Repeat,
    clean_reply,
    repeated_phrases,
    repeated_sentences,
    reworded,
    splice,
    used_ngrams,
)
from chunkwise.text.tokens import count_tokens

# A sentence with at least this share of its word 5-grams already read is reworded. On the
# saved texts of three generate benchmark prompts, 0.2 took the repeated 5-grams from 7.5% to
# 4.6% and 0.15 to 4.1% (about 2 s a call on the local model); on six prompts, a third of
# what 0.15 left was in sentences of 10-15%.
REWORD_SHARE = 0.1
TRIES = 2  # a refused reply is shown to the second try: the same prompt would get it again
REPLY_SLACK = 16  # tokens a reworded sentence may add to twice the original's


def _clip(sentence: str, limit: int = 100) -> str:
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def reword_text(
    client: ModelClient, plan: GenerationPlan, index: int, text: str, earlier: list[str],
    ctx: GenerateContext,
) -> tuple[str, list[str], Usage]:
    """Section `index` with its repeating sentences reworded where a reply passed every check,
    a note per sentence reworded, and the calls' usage. Every candidate gets up to `TRIES`
    calls; the candidates are found again after each change, since a change moves the text
    after it."""
    spec = plan.sections[index]
    keep = [*spec.required_entities, *plan.terminology_preferences.values()]
    penalty = check_section(plan, index, text, earlier, ctx).penalty()
    tried: set[str] = set()
    notes: list[str] = []
    usage = Usage()
    while todo := [r for r in repeated_sentences(text, earlier, min_share=REWORD_SHARE)
                   if r.sentence not in tried]:
        repeat: Repeat = todo[0]
        tried.add(repeat.sentence)
        used = used_ngrams([*earlier, text[: repeat.start]])
        phrases, refused = repeat.phrases, ""
        for _ in range(TRIES):
            reply = client.complete(
                reword_messages(repeat.sentence, repeat.before, phrases, keep, refused),
                task="reword", item=index,
                max_tokens=2 * count_tokens(repeat.sentence) + REPLY_SLACK,
                # the reply is kept from copying what was read, the sentence itself included
                history="\n\n".join([*earlier, text[: repeat.end]]))
            usage = usage + reply.usage
            new = reworded(repeat, reply.text, used, keep)
            if new is not None:
                changed = splice(text, repeat, new)
                after = check_section(plan, index, changed, earlier, ctx).penalty()
                if after <= penalty:
                    text, penalty = changed, after
                    tried.add(new)
                    notes.append("reworded a sentence that reused earlier wording: "
                                 f'"{_clip(repeat.sentence)}" -> "{_clip(new)}"')
                    break
            refused = clean_reply(reply.text)
            again = repeated_phrases(refused, used, repeat.lead) if refused else ()
            phrases = tuple(dict.fromkeys([*phrases, *again]))
    return text, notes, usage


@timed
def reword_repeats(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    if not ctx.reword_repeats:
        return {}
    store = ctx.store()
    plan = plan_of(state["plan_key"], ctx)
    records = ordered(state["sections"])
    announce_stage("reword", len(records))
    client = ctx.client("writer", ctx.writer_model)
    earlier: list[str] = []
    updates: dict[int, SectionRecord] = {}
    usage = Usage()
    warnings: list[str] = []
    for record in records:
        text = store.get(record.text_key)
        try:
            new, notes, spent = reword_text(client, plan, record.index, text, earlier, ctx)
        except ModelCallError as exc:  # optional: the text stands as written
            if not can_fall_back(exc):
                raise
            warnings.append(f"reword pass stopped at section {record.index + 1} ({exc.kind})")
            break
        usage = usage + spent
        if notes:
            updates[record.index] = record.model_copy(update={
                "text_key": store.put(new), "words": qc.count_words(new),
                "notes": [*record.notes, *notes]})
        unit_done("reword", record.index, ok=True, tokens=spent.total_tokens)
        earlier.append(new)
    return {"sections": updates, "usage": usage, "warnings": warnings}
