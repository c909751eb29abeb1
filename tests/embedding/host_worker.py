"""A host graph that embeds one chunkwise pipeline; the embedding tests run it in a child process
and kill it with SIGKILL in the middle of the subgraph.

Usage: python -m tests.embedding.host_worker PIPELINE MODE DB LOG HANG_TASK HANG_AT

MODE `node`: the compiled pipeline graph is a node of the host (`add_node(name, graph)`, shared
keys); MODE `call`: a host node invokes it. The host's own SQLite checkpointer covers both. Every
answered model call appends `task hash` to LOG; the HANG_AT-th call of HANG_TASK (0: none)
writes LOG.hang and blocks forever. A run whose thread has a checkpoint resumes it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, NotRequired

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from chunkwise.graphs import generate, paper2code, rephrase
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.pipeline import Pipeline
from tests.generate.support import manual_plan, writer_model
from tests.paper2code.support import paper_model
from tests.rephrase.support import echo
from tests.rephrase.support import model as rewrite_model

REPO = Path(__file__).resolve().parents[2]
TEXT = ("In 1950 the committee met in Geneva with 12 delegations. It agreed on three rules. "
        "Each rule was written by a different delegation and signed in May.\n\n") * 8


class Host(TypedDict):
    """The host's own state: the shared keys of every pipeline, and its own `summary`."""

    paper_path: NotRequired[str]
    text: NotRequired[str]
    style: NotRequired[str]
    manual_plan: NotRequired[dict[str, Any]]
    result: NotRequired[dict[str, Any]]
    summary: NotRequired[str]


def setup(name: str) -> tuple[Pipeline[Any], dict[str, Any], ScriptedChatModel, dict[str, Any]]:
    """The pipeline, its input, a scripted model and the context's model fields."""
    if name == "paper2code":
        model = paper_model()
        payload = {"paper_path": str(REPO / "examples" / "gated_mixer_paper.md")}
        return paper2code.PIPELINE, payload, model, {"chunk_model": model, "code_model": model}
    if name == "rephrase":
        model = rewrite_model(echo)
        payload = {"text": TEXT, "style": "faithful"}
        return rephrase.PIPELINE, payload, model, {"rewriter_model": model, "chunk_tokens": 40,
                                                   "overlap_tokens": 8, "tokenizer": "whitespace"}
    model = writer_model()
    models = {"planner_model": model, "writer_model": model, "judge_model": model}
    return generate.PIPELINE, {"manual_plan": manual_plan(4)}, model, models


def instrument(model: ScriptedChatModel, log: str, hang_task: str, hang_at: int) -> None:
    """Log every answered call; hang at the chosen one."""
    seen: dict[str, int] = {}

    def wrap(task: str, responder: Any) -> Any:
        def answer(call: ScriptedCall) -> Any:
            seen[task] = seen.get(task, 0) + 1
            if task == hang_task and seen[task] == hang_at:
                Path(log + ".hang").write_text("hanging", "utf-8")
                while True:
                    time.sleep(1)
            value = responder(call)
            digest = hashlib.sha1(call.prompt.encode()).hexdigest()[:16]
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{task} {digest}\n")
            return value

        return answer

    model.responders = {task: wrap(task, r) for task, r in model.responders.items()}


def build_host(pipeline: Pipeline[Any], mode: str) -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(Host, context_schema=pipeline.context_type)
    if mode == "node":
        builder.add_node(pipeline.name, pipeline.compile())
    else:
        subgraph = pipeline.compile()
        keys = set(subgraph.get_input_jsonschema()["properties"])

        def run_pipeline_node(state: Host, runtime: Runtime[Any]) -> dict[str, Any]:
            given = {k: v for k, v in state.items() if k in keys}
            return {"result": subgraph.invoke(given, context=runtime.context)["result"]}

        builder.add_node(pipeline.name, run_pipeline_node)

    def summarize(state: Host) -> dict[str, Any]:
        return {"summary": f"{pipeline.name} finished: success={state['result']['success']}"}

    builder.add_node("summarize", summarize)
    builder.add_edge(START, pipeline.name)
    builder.add_edge(pipeline.name, "summarize")
    builder.add_edge("summarize", END)
    return builder


def main(name: str, mode: str, db: str, log: str, hang_task: str, hang_at: int) -> None:
    pipeline, payload, model, models = setup(name)
    instrument(model, log, hang_task, hang_at)
    context = pipeline.context_type(
        **models, models=ModelSettings(max_attempts=1),
        blob_store=str(Path(db).with_suffix(".blobs.sqlite")),
    )
    if mode == "top":  # no host: the pipeline under chunkwise's own runner
        from chunkwise.runtime.runner import run_pipeline

        result = run_pipeline(pipeline, input=payload, context=context, checkpoint_db=db,
                              run_id="top", max_concurrency=1).require_result()
        print(json.dumps({"summary": f"{name} finished: top", "success": result.success}))
        return
    conn = sqlite3.connect(db, check_same_thread=False)
    saver = SqliteSaver(conn).with_allowlist(
        [(t.__module__, t.__name__) for t in pipeline.checkpoint_types])
    host = build_host(pipeline, mode).compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": "host"}, "max_concurrency": 1}
    started = host.get_state(config).next or host.get_state(config).values
    out = host.invoke(None if started else payload, config, context=context, durability="sync")
    print(json.dumps({"summary": out.get("summary"), "success": out["result"]["success"]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
