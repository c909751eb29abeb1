"""A host graph that uses a chunkwise pipeline two ways, under the host's own checkpointer.

1. As a node: `builder.add_node("rephrase", rephrase_graph)`. The host's state shares the
   pipeline's input keys (`text`, `style`) and its output key (`result`).
2. Called from inside a host node: `rephrase_graph.invoke(...)` with an input the node builds.

The host's checkpointer covers both: run the script again with the same --thread after a crash
or Ctrl-C and it resumes inside the pipeline (finished parts are not redone; their model calls
also sit in chunkwise's call cache). The model is any spec (`openai:gpt-4o-mini` with
LLM_API_KEY, `bedrock_converse:...`, `local:qwen2.5-coder-0.5b`), default: chunkwise's choice.

    python examples/host_graph.py notes.txt --model local:qwen2.5-coder-0.5b --db host.sqlite
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any, NotRequired

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from chunkwise.graphs.rephrase import PIPELINE
from chunkwise.graphs.rephrase import graph as rephrase_graph
from chunkwise.state.rephrase import RephraseContext


class HostState(TypedDict):
    text: str  # shared with rephrase's input
    style: str
    result: NotRequired[dict[str, Any]]  # rephrase's output
    study_notes: NotRequired[str]  # the host's own keys
    report: NotRequired[str]


def make_study_notes(state: HostState, runtime: Runtime[RephraseContext]) -> dict[str, Any]:
    """Pattern 2: call the pipeline from inside a node, with an input of the node's making."""
    store = runtime.context.store()
    simpler = store.get(state["result"]["output_key"])
    out = rephrase_graph.invoke({"text": simpler, "style": "study-notes"}, context=runtime.context)
    return {"study_notes": store.get(out["result"]["output_key"])}


def report(state: HostState) -> dict[str, Any]:
    summary = state["result"]["summary"]["totals"]
    return {"report": f"{summary['chunks']} parts rewritten, {summary['flagged']} flagged"}


def build_host(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[
    Any, Any, Any, Any
]:
    builder = StateGraph(HostState, context_schema=RephraseContext)
    builder.add_node("rephrase", rephrase_graph)  # pattern 1: the pipeline is a node
    builder.add_node(make_study_notes)
    builder.add_node(report)
    builder.add_edge(START, "rephrase")
    builder.add_edge("rephrase", "make_study_notes")
    builder.add_edge("make_study_notes", "report")
    builder.add_edge("report", END)
    return builder.compile(checkpointer=checkpointer)


def saver(path: str) -> BaseCheckpointSaver[Any]:
    """A SQLite checkpointer that may revive the pipeline's state types."""
    conn = sqlite3.connect(path, check_same_thread=False)
    allowed = [(t.__module__, t.__name__) for t in PIPELINE.checkpoint_types]
    return SqliteSaver(conn).with_allowlist(allowed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", help="a text file to rewrite")
    parser.add_argument("--model", help="model spec (default: chunkwise's choice)")
    parser.add_argument("--db", default="host.sqlite", help="the host's checkpoint database")
    parser.add_argument("--thread", default="example", help="the host run's thread id")
    args = parser.parse_args()
    host = build_host(saver(args.db))
    context = RephraseContext(rewriter_model=args.model, blob_store=args.db + ".blobs")
    config: Any = {"configurable": {"thread_id": args.thread}}
    # a thread with a checkpoint resumes where it stopped; a new one starts from the document
    started = bool(host.get_state(config).values)
    text = Path(args.document).read_text("utf-8")
    out = host.invoke(None if started else {"text": text, "style": "simpler"}, config,
                      context=context, durability="sync")
    print(out["report"])
    print(out["study_notes"][:500])


if __name__ == "__main__":
    main()
