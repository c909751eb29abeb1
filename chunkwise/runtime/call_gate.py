"""A run's bound on model calls at once (`--concurrency`), kept apart from LangGraph's thread pool.

LangGraph runs a step's branches and saves each finished branch's writes on one thread pool
(`max_concurrency`), and a fan-out submits all of its branches first. With the pool sized to
the model concurrency, a finished branch's save queued behind the branches not yet started, so
a run killed mid-fan-out lost answers it had already paid for (a resume with `--no-cache` asked
for them again). The runner now gives the pool a thread per branch and bounds the model calls
here: `calls_at_once(n)` around a run, `call_slot()` around each request (the model seam).

The bound lives in a context variable: LangGraph runs each task in a copy of the context of the
thread that streams the run, so every branch of a run sees its run's gate, and runs in other
threads (a batch) have their own. Outside a run (a host graph, tests) there is no gate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_GATE: ContextVar[threading.Semaphore | None] = ContextVar("chunkwise_call_gate", default=None)


@contextmanager
def calls_at_once(limit: int | None) -> Iterator[None]:
    """At most `limit` model calls at once in this context (None: no bound of its own)."""
    token = _GATE.set(None if limit is None else threading.Semaphore(max(1, limit)))
    try:
        yield
    finally:
        _GATE.reset(token)


@contextmanager
def call_slot() -> Iterator[None]:
    """Hold one of the run's slots for a model request (waits while all are taken)."""
    gate = _GATE.get()
    if gate is None:
        yield
        return
    with gate:
        yield
