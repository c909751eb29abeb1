"""Rewrite one part, verify it, retry it with the reasons it failed; one graph step per part.

The part's region is sent without its edge whitespace, with the end of the rewrite so far and
the already-covered overlap as context. The answer is cleaned (chatter a small model wraps it
in, a verbatim repeat of covered text), checked, and retried with the failure reasons up to
`max_retries` times. The attempt with the fewest failed checks is kept (the latest on a tie);
a part that still fails is kept and flagged. Its text and record go to the blob store.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime

from chunkwise.models.client import ModelClient
from chunkwise.models.usage import Usage
from chunkwise.nodes.rephrase.common import fidelity_limits, load_text, records_back
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.prompts.rephrase import (
    RewriteRequest,
    RewriteVerdict,
    judge_messages,
    rewrite_messages,
)
from chunkwise.runtime.blobs import read_cached
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.rephrase import CheckOutcome, PartRecord, RephraseContext, RephraseState
from chunkwise.text.attempts import replaces_best
from chunkwise.text.fidelity import (
    CheckResult,
    ChunkSample,
    changed_share,
    check_style_change,
    run_checks,
)
from chunkwise.text.overlap import (
    parts_from_json,
    split_edges,
    strip_chatter,
    tail_tokens,
    trim_repeated_lead,
)
from chunkwise.text.tokens import Tokenizer, resolve_tokenizer


def rewritten_so_far(
    context: RephraseContext, head: str | None, tokenizer: Tokenizer, window: int
) -> str:
    """The last `window` tokens of the stitched output so far, from the newest records back."""
    store = context.store()
    pieces: list[str] = []
    tokens = 0
    for record in records_back(store, head):
        pieces.append(store.get(record.piece_key))
        tokens += record.tokens_out
        if tokens > window:
            break
    return tail_tokens("".join(reversed(pieces)), tokenizer, window)


def _judge(
    client: ModelClient, request: RewriteRequest, rewritten: str, min_score: int
) -> tuple[CheckResult, Usage, list[BaseMessage]]:
    """The LLM judge as one more check: its score, and its reasons when below `min_score`."""
    messages = judge_messages(request.style_instruction, request.current_chunk, rewritten)
    answer = client.structured(messages, RewriteVerdict, task="judge_rewrite",
                               item=request.chunk_index)
    verdict = answer.value
    reasons = tuple(" ".join(r.split()) for r in verdict.reasons if r.strip())
    passed = verdict.score >= min_score
    if not passed and not reasons:
        reasons = (f"the judge scored the rewrite {verdict.score} of 5",)
    result = CheckResult("judge", passed, reasons, float(verdict.score))
    return result, answer.usage, messages


def _rank(results: list[CheckResult], style: CheckResult) -> int:
    """Failed checks, a fidelity failure counting more than a style not applied: an attempt
    that keeps every fact beats one that changes more words but drops one."""
    return 2 * sum(not r.passed for r in results) + (0 if style.passed else 1)


def _rewrite_until_verified(
    ctx: RephraseContext,
    base: RewriteRequest,
    sample: ChunkSample,
    tokenizer: Tokenizer,
    record: PartRecord,
) -> str:
    """Attempts of one part until one passes or the retries run out; the best one's text.

    A part that keeps every fact but comes back nearly unchanged under a style that asks for
    change (`fidelity.check_style_change`) is retried once, saying so; if it is still nearly
    unchanged it is kept and reported as unchanged, not flagged."""
    rewriter = ctx.client("rewriter", ctx.rewriter_model)
    judge = ctx.client("judge", ctx.judge_model) if ctx.judge else None
    usage = Usage()
    best: tuple[str, list[CheckResult], CheckResult] = ("", [], CheckResult("style_change", True))
    best_rank: int | None = None
    feedback: tuple[str, ...] = ()
    style_retried = False
    for attempt in range(ctx.max_retries + 1):
        request = replace(base, feedback=feedback, attempt=attempt)
        messages = rewrite_messages(request)
        completion = rewriter.complete(messages, task="rewrite", item=base.chunk_index)
        usage = usage + completion.usage
        record.calls += 1
        record.tokens_sent += prompt_tokens(messages, tokenizer)
        answer = strip_chatter(completion.text, base.current_chunk)
        answer = trim_repeated_lead(
            answer, [base.overlap_text, base.rewritten_prefix], base.current_chunk
        )
        attempt_sample = replace(sample, rewritten=answer)
        results = run_checks(attempt_sample, ctx.checks, ctx.extra_checks)
        style = check_style_change(attempt_sample)
        if judge is not None and all(r.passed for r in results):
            verdict, judged, judge_prompt = _judge(judge, request, answer, ctx.judge_min_score)
            results.append(verdict)
            usage = usage + judged
            record.calls += 1
            record.judge_tokens_sent += prompt_tokens(judge_prompt, tokenizer)
        rank = _rank(results, style)
        if replaces_best(rank, best_rank):
            best, best_rank = (answer, results, style), rank
        failed = [r for r in results if not r.passed]
        style_due = not style.passed and not style_retried  # one retry for it, saying so
        if not failed and not style_due:
            break
        feedback = tuple(reason for r in failed for reason in r.reasons)
        if style_due:
            feedback, style_retried = (*feedback, *style.reasons), True
        if attempt < ctx.max_retries:
            record.retries += 1
            record.retry_reasons.extend(feedback)
    text, results, style = best
    shown = [style, *results] if sample.limits.min_change > 0 else results
    record.checks = [CheckOutcome(**r.to_dict()) for r in shown]
    record.passed = all(r.passed for r in results)
    record.flagged = not record.passed
    record.unchanged = not style.passed
    record.changed = round(changed_share(base.current_chunk, text), 3)
    record.input_tokens_billed = usage.input_tokens
    record.output_tokens_billed = usage.output_tokens
    return text


def rewrite_chunk(state: RephraseState, runtime: Runtime[RephraseContext]) -> dict[str, Any]:
    ctx = runtime.context
    index, total = state["cursor"], state["total"]
    stage = f"rephrase ({state['style_name']})"
    announce_stage(stage, total - index)
    store = ctx.store()
    part = read_cached(store, state["plan_key"], parts_from_json)[index]
    text = load_text(store, state["text_key"])
    tokenizer = resolve_tokenizer(ctx.tokenizer)
    region = text[part.start : part.end]
    lead, core, trail = split_edges(region)
    covered = split_edges(text[part.context_start : part.start])[1]
    window = rewritten_so_far(ctx, state["head"], tokenizer, ctx.prefix_window_tokens)
    previous = split_edges(window)[1]
    started = time.monotonic()
    record = PartRecord(
        index=index,
        start=part.start,
        end=part.end,
        tokens_in=tokenizer.count(region),
        tokens_out=0,
        context_tokens=tokenizer.count(covered),
        prefix_tokens=tokenizer.count(previous),
        piece_key="",
        prev=state["head"],
    )
    rewritten = core
    if core:  # a whitespace-only region is kept as is, without a call
        style = state["style_name"]
        request = RewriteRequest(
            style_instruction=state["instruction"],
            current_chunk=core,
            rewritten_prefix=previous,
            overlap_text=covered,
            chunk_index=index,
            total_chunks=total,
        )
        sample = ChunkSample(core, "", previous, covered, style, fidelity_limits(style, ctx))
        rewritten = _rewrite_until_verified(ctx, request, sample, tokenizer, record)

    piece = lead + rewritten + trail  # the region's own edge whitespace around the rewrite
    record.piece_key = store.put(piece)
    record.tokens_out = tokenizer.count(piece)
    record.seconds = round(time.monotonic() - started, 3)
    key = store.put(record.model_dump_json())
    unit_done(stage, index, ok=record.passed,
              tokens=record.input_tokens_billed + record.output_tokens_billed)
    return {
        "cursor": index + 1,
        "head": key,
        "flagged": state["flagged"] + (1 if record.flagged else 0),
    }
