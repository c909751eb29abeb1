"""rephrase: Kimi K2 style chunk-wise rewriting of a document longer than a model's output.

plan_chunks -> rewrite_chunk (a cycle, one part and one checkpoint per step) -> stitch_output.
Each part is rewritten with the style instruction, the end of the rewrite so far and the
already-covered source overlap as context, verified, and retried with the reasons it failed.

`PIPELINE` describes it for the runner; `graph` is compiled without a checkpointer so Studio
and host systems attach their own. The CLI and `ChunkWiseRephrasePipeline` run it under SQLite
through `chunkwise.runtime.runner.run_pipeline`.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from chunkwise.nodes.rephrase.plan import next_step, plan_chunks
from chunkwise.nodes.rephrase.rewrite import rewrite_chunk
from chunkwise.nodes.rephrase.stitch import stitch_output
from chunkwise.runtime.pipeline import Pipeline
from chunkwise.state.rephrase import (
    CHECKPOINT_TYPES,
    RephraseContext,
    RephraseInput,
    RephraseOutput,
    RephraseResult,
    RephraseState,
)

STEPS = ["rewrite_chunk", "stitch_output"]


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


PIPELINE = Pipeline(
    name="rephrase",
    description="Rewrite a long document part by part in a style, each part conditioned on "
    "the rewrite so far; verify every part and retry those that fail.",
    build=build_graph,
    context_type=RephraseContext,
    result_type=RephraseResult,
    checkpoint_types=CHECKPOINT_TYPES,
    text_inputs=(("text", "text_key"),),
)
graph = PIPELINE.compile()
