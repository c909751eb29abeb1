"""The strong model's steps: dataset recommendation, then the PyTorch file."""

from __future__ import annotations

import ast
import re
import time
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.nodes.paper2code.combine import join_notes
from chunkwise.prompts.paper2code import code_messages, dataset_messages
from chunkwise.runtime.progress import emit
from chunkwise.state.paper2code import DatasetRecommendation, Paper2CodeContext, Paper2CodeState

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(reply: str) -> str:
    """The longest fenced block, or the whole reply when the model wrote bare code."""
    blocks = _FENCE.findall(reply)
    code = max(blocks, key=len) if blocks else reply
    return code.strip() + "\n"


def syntax_error(code: str) -> str | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    return None


def recommend_datasets(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> dict[str, Any]:
    """A structured recommendation; its failure is recorded, not fatal (the code can go on)."""
    ctx = runtime.context
    emit("stage", name="datasets", total=1)
    notes = join_notes(ctx.store(), state.get("summary_keys", []))
    try:
        reply = ctx.client("code", ctx.code_model).structured(
            dataset_messages(title=state.get("paper_title", ""), notes=notes),
            DatasetRecommendation,
            task="recommend_datasets",
        )
    except ModelCallError as exc:
        emit("unit_done", name="datasets", ok=False)
        fallback = DatasetRecommendation(task="", recommended_dataset="", preprocessing=str(exc))
        return {"datasets": fallback}
    emit("unit_done", name="datasets", ok=True)
    return {"datasets": reply.value, "usage": reply.usage}


def write_code(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    emit("stage", name="code", total=1)
    datasets = state.get("datasets") or DatasetRecommendation(task="", recommended_dataset="")
    notes = join_notes(ctx.store(), state.get("summary_keys", []))
    started = time.monotonic()
    try:
        reply = ctx.client("code", ctx.code_model).complete(
            code_messages(
                title=state.get("paper_title", ""),
                notes=notes,
                dataset=datasets.recommended_dataset or "a suitable public dataset",
                task=datasets.task or "the paper's task",
            ),
            task="write_code",
        )
    except ModelCallError as exc:
        emit("unit_done", name="code", ok=False)
        return {"failure": f"code generation failed: {exc}"}
    emit("unit_done", name="code", ok=True)
    return {
        "code_key": ctx.store().put(extract_code(reply.text)),
        "final_generation_time": round(time.monotonic() - started, 3),
        "usage": reply.usage,
    }
