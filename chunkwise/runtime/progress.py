"""Progress as a stream of small dict events (`stream_mode="custom"`).

Nodes and the model seam call `emit`; the CLI renders the events as a progress bar and
library users receive the same events from `graph.stream(..., stream_mode="custom")`.
Outside a graph run there is no writer and `emit` does nothing.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

# Stages announced so far, per stream writer. LangGraph makes one writer per `stream()` call
# and hands it to every node of that call, so a resumed run (a new call) announces its stages
# again, and an entry goes away with its writer: nothing here outlives the runs.
_ANNOUNCED: weakref.WeakKeyDictionary[Any, set[tuple[str, str]]] = weakref.WeakKeyDictionary()
_ANNOUNCED_LOCK = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except Exception:
        return
    writer({"event": event, **fields})


def announce_stage(name: str, total: int | None = None) -> None:
    """Emit `stage` (which starts a progress bar) the first time a run reaches it.

    A node that runs once per unit (a loop step, a `Send` branch) calls this on every run and
    only the first call of the run emits, with the `total` units still to do, so a resumed run's
    bar counts what is left. Runs are told apart by their stream writer and, inside it, by the
    graph namespace, so a pipeline embedded twice as a subgraph announces once per embedding.
    """
    try:
        from langgraph.config import get_config, get_stream_writer

        writer = get_stream_writer()
        namespace = str(get_config().get("configurable", {}).get("checkpoint_ns", ""))
    except Exception:
        return
    # the node's namespace ends with its own task ("node:task-id"): the graph's is what precedes
    graph = namespace.rpartition("|")[0]
    with _ANNOUNCED_LOCK:
        try:
            seen = _ANNOUNCED.setdefault(writer, set())
        except TypeError:  # a writer that cannot be weakly referenced announces every time
            seen = set()
        if (graph, name) in seen:
            return
        seen.add((graph, name))
    fields: dict[str, Any] = {"name": name}
    if total is not None:
        fields["total"] = total
    writer({"event": "stage", **fields})
