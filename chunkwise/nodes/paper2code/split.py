"""Split the stored paper into section-aware chunks within the chunk model's budget."""

from __future__ import annotations

import json
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.nodes.paper2code.budget import chunk_budget
from chunkwise.runtime.blobs import read_cached
from chunkwise.state.paper2code import Paper2CodeContext, Paper2CodeState
from chunkwise.text.headings import Heading
from chunkwise.text.paper_split import split_paper as split_text


def split_paper(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    # kept for the summary branches, which read the same paper (one decompression, not two)
    text = read_cached(store, state["doc_key"], str)
    headings = [Heading(level, title, offset) for level, title, offset in
                json.loads(store.get(state["headings_key"]))]
    budget = chunk_budget(ctx.client("chunk", ctx.chunk_model), ctx.chunk_tokens)
    return {
        "chunks": split_text(text, headings=headings, num_chunks=ctx.num_chunks, max_tokens=budget)
    }
