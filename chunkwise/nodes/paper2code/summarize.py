"""Summarize one chunk (a `Send` branch); a model failure fails this chunk only."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.prompts.paper2code import (
    notes_token_cap,
    notes_word_limit,
    summarize_messages,
)
from chunkwise.runtime.progress import emit
from chunkwise.state.paper2code import (
    ChunkOutcome,
    Paper2CodeContext,
    Paper2CodeState,
    SummarizeTask,
)


def pending_chunks(state: Paper2CodeState) -> list[int]:
    done = {i for i, o in (state.get("outcomes") or {}).items() if o.success}
    return [c.index for c in state.get("chunks", []) if c.index not in done]


def dispatch_summaries(state: Paper2CodeState) -> dict[str, Any]:
    """Announce the stage; the edge after it sends only chunks without a summary yet."""
    emit("stage", name="summaries", total=len(pending_chunks(state)))
    return {}


def send_chunks(state: Paper2CodeState) -> list[Send] | str:
    pending = set(pending_chunks(state))
    chunks = state.get("chunks", [])
    tasks = [
        Send(
            "summarize_chunk",
            SummarizeTask(
                doc_key=state["doc_key"],
                chunk=chunk,
                total=len(chunks),
                paper_title=state.get("paper_title", ""),
            ),
        )
        for chunk in chunks
        if chunk.index in pending
    ]
    return tasks or "assess_summaries"


def summarize_chunk(task: SummarizeTask, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    chunk = task["chunk"]
    started = time.monotonic()
    usage = Usage()
    try:
        client = ctx.client("chunk", ctx.chunk_model)
        text = ctx.store().get(task["doc_key"])[chunk.start : chunk.end]
        max_words = notes_word_limit(chunk.tokens)
        messages = summarize_messages(
            title=task["paper_title"],
            text=text,
            number=chunk.index + 1,
            total=task["total"],
            section=chunk.title,
            max_words=max_words,
        )
        reply = client.complete(
            messages, task="summarize_chunk", max_tokens=notes_token_cap(max_words)
        )
        usage = reply.usage
        summary = reply.text.strip()
        if not summary:
            raise ModelCallError(f"{client.name}: empty summary", kind="validation")
        outcome = ChunkOutcome(
            index=chunk.index,
            success=True,
            summary_key=ctx.store().put(summary),
            summary_length=len(summary),
            processing_time=round(time.monotonic() - started, 3),
        )
    except ModelCallError as exc:
        outcome = ChunkOutcome(
            index=chunk.index,
            success=False,
            processing_time=round(time.monotonic() - started, 3),
            error=str(exc),
        )
    emit("unit_done", name="summaries", index=chunk.index, ok=outcome.success)
    return {"outcomes": {chunk.index: outcome}, "usage": usage}
