"""The strong model's first steps: dataset recommendation, then the single PyTorch file."""

from __future__ import annotations

import ast
import time
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.nodes.paper2code.combine import join_notes
from chunkwise.prompts.paper2code import CODE_REPLY_TOKENS, code_messages, dataset_messages
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.paper2code import (
    ENTRY_POINT,
    DatasetRecommendation,
    Paper2CodeContext,
    Paper2CodeState,
)
from chunkwise.text.fences import longest_code


def extract_code(reply: str) -> str:
    """The longest Python (or unlabelled) fenced block, one left open by a cut-off reply
    included, or the whole reply when the model wrote bare code."""
    code = longest_code(reply, ("python", "py", "python3"))
    return (reply if code is None else code).strip() + "\n"


def syntax_error(code: str) -> str | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    return None


def dataset_of(state: Paper2CodeState) -> DatasetRecommendation:
    """The recommendation (recommend_datasets always sets one, a fallback on failure)."""
    datasets = state["datasets"]
    assert datasets is not None
    return datasets


def recommend_datasets(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> dict[str, Any]:
    """A structured recommendation; its failure is recorded, not fatal (the code can go on)."""
    ctx = runtime.context
    announce_stage("datasets", 1)
    notes = join_notes(ctx.store(), state["summary_keys"])
    try:
        reply = ctx.client("code", ctx.code_model).structured(
            dataset_messages(title=state["paper_title"], notes=notes),
            DatasetRecommendation,
            task="recommend_datasets",
        )
    except ModelCallError as exc:
        unit_done("datasets", ok=False, error=str(exc))
        fallback = DatasetRecommendation(task="", recommended_dataset="", preprocessing=str(exc))
        return {"datasets": fallback}
    unit_done("datasets", tokens=reply.usage.total_tokens)
    return {"datasets": reply.value, "usage": reply.usage}


def route_layout(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> Literal["plan_repo", "write_code"]:
    return "plan_repo" if runtime.context.layout == "repo" else "write_code"


def single_file_messages(
    state: Paper2CodeState, ctx: Paper2CodeContext, *, rewrite: bool = False
) -> list[BaseMessage]:
    """The single file's prompt (again, with `rewrite`, after an answer that looped)."""
    datasets = dataset_of(state)
    return code_messages(
        title=state["paper_title"],
        notes=join_notes(ctx.store(), state["summary_keys"]),
        dataset=datasets.recommended_dataset or "a suitable public dataset",
        task=datasets.task or "the paper's task",
        rewrite=rewrite,
    )


def write_code(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    """The single file; its text goes to the blob store as the first draft to check."""
    ctx = runtime.context
    announce_stage("code", 1)
    started = time.monotonic()
    try:
        reply = ctx.client("code", ctx.code_model).complete(
            single_file_messages(state, ctx), task="write_code", item=0,
            max_tokens=CODE_REPLY_TOKENS,
        )
    except ModelCallError as exc:
        unit_done("code", ok=False, error=str(exc))
        return {"failure": f"code generation failed: {exc}"}
    unit_done("code", tokens=reply.usage.total_tokens)
    return {
        "draft_files": {ENTRY_POINT: ctx.store().put(extract_code(reply.text))},
        "final_generation_time": round(time.monotonic() - started, 3),
        "usage": reply.usage,
    }


def route_after_writing(state: Paper2CodeState) -> Literal["check_code", "finalize"]:
    return "finalize" if state["failure"] else "check_code"
