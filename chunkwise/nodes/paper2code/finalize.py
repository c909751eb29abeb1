"""Assemble the result dictionary of the original API (plus usage, diagnostics and what
checking the code found). The best attempt is kept: runs > passes the static check > parses."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.errors import ConfigError
from chunkwise.nodes.paper2code.check import attempt_passed
from chunkwise.nodes.paper2code.code import syntax_error
from chunkwise.nodes.paper2code.repo import CONFIG_FILES, README
from chunkwise.runtime.blobs import BlobStore
from chunkwise.state.paper2code import (
    ENTRY_POINT,
    AttemptReport,
    ChunkResult,
    CodeAttempt,
    GeneratedFile,
    Paper2CodeContext,
    Paper2CodeResult,
    Paper2CodeState,
    SmokeReport,
    Validation,
    best_attempt,
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


def validation_report(state: Paper2CodeState, kept: CodeAttempt) -> Validation:
    attempts = state["attempts"]
    smoke = kept.smoke
    return Validation(
        passed=attempt_passed(kept),
        static=kept.findings,
        smoke=SmokeReport(ok=smoke.ok, seconds=smoke.seconds, error=smoke.error,
                          diagnosis=smoke.trace.describe() if smoke.trace else None,
                          network_isolated=smoke.network_isolated) if smoke else None,
        attempts=len(attempts),
        repairs=state["repairs"],
        kept=kept.number,
        history=[
            AttemptReport(number=a.number, compiles=a.compiles, static_passed=a.static_passed,
                          smoke_ok=a.smoke.ok if a.smoke else None, error=a.error_line(),
                          diagnosis=a.smoke.trace.describe() if a.smoke and a.smoke.trace
                          else None,
                          auto_fixes=a.auto_fixes)
            for a in attempts
        ],
        stopped=state["repair_stopped"],
    )


def tree_files(state: Paper2CodeState, kept: CodeAttempt, store: BlobStore) -> list[GeneratedFile]:
    """The repository's files in the order they were written: config, plan order, README."""
    plan = state["plan"]
    order = [*CONFIG_FILES, *(f.path for f in plan.files), README] if plan else []
    paths = sorted(kept.files, key=lambda p: (order.index(p) if p in order else len(order), p))
    return [GeneratedFile(path=p, lines=len(store.get(kept.files[p]).splitlines()),
                          key=kept.files[p]) for p in paths]


def finalize(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    failure = state["failure"]
    attempts = state["attempts"]
    kept = best_attempt(attempts) if attempts and failure is None else None
    code, files, validation, syntax = "", [], None, None
    if kept is not None:
        validation = validation_report(state, kept)
        if ctx.layout == "repo":
            files = tree_files(state, kept, store)
            syntax = next((f.render() for f in kept.findings if f.kind == "syntax"), None)
        else:
            code = store.get(kept.files[ENTRY_POINT])
            syntax = syntax_error(code)
    datasets = state["datasets"]
    results = chunk_results(state)
    result = Paper2CodeResult(
        success=failure is None,
        error=failure,
        paper_id=state["paper_id"],
        paper_title=state["paper_title"],
        code=code,
        model_used=model_name(ctx, "code"),
        dataset_recommendations=datasets.model_dump() if datasets else {},
        recommended_dataset=datasets.recommended_dataset if datasets else "",
        chunk_results=results,
        num_chunks=len(results),
        successful_chunks=sum(1 for r in results if r["success"]),
        total_generation_time=round(time.time() - state["started_at"], 3),
        final_generation_time=state["final_generation_time"],
        chunk_model=model_name(ctx, "chunk"),
        collapse_rounds=state["collapse_rounds"],
        code_syntax_error=syntax,
        layout=ctx.layout,
        files=files,
        validation=validation,
        usage=state["usage"],
    )
    return {"result": result.to_dict()}


def model_name(ctx: Paper2CodeContext, role: str) -> str:
    """The model's name without building it (a failed run may have no usable credentials);
    the local alias `local:default` is named by the model it stands for."""
    from chunkwise.models.defaults import resolve_spec
    from chunkwise.models.local.registry import PROVIDER_PREFIX, resolve_local_model

    ref = ctx.chunk_model if role == "chunk" else ctx.code_model
    if ref is not None and not isinstance(ref, str):
        return type(ref).__name__
    spec = resolve_spec(role, ref).spec
    if spec.lower().startswith(PROVIDER_PREFIX):
        try:
            return PROVIDER_PREFIX + resolve_local_model(spec).name
        except ConfigError:
            return spec
    return spec
