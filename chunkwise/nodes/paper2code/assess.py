"""Decide whether enough chunks were summarized to go on."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.state.paper2code import Paper2CodeContext, Paper2CodeState


def assess_summaries(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    """Fail the run when fewer than `min_success_ratio` of the chunks succeeded, naming each."""
    count = len(state["chunks"])
    outcomes = state["outcomes"]
    ok = sum(1 for i in range(count) if (o := outcomes.get(i)) is not None and o.success)
    needed = runtime.context.min_success_ratio
    if count and ok / count >= needed and ok > 0:
        return {"failure": None}
    reasons = "; ".join(
        f"chunk {i + 1}: {o.error if (o := outcomes.get(i)) else 'not run'}"
        for i in range(count)
        if not ((o := outcomes.get(i)) and o.success)
    )
    return {
        "failure": f"only {ok} of {count} chunks were summarized (need {needed:.0%}): {reasons}"
    }


def route_after_assess(state: Paper2CodeState) -> Literal["finalize", "combine_summaries"]:
    return "finalize" if state["failure"] else "combine_summaries"
