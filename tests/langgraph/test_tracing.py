"""Tracing: a LangChain callback handler (what LangSmith uses) sees every node and every model
call with a run name, and tags naming the pipeline, the task and the item; without a handler
the run is the same. No network: the handler records in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from chunkwise.graphs.paper2code import graph
from chunkwise.models.settings import ModelSettings
from chunkwise.state.paper2code import Paper2CodeContext
from tests.paper2code.support import paper_model

PAPER = Path(__file__).resolve().parents[2] / "examples" / "gated_mixer_paper.md"


class Recorder(BaseCallbackHandler):
    """Every chain (graph, node) and chat model run: name, tags, metadata."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, list[str], dict[str, Any]]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       tags: list[str] | None = None, metadata: dict[str, Any] | None = None,
                       **kwargs: Any) -> None:
        self.runs.append(("chain", str(kwargs.get("name")), tags or [], metadata or {}))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                            tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.runs.append(("chat", str(kwargs.get("name")), tags or [], metadata or {}))


def _run(callbacks: list[Any]) -> dict[str, Any]:
    model = paper_model()
    context = Paper2CodeContext(chunk_model=model, code_model=model, num_chunks=3,
                                blob_store=":memory:", models=ModelSettings(cache=False))
    config: Any = {"callbacks": callbacks}
    return dict(graph.invoke({"paper_path": str(PAPER)}, config, context=context)["result"])


def test_nodes_and_model_calls_are_named_and_tagged() -> None:
    recorder = Recorder()
    result = _run([recorder])
    nodes = {name for kind, name, _, meta in recorder.runs
             if kind == "chain" and meta.get("langgraph_node") == name}
    assert {"load_paper", "split_paper", "summarize_chunk", "write_code", "finalize"} <= nodes
    assert all("pipeline:paper2code" in tags for _, _, tags, _ in recorder.runs)
    chats = [(name, tags, meta) for kind, name, tags, meta in recorder.runs if kind == "chat"]
    summaries = [(tags, meta) for name, tags, meta in chats if name == "summarize_chunk"]
    assert sorted(meta["chunkwise_item"] for _, meta in summaries) == [0, 1, 2]
    for tags, meta in summaries:
        assert "chunkwise:summarize_chunk" in tags and f"item:{meta['chunkwise_item']}" in tags
        assert meta["chunkwise_pipeline"] == "paper2code" and meta["langgraph_node"] == (
            "summarize_chunk")
    assert any(name == "write_code" for name, _, _ in chats)
    assert result["success"]


def test_tracing_off_changes_nothing() -> None:
    traced, plain = _run([Recorder()]), _run([])
    for key in ("total_generation_time", "final_generation_time", "chunk_results"):
        traced.pop(key), plain.pop(key)
    assert traced == plain
