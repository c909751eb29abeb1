"""Assemble the result dictionary of the original API (plus usage and diagnostics)."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.nodes.paper2code.code import syntax_error
from chunkwise.state.paper2code import (
    ChunkResult,
    Paper2CodeContext,
    Paper2CodeResult,
    Paper2CodeState,
)


def chunk_results(state: Paper2CodeState) -> list[ChunkResult]:
    outcomes = state["outcomes"]
    results: list[ChunkResult] = []
    for index in range(len(state["chunks"])):
        outcome = outcomes.get(index)
        item = ChunkResult(
            chunk_number=index + 1,
            success=bool(outcome and outcome.success),
            summary_length=outcome.summary_length if outcome else 0,
            processing_time=outcome.processing_time if outcome else 0.0,
        )
        if outcome is None or not outcome.success:
            item["error"] = outcome.error if outcome and outcome.error else "not run"
        results.append(item)
    return results


def finalize(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    failure = state["failure"]
    code_key = state["code_key"]
    code = "" if failure or not code_key else ctx.store().get(code_key)
    datasets = state["datasets"]
    results = chunk_results(state)
    result = Paper2CodeResult(
        success=failure is None,
        error=failure,
        paper_id=state["paper_id"],
        paper_title=state["paper_title"],
        code=code,
        model_used=_name(ctx, "code"),
        dataset_recommendations=datasets.model_dump() if datasets else {},
        recommended_dataset=datasets.recommended_dataset if datasets else "",
        chunk_results=results,
        num_chunks=len(results),
        successful_chunks=sum(1 for r in results if r["success"]),
        total_generation_time=round(time.time() - state["started_at"], 3),
        final_generation_time=state["final_generation_time"],
        chunk_model=_name(ctx, "chunk"),
        collapse_rounds=state["collapse_rounds"],
        code_syntax_error=syntax_error(code) if code else None,
        usage=state["usage"],
    )
    return {"result": result.to_dict()}


def _name(ctx: Paper2CodeContext, role: str) -> str:
    """The model's name without building it (a failed run may have no usable credentials)."""
    from chunkwise.models.defaults import resolve_spec

    ref = ctx.chunk_model if role == "chunk" else ctx.code_model
    if ref is not None and not isinstance(ref, str):
        return type(ref).__name__
    return resolve_spec(role, ref).spec
