"""rephrase: Kimi K2 style chunk-wise rewriting of a document longer than a model's output.

plan_chunks -> rewrite_chunk (a cycle, one part and one checkpoint per step) -> stitch_output.
Each part is rewritten with the style instruction, the end of the rewrite so far and the
already-covered source overlap as context, verified, and retried with the reasons it failed.

`graph` is compiled without a checkpointer so Studio and host systems attach their own; the
CLI and `ChunkWiseRephrasePipeline` run it under SQLite through `chunkwise.runtime.runner`.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from chunkwise.nodes.rephrase.plan import next_step, plan_chunks
from chunkwise.nodes.rephrase.rewrite import rewrite_chunk
from chunkwise.nodes.rephrase.stitch import stitch_output
from chunkwise.state.rephrase import (
    RephraseContext,
    RephraseInput,
    RephraseOutput,
    RephraseState,
)

Context = RephraseContext
STEPS = ["rewrite_chunk", "stitch_output"]
# One step per part: a whole book is thousands of steps, far beyond LangGraph's default of 25.
RECURSION_LIMIT = 1_000_000


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(
        RephraseState,
        context_schema=RephraseContext,
        input_schema=RephraseInput,
        output_schema=RephraseOutput,
    )
    builder.add_node(plan_chunks)
    builder.add_node(rewrite_chunk)
    builder.add_node(stitch_output)
    builder.add_edge(START, "plan_chunks")
    builder.add_conditional_edges("plan_chunks", next_step, STEPS)
    builder.add_conditional_edges("rewrite_chunk", next_step, STEPS)
    builder.add_edge("stitch_output", END)
    return builder


def is_done(values: dict[str, Any]) -> bool:
    """A finished run is returned as stored; parts that failed verification are flagged in
    its report, not retried again."""
    return bool(values.get("output_key"))


graph = build_graph().compile(name="rephrase").with_config(recursion_limit=RECURSION_LIMIT)
