"""Summarize one chunk (a `Send` branch); a model failure fails this chunk only."""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.prompts.paper2code import (
    chunk_prompt_overhead,
    notes_token_cap,
    notes_word_limit,
    summarize_messages,
)
from chunkwise.runtime.blobs import read_cached
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.paper2code import (
    Paper2CodeContext,
    Paper2CodeState,
    SummarizeTask,
    SummaryOutcome,
)


def pending_chunks(state: Paper2CodeState) -> list[int]:
    """Indexes of the chunks without a summary yet (all of them in a new run)."""
    done = {i for i, o in state["outcomes"].items() if o.success}
    return [i for i in range(len(state["chunks"])) if i not in done]


def dispatch_summaries(state: Paper2CodeState) -> dict[str, Any]:
    """Announce the stage once before the fan-out; the edge after it sends only the chunks
    without a summary yet."""
    announce_stage("summaries", len(pending_chunks(state)))
    return {}


def send_chunks(state: Paper2CodeState) -> list[Send] | Literal["assess_summaries"]:
    chunks = state["chunks"]
    tasks = [
        Send(
            "summarize_chunk",
            SummarizeTask(
                doc_key=state["doc_key"],
                index=index,
                chunk=chunks[index],
                total=len(chunks),
                paper_title=state["paper_title"],
            ),
        )
        for index in pending_chunks(state)
    ]
    return tasks or "assess_summaries"


def summarize_chunk(task: SummarizeTask, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    index, chunk = task["index"], task["chunk"]
    started = time.monotonic()
    usage = Usage()
    try:
        client = ctx.client("chunk", ctx.chunk_model)
        # every branch reads the same paper: decompressed once per process, not per chunk
        text = read_cached(ctx.store(), task["doc_key"], str)[chunk.start : chunk.end]
        max_words = notes_word_limit(chunk.tokens)
        messages = summarize_messages(
            title=task["paper_title"],
            text=text,
            number=index + 1,
            total=task["total"],
            section=chunk.title,
            max_words=max_words,
        )
        reply = client.complete(messages, task="summarize_chunk",
                                max_tokens=notes_token_cap(max_words), item=index,
                                prompt_tokens=chunk.tokens + chunk_prompt_overhead())
        usage = reply.usage
        summary = reply.text.strip()
        if not summary:
            raise ModelCallError(f"{client.name}: empty summary", kind="validation")
        outcome = SummaryOutcome(
            index=index,
            success=True,
            summary_key=ctx.store().put(summary),
            summary_length=len(summary),
            processing_time=round(time.monotonic() - started, 3),
        )
    except ModelCallError as exc:
        outcome = SummaryOutcome(
            index=index,
            success=False,
            processing_time=round(time.monotonic() - started, 3),
            error=str(exc),
        )
    unit_done("summaries", index, ok=outcome.success, tokens=usage.total_tokens,
              error=outcome.error)
    return {"outcomes": {index: outcome}, "usage": usage}
