"""generate: plan -> (write section -> review -> update state table)* -> consistency -> reword
repeats -> QC.

The section loop is a graph cycle, one checkpoint per step, so a resumed run continues with
the section where it stopped; the consistency pass fans out one `Send` per section. `graph` is
compiled without a checkpointer so Studio and host systems attach their own; the CLI and
`ChunkWiseGenerationPipeline` run it under SQLite through `chunkwise.runtime.runner`.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from chunkwise.nodes.generate.consistency import (
    dispatch_consistency,
    review_consistency,
    send_sections,
)
from chunkwise.nodes.generate.plan import make_plan
from chunkwise.nodes.generate.quality import check_quality
from chunkwise.nodes.generate.reword import reword_repeats
from chunkwise.nodes.generate.table import route_after_table, update_table
from chunkwise.nodes.generate.write import review_section, route_after_review, write_section
from chunkwise.runtime.pipeline import Pipeline
from chunkwise.state.generate import (
    CHECKPOINT_TYPES,
    ConsistencyTask,
    GenerateContext,
    GenerateInput,
    GenerateOutput,
    GenerateResult,
    GenerateState,
)


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(
        GenerateState,
        context_schema=GenerateContext,
        input_schema=GenerateInput,
        output_schema=GenerateOutput,
    )
    builder.add_node(make_plan)
    builder.add_node(write_section)
    builder.add_node(review_section)
    builder.add_node(update_table)
    builder.add_node(dispatch_consistency)
    # a node fed by Send payloads, not state: LangGraph's add_node overloads reject its type
    builder.add_node(review_consistency, input_schema=ConsistencyTask)  # type: ignore[arg-type, call-overload, unused-ignore]
    builder.add_node(reword_repeats)
    builder.add_node(check_quality)

    builder.add_edge(START, "make_plan")
    builder.add_edge("make_plan", "write_section")
    builder.add_edge("write_section", "review_section")
    builder.add_conditional_edges(
        "review_section", route_after_review, ["write_section", "update_table"]
    )
    builder.add_conditional_edges(
        "update_table", route_after_table,
        ["write_section", "dispatch_consistency", "reword_repeats"],
    )
    builder.add_conditional_edges(
        "dispatch_consistency", send_sections, ["review_consistency", "reword_repeats"]
    )
    builder.add_edge("review_consistency", "reword_repeats")
    builder.add_edge("reword_repeats", "check_quality")
    builder.add_edge("check_quality", END)
    return builder


PIPELINE = Pipeline(
    name="generate",
    description="Write a long text from a brief or a manual plan, section by section against "
    "a state table; revise inconsistent sections; report QC (coverage, terms, repetition, "
    "length).",
    build=build_graph,
    context_type=GenerateContext,
    result_type=GenerateResult,
    checkpoint_types=CHECKPOINT_TYPES,
)
graph = PIPELINE.compile()
