"""Load the paper from a path or an id and store its text; state gets the key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.errors import InputError
from chunkwise.runtime.progress import emit
from chunkwise.state.paper2code import Paper2CodeContext, Paper2CodeState
from chunkwise.text.loaders import FolderPaperSource, load_document


def resolve_paper_path(state: Paper2CodeState, ctx: Paper2CodeContext) -> Path:
    if state.get("paper_path"):
        return Path(str(state["paper_path"]))
    if state.get("paper_id"):
        source = ctx.paper_source or FolderPaperSource(ctx.papers_dir)
        return Path(source.resolve(str(state["paper_id"])))
    raise InputError("no paper given: pass paper_path or paper_id")


def load_paper(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    emit("stage", name="load")
    path = resolve_paper_path(state, runtime.context)
    doc = load_document(path)
    store = runtime.context.store()
    headings = [[h.level, h.title, h.offset] for h in doc.headings]
    return {
        "paper_id": state.get("paper_id") or path.stem,
        "paper_title": doc.title,
        "doc_key": store.put(doc.text),
        "doc_chars": len(doc.text),
        "headings_key": store.put(json.dumps(headings, ensure_ascii=False)),
        "started_at": time.time(),
    }
