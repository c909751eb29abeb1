"""The section loop's writing half: write (or rewrite) one section, then review it.

One section per graph step: `write_section` stores the draft and `review_section` checks it
(deterministic QC, repetition of earlier text included) before the state table records it.
A draft with problems a rewrite can fix goes back with those problems, repeated passages
quoted; a rewrite that scores worse than the best attempt is discarded, and rewriting stops as
soon as one does not improve on the best (the same prompt would get the same answer), or after
`max_retries`. Whatever repetition the kept attempt still has is taken out before it is
recorded. A resumed run continues at the section (and attempt) where it stopped.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.models.client import Completion
from chunkwise.models.retry import ModelCallError
from chunkwise.nodes.generate.budget import (
    TOKENS_PER_WORD,
    Build,
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
    recent_text,
    thresholds,
    timed,
)
from chunkwise.prompts.generate import continue_messages, rewrite_messages, section_messages
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import (
    Draft,
    GenerateContext,
    GenerateState,
    GenerationPlan,
    SectionRecord,
    StateTable,
)
from chunkwise.text import qc
from chunkwise.text.attempts import replaces_best
from chunkwise.text.tokens import resolve_tokenizer

EMPTY_PENALTY = 1000  # an empty answer is worse than any text


@timed
def write_section(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    plan = plan_of(state["plan_key"], ctx)
    index = state["cursor"]
    announce_stage("sections", len(plan.sections) - index)
    table = state["table"]
    spec = plan.sections[index]
    tokenizer = resolve_tokenizer(ctx.tokenizer, codec_ok=True)
    recent = recent_text(store, state["sections"], index, tokenizer, ctx.prefix_window_tokens)
    client = ctx.client("writer", ctx.writer_model)
    room = reply_tokens(spec.target_length, client.max_output_tokens)
    previous = state["draft"]
    earlier = [store.get(r.text_key) for r in ordered(state["sections"]) if r.index < index]
    if previous is not None and previous.index == index and previous.continue_words:
        return _continue(previous, plan, table, recent, earlier, ctx)
    if previous is not None and previous.index == index and previous.problems:
        best = store.get(previous.best_key)  # a discarded rewrite is never rewritten again
        problems, words = previous.problems, qc.count_words(best)
        phrases = overused(plan, [*earlier, best])
        try:
            reply, fitted = _call(
                ctx, "qc_rewrite", index, room, recent,
                lambda shown, text: rewrite_messages(plan, index, table, text, best, problems,
                                                     words, shown, overused=phrases),
                what=f"the QC rewrite of section {index + 1}", history=earlier,
            )
        except ModelCallError as exc:
            return _give_up(previous, exc, "QC rewrite")
        draft = previous.model_copy(update={"attempt": previous.attempt + 1, "problems": []})
    else:
        phrases = overused(plan, earlier)
        reply, fitted = _call(
            ctx, "section_generation", index, room, recent,
            lambda shown, text: section_messages(plan, index, table, text, shown,
                                                 overused=phrases),
            what=f"section {index + 1}", history=earlier,
        )
        draft = Draft(index=index, attempt=0, text_key="")
    text = qc.trim_unfinished(clean_section(reply.text, spec.title))
    draft = draft.model_copy(update={
        "text_key": store.put(text),
        "prompt_trims": list(dict.fromkeys([*draft.prompt_trims, *fitted.trims])),
        "prompt_tokens": max(draft.prompt_tokens, fitted.prompt_tokens),
    })
    return {"draft": draft, "usage": reply.usage}


OVERUSED_SHOWN = 8  # phrases a writer prompt names as already used too often


def overused(plan: GenerationPlan, texts: list[str]) -> list[str]:
    """The phrases `texts` (the sections before, and the attempt being redone) already use more
    than once, for the writer to word differently: repeated frames are what remained of the
    1.5B writer's repetition once copied sentences were taken out. The plan's own terms are
    never listed: the text has to use them."""
    asked = [plan.topic, plan.objective, *plan.terminology_preferences.values()]
    asked += [part for spec in plan.sections
              for part in (spec.title, *spec.key_points, *spec.required_entities)]
    return qc.overused_phrases([t for t in texts if t.strip()], limit=OVERUSED_SHOWN,
                               skip=asked)


def _continue(
    previous: Draft, plan: GenerationPlan, table: StateTable, recent: str, earlier: list[str],
    ctx: GenerateContext,
) -> dict[str, Any]:
    """One call that adds the missing words to the best attempt (a short section, or one whose
    copied sentences were taken out): cheaper than a rewrite, and the kept part stays."""
    store = ctx.store()
    index = previous.index
    spec = plan.sections[index]
    so_far = store.get(previous.best_key)
    phrases = overused(plan, [*earlier, so_far])
    words = previous.continue_words
    missing = previous.problems
    room = reply_tokens(words, ctx.client("writer", ctx.writer_model).max_output_tokens)
    try:
        reply, fitted = _call(
            ctx, "qc_continue", index, room, recent,
            lambda shown, text: continue_messages(plan, index, table, text, so_far, missing,
                                                  words, shown, overused=phrases),
            what=f"the continuation of section {index + 1}", history=[*earlier, so_far],
        )
    except ModelCallError as exc:
        return _give_up(previous, exc, "QC continuation")
    added = qc.trim_unfinished(clean_section(reply.text, spec.title))
    text = "\n\n".join(part for part in (so_far.strip(), added.strip()) if part)
    draft = previous.model_copy(update={
        "attempt": previous.attempt + 1, "problems": [], "continue_words": 0, "continued": True,
        "text_key": store.put(text),
        "prompt_trims": list(dict.fromkeys([*previous.prompt_trims, *fitted.trims])),
        "prompt_tokens": max(previous.prompt_tokens, fitted.prompt_tokens),
    })
    return {"draft": draft, "usage": reply.usage}


def _call(
    ctx: GenerateContext, task: str, index: int, room: int, recent: str,
    build: Build, *, what: str, history: list[str],
) -> tuple[Completion, Fitted]:
    """One writer call for section `index` under `task`, its prompt fitted to the window with
    `room` tokens to reply; the reply is kept from copying the wording of `history` (the
    sections before, and what a continuation continues) where the backend can."""
    client = ctx.client("writer", ctx.writer_model)
    tokenizer = resolve_tokenizer(ctx.tokenizer, codec_ok=True)

    def fit(share: float) -> Fitted:
        return fit_prompt(build, client=client, reply=room, recent=recent, tokenizer=tokenizer,
                          share=share, what=what)

    seen = "\n\n".join(text.strip() for text in history if text.strip())
    return call_fitted(fit, lambda f: client.complete(
        f.messages, task=task, max_tokens=f.max_tokens, item=index, history=seen))


def _give_up(previous: Draft, exc: ModelCallError, what: str) -> dict[str, Any]:
    """The model cannot redo the section: stop trying, the review keeps the best draft."""
    if not can_fall_back(exc):
        raise exc
    gave_up = previous.model_copy(update={"final": True, "problems": [], "continue_words": 0,
                                          "text_key": previous.best_key})
    return {"draft": gave_up, "warnings": [f"section {previous.index + 1}: no {what} ({exc})"]}


def fixable(plan: GenerationPlan, index: int, check: qc.SectionCheck, reply_cap: int) -> list[str]:
    """The problems a rewrite can fix: all but a length the reply cap cannot reach and a
    forbidden item the section's own spec asks for."""
    spec = plan.sections[index]
    asked = " ".join([spec.title, *spec.key_points, *spec.required_entities])
    out = [p for p in check.problems()
           if not any(p.startswith(f'mentions "{item}"') for item, _ in check.forbidden
                      if qc.names_any(asked, item))]
    if spec.target_length * TOKENS_PER_WORD > reply_cap and check.words < check.target_words:
        out = [p for p in out if not p.startswith("length:")]
    return out


LEFTOVER_SHARE = 0.2  # an attempt keeping less than this after its repeats go is a copy
LENGTH_CAP = 1.25  # an attempt longer than this share of its target loses its last sentences
MIN_CONTINUATION = 30  # words: a shortfall smaller than this is not worth a call
SHORT_SHARE = 0.8  # a section that fails QC at under this share of its target is continued


def tidy(
    plan: GenerationPlan, index: int, text: str, earlier: list[str], ctx: GenerateContext
) -> tuple[str, list[str], list[str]]:
    """An attempt as it may be kept, notes on what was taken out and the repeated sentences
    that went, before QC sees it: sentences that
    repeat earlier text or the attempt itself go (an attempt that is (nearly) all a copy goes
    whole: a copy adds nothing, and kept it makes the text say everything twice), and the last
    sentences past `LENGTH_CAP` of the target go when every key point stays covered."""
    spec = plan.sections[index]
    notes: list[str] = []
    limits = thresholds(ctx)
    cleaned, dropped = qc.drop_repeats(text, earlier, threshold=limits.duplicate_similarity,
                                       sentence_share=REPEAT_SHARE)
    if dropped and qc.count_words(cleaned) < LEFTOVER_SHARE * qc.count_words(text):
        # (nearly) every sentence went: a copy, or new points each said in an earlier sentence's
        # frame ("X is a common bad habit in English reading."); only what nearly repeats a
        # sentence goes from the second, whose new points are worth more than its wording costs
        cleaned, dropped = qc.drop_repeats(text, earlier, threshold=limits.duplicate_similarity,
                                           sentence_share=1.1, paragraph_share=0.9)
    if dropped:
        if qc.count_words(cleaned) < LEFTOVER_SHARE * qc.count_words(text):
            cleaned = ""  # the scraps of a copy (a sentence cut at the window's start) go too
        shown = "; ".join(f'"{s[:80]}"' for s in dropped[:3])
        notes.append(f"removed {len(dropped)} repeated sentence(s): {shown}" if cleaned.strip()
                     else f"left out: every sentence repeated earlier text ({shown})")
    words = qc.count_words(cleaned)
    if words > LENGTH_CAP * spec.target_length:
        cut = qc.cut_to_length(cleaned, round(LENGTH_CAP * spec.target_length))
        limit = limits.key_point_coverage
        kept = all(qc.key_point_covered(cut, p, threshold=limit) for p in spec.key_points
                   if qc.key_point_covered(cleaned, p, threshold=limit))
        if kept and all(qc.contains_phrase(cut, e) for e in spec.required_entities
                        if qc.contains_phrase(cleaned, e)):
            if cut != cleaned:
                notes.append(f"cut from {words} to {qc.count_words(cut)} words (target "
                             f"{spec.target_length}): its last sentences went")
            cleaned = cut
    return cleaned, notes, dropped


def _next_call(
    plan: GenerationPlan, index: int, check: qc.SectionCheck | None, to_fix: list[str],
    dropped: list[str],
) -> tuple[int, list[str]]:
    """(words to add, what they must cover) when continuing the attempt is the better next
    call: it is short (its repeats taken out, or written short) and nothing in it needs
    rewriting (a rule broken, an early conclusion); (0, to_fix) for a rewrite. The sentences
    taken out are quoted so the continuation does not write them again."""
    spec = plan.sections[index]
    quoted = [f'do not write again (it repeated earlier text): "{_clip(s)}"'
              for s in dropped[:3]]
    if check is None:  # nothing kept: written afresh, by continuation from nothing
        return spec.target_length, [*(f"key point: {p}" for p in spec.key_points), *quoted]
    if not to_fix:  # passed QC (or nothing a call can fix): no call
        return 0, []
    short = spec.target_length - check.words
    rewrite = check.terminology or check.forbidden or check.voice or check.concludes_early
    if check.words > SHORT_SHARE * spec.target_length or short < MIN_CONTINUATION or rewrite:
        return 0, to_fix
    missing = [f"key point: {p}" for p in check.missing_key_points]
    missing += [f"name: {e}" for e in check.missing_entities]
    return short, [*missing, *quoted]


def _clip(sentence: str, limit: int = 160) -> str:
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def _finish(
    plan: GenerationPlan, draft: Draft, earlier: list[str], ctx: GenerateContext
) -> SectionRecord:
    """The record of the best attempt (tidied when it was reviewed)."""
    store = ctx.store()
    key = draft.best_key
    text = store.get(key)
    notes = [*draft.notes, *draft.best_cleanup]
    return SectionRecord(
        index=draft.index,
        title=plan.sections[draft.index].title,
        text_key=key,
        words=qc.count_words(text),
        attempts=draft.attempt + 1,
        problems=check_section(plan, draft.index, text, earlier, ctx).problems(),
        notes=notes,
        prompt_trims=draft.prompt_trims,
        prompt_tokens=draft.prompt_tokens,
    )


@timed
def review_section(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    plan = plan_of(state["plan_key"], ctx)
    draft = state["draft"]
    assert draft is not None  # write_section set it
    index = draft.index
    earlier = [store.get(r.text_key) for r in ordered(state["sections"]) if r.index < index]
    raw = store.get(draft.text_key)
    text, cleanup, dropped = tidy(plan, index, raw, earlier, ctx)
    if text != raw:
        draft = draft.model_copy(update={"text_key": store.put(text)})
    check = check_section(plan, index, text, earlier, ctx) if text.strip() else None
    penalty = check.penalty() if check is not None else EMPTY_PENALTY
    room = reply_tokens(plan.sections[index].target_length,
                        ctx.client("writer", ctx.writer_model).max_output_tokens)
    to_fix = fixable(plan, index, check, room) if check is not None else ["the section is empty"]
    improved = draft.best_problems is None or penalty < draft.best_problems
    if draft.text_key != draft.best_key and not draft.final:
        if replaces_best(penalty, draft.best_problems):
            words, todo = _next_call(plan, index, check, to_fix, dropped)
            # a continuation keeps the best attempt's text, and so what was taken out of it
            kept = [*draft.best_cleanup, *cleanup] if draft.continued else cleanup
            draft = draft.model_copy(update={
                "best_key": draft.text_key, "best_problems": penalty, "problems": todo,
                "continue_words": words, "best_cleanup": kept})
        else:
            what = "continuation" if draft.continued else "rewrite"
            draft = draft.model_copy(update={"notes": [
                *draft.notes, f"{what} {draft.attempt} discarded: it scored worse than the "
                f"attempt before ({penalty} against {draft.best_problems} QC points)"]})
    draft = draft.model_copy(update={"continued": False})
    if ((draft.problems or draft.continue_words) and improved
            and draft.attempt < ctx.max_retries and not draft.final):
        return {"draft": draft}
    record = _finish(plan, draft, earlier, ctx)
    unit_done("sections", index, ok=not record.problems)
    return {"sections": {index: record}, "draft": None}


def route_after_review(state: GenerateState) -> Literal["write_section", "update_table"]:
    return "write_section" if state["draft"] is not None else "update_table"
