"""Join the chunk summaries into notes, collapsing them in rounds while they are too long."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.paper2code.budget import chunk_budget, notes_budget
from chunkwise.prompts.paper2code import merge_messages, notes_token_cap, notes_word_limit
from chunkwise.runtime.blobs import BlobStore
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.paper2code import Paper2CodeContext, Paper2CodeState
from chunkwise.text.tokens import count_tokens

MAX_COLLAPSE_ROUNDS = 8


def join_notes(store: BlobStore, keys: list[str]) -> str:
    return "\n\n".join(f"### Part {i + 1}\n{store.get(k)}" for i, k in enumerate(keys))


def _measure(state_keys: list[str], ctx: Paper2CodeContext) -> dict[str, Any]:
    notes = join_notes(ctx.store(), state_keys)
    budget = notes_budget(ctx.client("code", ctx.code_model))
    return {"summary_keys": state_keys, "notes_tokens": count_tokens(notes), "notes_budget": budget}


def combine_summaries(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> dict[str, Any]:
    keys = [
        o.summary_key
        for _, o in sorted(state["outcomes"].items())
        if o.success and o.summary_key is not None
    ]
    return {**_measure(keys, runtime.context), "collapse_rounds": 0}


def route_notes(
    state: Paper2CodeState,
) -> Literal["finalize", "collapse_summaries", "recommend_datasets"]:
    if state["failure"]:
        return "finalize"
    if state["notes_tokens"] > state["notes_budget"]:
        return "collapse_summaries"
    return "recommend_datasets"


def _groups(store: BlobStore, keys: list[str], budget: int) -> list[list[str]]:
    """Consecutive groups that fit the merge budget, at least two notes each where possible."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for key in keys:
        tokens = count_tokens(store.get(key))
        if current and size + tokens > budget and len(current) >= 2:
            groups.append(current)
            current, size = [], 0
        current.append(key)
        size += tokens
    if current:
        if len(current) == 1 and groups:
            groups[-1].append(current[0])
        else:
            groups.append(current)
    return groups


def collapse_summaries(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> dict[str, Any]:
    """One round: merge neighbouring summaries in groups; the route loops until they fit."""
    ctx = runtime.context
    store = ctx.store()
    rounds = state["collapse_rounds"] + 1
    keys = list(state["summary_keys"])
    client = ctx.client("chunk", ctx.chunk_model)
    groups = _groups(store, keys, chunk_budget(client, ctx.chunk_tokens))
    if rounds > MAX_COLLAPSE_ROUNDS or len(groups) >= len(keys):
        return {
            "failure": f"the notes ({state['notes_tokens']} tokens) do not shrink below the "
            f"code model's budget ({state['notes_budget']}) after {rounds - 1} rounds: "
            "use a code model with a larger context (--code-model) or --context-window",
            "collapse_rounds": rounds - 1,
        }
    announce_stage(f"collapse round {rounds}", len(groups))
    usage = Usage()
    merged: list[str] = []
    first = 1
    try:
        for group in groups:
            notes = join_notes(store, group)
            max_words = notes_word_limit(count_tokens(notes))
            reply = client.complete(
                merge_messages(
                    title=state["paper_title"],
                    notes=notes,
                    first=first,
                    last=first + len(group) - 1,
                    max_words=max_words,
                ),
                task="collapse_summaries",
                max_tokens=notes_token_cap(max_words),
                item=len(merged),
            )
            usage = usage + reply.usage
            merged.append(store.put(reply.text.strip() or notes))
            first += len(group)
            unit_done(f"collapse round {rounds}", len(merged) - 1,
                      tokens=reply.usage.total_tokens)
    except ModelCallError as exc:
        return {"failure": f"collapsing summaries failed: {exc}", "usage": usage}
    return {**_measure(merged, ctx), "collapse_rounds": rounds, "usage": usage}
