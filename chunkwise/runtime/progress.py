"""Progress as a stream of typed events (`stream_mode="custom"`), one shape for every pipeline.

Nodes call `announce_stage` when a stage starts and `unit_done` when one of its units (a chunk,
a part, a section, a repair round) finishes; the model seam reports each call. The CLI renders
the events as a progress bar or writes them as JSON lines (`--json-events`); library users, host
graphs and the LangGraph server API receive the same dicts from `stream_mode="custom"`. Outside
a graph run there is no writer and nothing is emitted.

Every event is a `ProgressEvent`:

| field | in | meaning |
|---|---|---|
| `event` | all | `stage`, `unit_done`, `call_started`, `call_finished`, `call_retry` |
| `pipeline` | all | `paper2code`, `rephrase`, `generate` ("" outside a pipeline) |
| `elapsed` | all | seconds since the run (this stream) started |
| `stage` | stage, unit_done | `summaries`, `sections`, `rephrase (simpler)`, `code`, ... |
| `total` | stage, unit_done | units left to do when the stage started (resumed: what is left) |
| `index` | unit_done | the unit's 0-based index (chunk, part, section), when it has one |
| `ok` | unit_done, call_finished | whether it succeeded |
| `tokens` | unit_done, call_finished | tokens billed for it (input + output), when known |
| `error` | unit_done, call_finished, call_retry | why it failed (one line) |
| `task`, `model` | call_* | the seam's task name and the model's spec |
| `kind`, `attempt`, `wait`, `status` | call_retry | error class, attempt, backoff, HTTP status |
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Literal, NotRequired, TypedDict

EventKind = Literal["stage", "unit_done", "call_started", "call_finished", "call_retry"]


class ProgressEvent(TypedDict):
    """One progress event (see the module docstring for which fields each kind carries)."""

    event: EventKind
    pipeline: str
    elapsed: float
    stage: NotRequired[str]
    total: NotRequired[int]
    index: NotRequired[int]
    ok: NotRequired[bool]
    tokens: NotRequired[int]
    error: NotRequired[str]
    task: NotRequired[str]
    model: NotRequired[str]
    kind: NotRequired[str]
    attempt: NotRequired[int]
    wait: NotRequired[float]
    status: NotRequired[int | None]


class _Run:
    """What the events of one stream share: its start, and each stage's announced total."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.totals: dict[tuple[str, str], int | None] = {}


# Per stream writer. LangGraph makes one writer per `stream()` call and hands it to every node
# of that call, so a resumed run (a new call) starts afresh, and an entry goes away with its
# writer: nothing here outlives the runs.
_RUNS: weakref.WeakKeyDictionary[Any, _Run] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _context() -> tuple[Any, _Run, str, str] | None:
    """The stream writer, its run, the pipeline's name and the graph's namespace."""
    try:
        from langgraph.config import get_config, get_stream_writer

        writer = get_stream_writer()
        config = get_config()
    except Exception:
        return None
    pipeline = str((config.get("metadata") or {}).get("chunkwise_pipeline", ""))
    # the node's namespace ends with its own task ("node:task-id"): the graph's is what precedes
    namespace = str(config.get("configurable", {}).get("checkpoint_ns", ""))
    with _LOCK:
        try:
            run = _RUNS.setdefault(writer, _Run())
        except TypeError:  # a writer that cannot be weakly referenced: a run per event
            run = _Run()
    return writer, run, pipeline, namespace.rpartition("|")[0]


def _send(writer: Any, run: _Run, pipeline: str, event: EventKind, fields: dict[str, Any]) -> None:
    payload = {k: v for k, v in fields.items() if v is not None}
    writer({"event": event, "pipeline": pipeline,
            "elapsed": round(time.monotonic() - run.started, 3), **payload})


def emit(event: EventKind, **fields: Any) -> None:
    """Send one event with the given fields (None values are left out)."""
    if (found := _context()) is not None:
        writer, run, pipeline, _ = found
        _send(writer, run, pipeline, event, fields)


def announce_stage(stage: str, total: int | None = None) -> None:
    """Emit `stage` (which starts a progress bar) the first time a run reaches it.

    A node that runs once per unit (a loop step, a `Send` branch) calls this on every run and
    only the first call of the run emits, with the `total` units still to do, so a resumed run's
    bar counts what is left. A pipeline embedded twice as a subgraph announces once per embedding
    (runs are told apart by their stream writer and, inside it, by the graph namespace).
    """
    if (found := _context()) is None:
        return
    writer, run, pipeline, graph = found
    with _LOCK:
        if (graph, stage) in run.totals:
            return
        run.totals[(graph, stage)] = total
    _send(writer, run, pipeline, "stage", {"stage": stage, "total": total})


def unit_done(
    stage: str,
    index: int | None = None,
    *,
    ok: bool = True,
    tokens: int | None = None,
    error: str | None = None,
) -> None:
    """Emit `unit_done` for one unit of `stage`, with the stage's announced total."""
    if (found := _context()) is None:
        return
    writer, run, pipeline, graph = found
    total = run.totals.get((graph, stage))
    _send(writer, run, pipeline, "unit_done", {
        "stage": stage, "index": index, "total": total, "ok": ok, "tokens": tokens,
        "error": error,
    })
