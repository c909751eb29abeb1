"""Progress as a stream of small dict events (`stream_mode="custom"`).

Nodes and the model seam call `emit`; the CLI renders the events as a progress bar and
library users receive the same events from `graph.stream(..., stream_mode="custom")`.
Outside a graph run there is no writer and `emit` does nothing.
"""

from __future__ import annotations

from typing import Any


def emit(event: str, **fields: Any) -> None:
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except Exception:
        return
    writer({"event": event, **fields})
