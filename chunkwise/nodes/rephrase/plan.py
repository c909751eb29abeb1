"""Validate the run, store the text, cut it into parts and store the plan."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.errors import ConfigError, InputError
from chunkwise.models.client import ModelClient
from chunkwise.nodes.rephrase.common import load_text
from chunkwise.prompts.rephrase import resolve_style, rewrite_prompt_overhead
from chunkwise.state.rephrase import RephraseContext, RephraseState
from chunkwise.text.fidelity import resolve_checks
from chunkwise.text.overlap import check_sizes, parts_to_json, split_with_overlap
from chunkwise.text.tokens import Tokenizer, resolve_tokenizer


def check_budget(
    client: ModelClient, context: RephraseContext, instruction: str, tokenizer: Tokenizer
) -> None:
    """`ConfigError` when a part cannot fit the rewriter's output or context window: the part
    and its rewrite, the rewrite so far, and the prompt around them (measured)."""
    if context.chunk_tokens > client.max_output_tokens:
        raise ConfigError(
            f"chunk tokens ({context.chunk_tokens}) exceed what {client.name} writes per call "
            f"({client.max_output_tokens}); lower the chunk size or raise --max-new-tokens"
        )
    overhead = rewrite_prompt_overhead(instruction, tokenizer)
    needed = 2 * context.chunk_tokens + context.prefix_window_tokens + overhead
    if needed > client.context_window:
        raise ConfigError(
            f"a part needs about {needed} tokens of context but {client.name} has "
            f"{client.context_window}; lower the chunk size or the prefix window"
        )


def plan_chunks(state: RephraseState, runtime: Runtime[RephraseContext]) -> dict[str, Any]:
    ctx = runtime.context
    check_sizes(ctx.chunk_tokens, ctx.overlap_tokens, ctx.prefix_window_tokens)
    if ctx.max_retries < 0:
        raise ConfigError(f"max retries must not be negative, got {ctx.max_retries}")
    resolve_checks(ctx.checks)
    style = resolve_style(state.get("style"), state.get("style_instruction"))
    tokenizer = resolve_tokenizer(ctx.tokenizer)
    rewriter = ctx.client("rewriter", ctx.rewriter_model)
    check_budget(rewriter, ctx, style.instruction, tokenizer)
    judge_name = ctx.client("judge", ctx.judge_model).name if ctx.judge else None

    store = ctx.store()
    update: dict[str, Any] = {}
    if state.get("text") is not None:
        text = state.get("text") or ""
        key = store.put(text)
        update["text"] = ""  # the text now lives in the blob store only
    elif state.get("text_key"):
        key = state["text_key"]
        text = load_text(store, key)
    else:
        raise InputError("give the text to rephrase (`text`) or its blob key (`text_key`)")
    if not text.strip():
        raise InputError("the text to rephrase is empty; give a document with text")

    parts = split_with_overlap(
        text, tokenizer, chunk_tokens=ctx.chunk_tokens, overlap_tokens=ctx.overlap_tokens
    )
    return {
        **update,
        "text_key": key,
        "style_name": style.name,
        "instruction": style.instruction,
        "rewriter_name": rewriter.name,
        "judge_name": judge_name,
        "plan_key": store.put(parts_to_json(parts)),
        "total": len(parts),
        "cursor": 0,
        "head": None,
        "flagged": 0,
    }


def next_step(state: RephraseState) -> Literal["rewrite_chunk", "stitch_output"]:
    """One part per step until every part is rewritten: a checkpoint after each."""
    return "rewrite_chunk" if state["cursor"] < state["total"] else "stitch_output"
