"""Decide whether enough chunks were summarized to go on."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from chunkwise.state.paper2code import Paper2CodeContext, Paper2CodeState


def assess_summaries(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    """Fail the run when fewer than `min_success_ratio` of the chunks succeeded, naming each."""
    chunks = state.get("chunks", [])
    outcomes = state.get("outcomes") or {}
    ok = sum(1 for c in chunks if (o := outcomes.get(c.index)) is not None and o.success)
    needed = runtime.context.min_success_ratio
    if chunks and ok / len(chunks) >= needed and ok > 0:
        return {"failure": None}
    reasons = "; ".join(
        f"chunk {c.index + 1}: {o.error if (o := outcomes.get(c.index)) else 'not run'}"
        for c in chunks
        if not ((o := outcomes.get(c.index)) and o.success)
    )
    return {
        "failure": f"only {ok} of {len(chunks)} chunks were summarized (need "
        f"{needed:.0%}): {reasons}"
    }


def route_after_assess(state: Paper2CodeState) -> str:
    return "finalize" if state.get("failure") else "combine_summaries"
