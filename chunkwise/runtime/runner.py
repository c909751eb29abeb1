"""Run a pipeline under a checkpointer: start, resume, or hand back a finished result.

The run id is the LangGraph thread id, so one call both starts and resumes: an unfinished run
continues from its last checkpoint (completed parallel branches are not redone), a finished run
returns its stored result without a model call, and a finished run that failed is restarted
from the pipeline's `restart_from`, whose router re-sends only what failed. The CLI, the Python
APIs and batches all run pipelines through `run_pipeline`.

Each run is also recorded in the `chunkwise_runs` table beside its checkpoints (status,
progress, tokens and cost, and what the caller says started it: `RunRecord`), and the blob keys
of its input are recorded as used by it, so deleting the run can free what only it used.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal

from langgraph.types import RunnableConfig

from chunkwise.errors import ChunkwiseError, ConfigError, RunFailed
from chunkwise.runtime.blobs import KEY_PREFIX, open_blob_store
from chunkwise.runtime.call_gate import calls_at_once
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.pipeline import Pipeline, R
from chunkwise.runtime.runs import ProgressRecorder, RunRecord, RunsTable, open_runs

Status = Literal["new", "resumed", "retried", "finished"]
# LangGraph's thread pool per run: a thread for every branch of a fan-out up to this width, so a
# finished branch's writes are saved at once instead of queueing behind branches not yet started
# (threads are made only when needed). Model calls are bounded apart (`runtime.call_gate`).
BRANCH_THREADS = 256
EventHandler = Callable[[dict[str, Any]], None]


def new_run_id(pipeline: str) -> str:
    """Sortable and unique enough for a person to type back: `paper2code-20261122-030142-a1b2c3`."""
    return f"{pipeline}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunOutcome(Generic[R]):
    """How a run ended: its id, whether it was new, resumed, retried or already finished, its
    final state values and its typed result (None if the graph stopped before writing one)."""

    run_id: str
    status: Status
    values: dict[str, Any]
    result: R | None

    def require_result(self) -> R:
        """The result; a graph that stopped before writing one is a failed run to resume."""
        if self.result is None:
            raise RunFailed(f"run {self.run_id} stopped before its result")
        return self.result


def run_config(run_id: str) -> RunnableConfig:
    """The LangGraph config of run `run_id`: its thread, and a pool with room for every branch.

    `max_concurrency` sizes the one pool on which LangGraph runs a step's tasks, saves each
    finished task's writes and waits for streamed events (it must be top level: inside
    `configurable` LangGraph ignores it). Sized to the model concurrency, a fan-out's saves
    queued behind its unstarted branches and were lost at a kill, and a pool of 1 deadlocked
    on the stream's waiter; `run_pipeline` bounds the model calls instead."""
    return {"configurable": {"thread_id": run_id}, "max_concurrency": BRANCH_THREADS}


def _store_text_inputs(
    pipeline: Pipeline[R], payload: dict[str, Any], context: Any
) -> dict[str, Any]:
    """The input with each big text replaced by its key in the context's blob store."""
    moved = dict(payload)
    for text_field, key_field in pipeline.text_inputs:
        text = moved.pop(text_field, None)
        if isinstance(text, str):
            moved[key_field] = open_blob_store(context.blob_store).put(text)
    return moved


def _changed_inputs(given: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """Input keys whose value differs from what the run was started with."""
    return sorted(k for k, v in given.items() if k in stored and stored[k] != v)


def run_pipeline(
    pipeline: Pipeline[R],
    *,
    input: Mapping[str, Any],
    context: Any,
    checkpoint_db: str,
    run_id: str | None = None,
    max_concurrency: int | None = None,
    on_event: EventHandler | None = None,
    record: RunRecord | None = None,
) -> RunOutcome[R]:
    """Start, resume or return run `run_id` (a new id when None); events from nodes go to
    `on_event` as they come; at most `max_concurrency` model calls of the run at once (None:
    only the limiter's bounds). A model failure that stops the run raises `ModelCallError` and bad
    input or settings `InputError`/`ConfigError`; the checkpoint is kept either way, so the
    same run id resumes. `record` says what started the run (default: Python, no options)."""
    run_id = run_id or new_run_id(pipeline.name)
    payload = _store_text_inputs(pipeline, dict(input), context)
    with open_runs(checkpoint_db) as table:
        if table is None:
            return _run(pipeline, payload, context, checkpoint_db, run_id, max_concurrency,
                        on_event)
        return _recorded(pipeline, payload, context, checkpoint_db, run_id, max_concurrency,
                         on_event, table, record or RunRecord())


def _input_keys(payload: Mapping[str, Any]) -> list[str]:
    """Blob keys the caller stored before the run (e.g. the document): the run uses them."""
    return [v for v in payload.values() if isinstance(v, str) and v.startswith(KEY_PREFIX)]


def _recorded(
    pipeline: Pipeline[R],
    payload: dict[str, Any],
    context: Any,
    checkpoint_db: str,
    run_id: str,
    max_concurrency: int | None,
    on_event: EventHandler | None,
    table: RunsTable,
    record: RunRecord,
) -> RunOutcome[R]:
    blob_store = getattr(context, "blob_store", None)
    if isinstance(blob_store, str) and (keys := _input_keys(payload)):
        open_blob_store(blob_store).add_refs(run_id, keys)
    table.start(run_id, pipeline.name, record)
    recorder = ProgressRecorder(table, run_id, on_event)
    try:
        outcome = _run(pipeline, payload, context, checkpoint_db, run_id, max_concurrency,
                       recorder)
    except BaseException as exc:
        recorder.flush()
        # a user-facing error is one safe line; anything else is named by its type only
        reason = str(exc) if isinstance(exc, ChunkwiseError) else type(exc).__name__
        table.finish(run_id, "failed", error=reason or type(exc).__name__)
        raise
    recorder.flush()
    result = outcome.result
    usage = getattr(result, "usage", None)
    usage_json = None if usage is None else dict(usage.model_dump(mode="json"))
    if result is not None and getattr(result, "success", False):
        table.finish(run_id, "done", usage=usage_json)
    else:
        error = getattr(result, "error", None) or "stopped before its result"
        table.finish(run_id, "failed", usage=usage_json, error=str(error))
    return outcome


def _run(
    pipeline: Pipeline[R],
    payload: dict[str, Any],
    context: Any,
    checkpoint_db: str,
    run_id: str,
    max_concurrency: int | None,
    on_event: EventHandler | None,
) -> RunOutcome[R]:
    config = run_config(run_id)
    with open_checkpointer(checkpoint_db, pipeline.checkpoint_types) as saver:
        graph = pipeline.compile(saver)
        snapshot = graph.get_state(config)
        status: Status
        start: dict[str, Any] | None
        stored = dict(snapshot.values)
        if not stored and not snapshot.next:
            status, start = "new", payload
        elif changed := _changed_inputs(payload, stored):
            raise ConfigError(
                f"run {run_id} was started with other input ({', '.join(changed)}): give the "
                "same input to resume it, or a new run id to start afresh"
            )
        elif snapshot.next:
            status, start = "resumed", None
        elif pipeline.is_done(stored) or pipeline.restart_from is None:
            return RunOutcome(run_id, "finished", stored, pipeline.result(stored, run_id))
        else:
            graph.update_state(config, None, as_node=pipeline.restart_from)
            status, start = "retried", None
        with calls_at_once(max_concurrency):
            for mode, event in graph.stream(
                start, config, context=context, stream_mode=["custom", "updates"],
                durability="sync",
            ):
                if mode == "custom" and on_event is not None and isinstance(event, dict):
                    on_event(event)
        values = dict(graph.get_state(config).values)
        return RunOutcome(run_id, status, values, pipeline.result(values, run_id))
