"""paper2code: a long research paper -> section-aware chunks -> parallel summaries ->
combined notes (collapsed while too long) -> dataset recommendation -> one PyTorch file (or a
planned repository, file by file) -> static check [and sandboxed smoke run] -> repair rounds.

`PIPELINE` describes it for the runner; `graph` is compiled without a checkpointer so Studio
and host systems attach their own. The CLI and `ChunkedPyTorchGenerator` run it under SQLite
through `chunkwise.runtime.runner.run_pipeline`.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from chunkwise.nodes.paper2code.assess import assess_summaries, route_after_assess
from chunkwise.nodes.paper2code.check import check_code, route_after_check
from chunkwise.nodes.paper2code.code import (
    recommend_datasets,
    route_after_writing,
    route_layout,
    write_code,
)
from chunkwise.nodes.paper2code.combine import collapse_summaries, combine_summaries, route_notes
from chunkwise.nodes.paper2code.finalize import finalize
from chunkwise.nodes.paper2code.load import load_paper
from chunkwise.nodes.paper2code.repair import repair_code, route_after_repair
from chunkwise.nodes.paper2code.repo import plan_repo, route_repo_files, write_repo_file
from chunkwise.nodes.paper2code.split import split_paper
from chunkwise.nodes.paper2code.summarize import dispatch_summaries, send_chunks, summarize_chunk
from chunkwise.runtime.pipeline import Pipeline
from chunkwise.state.paper2code import (
    CHECKPOINT_TYPES,
    Paper2CodeContext,
    Paper2CodeInput,
    Paper2CodeOutput,
    Paper2CodeResult,
    Paper2CodeState,
)


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(
        Paper2CodeState,
        context_schema=Paper2CodeContext,
        input_schema=Paper2CodeInput,
        output_schema=Paper2CodeOutput,
    )
    builder.add_node(load_paper)
    builder.add_node(split_paper)
    builder.add_node(dispatch_summaries)
    # a node fed by Send payloads, not state: LangGraph's add_node overloads reject its type
    builder.add_node(summarize_chunk)  # type: ignore[arg-type, call-overload, unused-ignore]
    builder.add_node(assess_summaries)
    builder.add_node(combine_summaries)
    builder.add_node(collapse_summaries)
    builder.add_node(recommend_datasets)
    builder.add_node(write_code)
    builder.add_node(plan_repo)
    builder.add_node(write_repo_file)
    builder.add_node(check_code)
    builder.add_node(repair_code)
    builder.add_node(finalize)

    builder.add_edge(START, "load_paper")
    builder.add_edge("load_paper", "split_paper")
    builder.add_edge("split_paper", "dispatch_summaries")
    builder.add_conditional_edges(
        "dispatch_summaries", send_chunks, ["summarize_chunk", "assess_summaries"]
    )
    builder.add_edge("summarize_chunk", "assess_summaries")
    builder.add_conditional_edges(
        "assess_summaries", route_after_assess, ["combine_summaries", "finalize"]
    )
    for node in ("combine_summaries", "collapse_summaries"):
        builder.add_conditional_edges(
            node, route_notes, ["collapse_summaries", "recommend_datasets", "finalize"]
        )
    builder.add_conditional_edges("recommend_datasets", route_layout, ["write_code", "plan_repo"])
    builder.add_conditional_edges("write_code", route_after_writing, ["check_code", "finalize"])
    # --layout repo: one step per file, so a resumed run writes only the files still missing
    for node in ("plan_repo", "write_repo_file"):
        builder.add_conditional_edges(
            node, route_repo_files, ["write_repo_file", "check_code", "finalize"]
        )
    # the repair loop: one checkpoint per check and per repair round
    builder.add_conditional_edges("check_code", route_after_check, ["repair_code", "finalize"])
    builder.add_conditional_edges("repair_code", route_after_repair, ["check_code", "finalize"])
    builder.add_edge("finalize", END)
    return builder


PIPELINE = Pipeline(
    name="paper2code",
    description="A long research paper -> chunk summaries in parallel -> combined notes -> "
    "dataset recommendations and PyTorch code (one file or a repository), checked, "
    "optionally run in a sandbox, and repaired from its errors.",
    build=build_graph,
    context_type=Paper2CodeContext,
    result_type=Paper2CodeResult,
    checkpoint_types=CHECKPOINT_TYPES,
    # a failed run restarts here: the dispatcher re-sends only chunks without a summary
    restart_from="split_paper",
    text_inputs=(("paper_text", "paper_key"),),
)
graph = PIPELINE.compile()
