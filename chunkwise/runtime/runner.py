"""Run a pipeline graph under a checkpointer: start, resume, or hand back a finished result.

The same `run_id` is the LangGraph thread id, so one command line both starts and resumes:
an unfinished run continues from its last checkpoint (completed parallel branches are not
redone), a finished run returns its stored values without a model call, and a finished run
that failed is restarted from `restart_from`, whose router only re-dispatches what failed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph.state import StateGraph
from langgraph.types import RunnableConfig

from chunkwise.errors import ConfigError
from chunkwise.runtime.checkpoint import open_checkpointer

Status = Literal["new", "resumed", "retried", "finished"]
EventHandler = Callable[[dict[str, Any]], None]


def new_run_id(pipeline: str) -> str:
    """Sortable and unique enough for a person to type back: `paper2code-20261122-0301-a1b2c3`."""
    return f"{pipeline}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    values: dict[str, Any]
    status: Status


def run_config(run_id: str, max_concurrency: int | None = None) -> RunnableConfig:
    # max_concurrency must be top level: inside `configurable` LangGraph ignores it
    config: RunnableConfig = {"configurable": {"thread_id": run_id}, "recursion_limit": 100_000}
    if max_concurrency is not None:
        # LangGraph 1.2 deadlocks when streaming "custom" events with max_concurrency=1; strict
        # one-at-a-time model calls are the limiter's job (ModelSettings.max_in_flight).
        config["max_concurrency"] = max(2, max_concurrency)
    return config


def _changed_inputs(given: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Input keys whose value differs from what the run was started with."""
    return sorted(k for k, v in given.items() if k in stored and stored[k] != v)


def run_graph(
    builder: StateGraph[Any, Any, Any, Any],
    *,
    input: dict[str, Any],
    context: Any,
    run_id: str,
    checkpoint_db: str,
    is_done: Callable[[dict[str, Any]], bool],
    restart_from: str | None = None,
    max_concurrency: int | None = None,
    on_event: EventHandler | None = None,
) -> RunOutcome:
    """Start, resume or return run `run_id`; events from nodes go to `on_event` as they come."""
    config = run_config(run_id, max_concurrency)
    with open_checkpointer(checkpoint_db) as saver:
        graph = builder.compile(checkpointer=saver)
        snapshot = graph.get_state(config)
        status: Status
        payload: dict[str, Any] | None
        if not snapshot.values and not snapshot.next:
            status, payload = "new", input
        elif changed := _changed_inputs(input, dict(snapshot.values)):
            raise ConfigError(
                f"run {run_id} was started with other input ({', '.join(changed)}): give the "
                "same input to resume it, or a new --run-id to start afresh"
            )
        elif snapshot.next:
            status, payload = "resumed", None
        elif is_done(dict(snapshot.values)) or restart_from is None:
            return RunOutcome(run_id, dict(snapshot.values), "finished")
        else:
            graph.update_state(config, None, as_node=restart_from)
            status, payload = "retried", None
        for mode, event in graph.stream(
            payload, config, context=context, stream_mode=["custom", "updates"], durability="sync"
        ):
            if mode == "custom" and on_event is not None and isinstance(event, dict):
                on_event(event)
        return RunOutcome(run_id, dict(graph.get_state(config).values), status)
