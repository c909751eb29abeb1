"""Load the paper from a path or an id and store its text; state gets the key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.errors import InputError
from chunkwise.runtime.progress import announce_stage
from chunkwise.state.paper2code import Paper2CodeContext, Paper2CodeState
from chunkwise.text.loaders import (
    FolderPaperSource,
    LoadedDocument,
    document_from_text,
    load_document,
)


def resolve_paper_path(state: Paper2CodeState, ctx: Paper2CodeContext) -> Path:
    if state.get("paper_path"):
        return Path(str(state["paper_path"]))
    if state.get("paper_id"):
        source = ctx.paper_source or FolderPaperSource(ctx.papers_dir)
        return Path(source.resolve(str(state["paper_id"])))
    raise InputError("no paper given: pass paper_path, paper_id or paper_text")


def _document(
    state: Paper2CodeState, ctx: Paper2CodeContext
) -> tuple[LoadedDocument, dict[str, Any]]:
    """The paper, and the state update that takes a pasted text out of the state."""
    name = str(state.get("paper_id") or "paper_text")
    if state.get("paper_key"):
        return document_from_text(ctx.store().get(state["paper_key"]), name), {}
    if state.get("paper_text"):  # given straight to the graph (Studio, a host graph)
        text = str(state["paper_text"])
        moved = {"paper_text": "", "paper_key": ctx.store().put(text)}
        return document_from_text(text, name), moved
    path = resolve_paper_path(state, ctx)
    return load_document(path), {"paper_id": state.get("paper_id") or path.stem}


def load_paper(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    announce_stage("load")
    doc, update = _document(state, runtime.context)
    store = runtime.context.store()
    headings = [[h.level, h.title, h.offset] for h in doc.headings]
    return {
        "paper_id": state.get("paper_id") or doc.source,
        **update,
        "paper_title": doc.title,
        "doc_key": store.put(doc.text),
        "headings_key": store.put(json.dumps(headings, ensure_ascii=False)),
        "started_at": time.time(),
        # what a failed run's finalize reads before the nodes that own them have run
        "collapse_rounds": 0,
        "datasets": None,
        "plan": None,
        "draft_files": {},
        "attempts": [],
        "repairs": 0,
        "repair_stopped": None,
        "final_generation_time": 0.0,
    }
