"""What the runner needs to know about a pipeline, said once per pipeline.

Each graph module describes its pipeline with one `Pipeline`: how to build the graph, the
context class its nodes read, the typed result a finished run holds, where a failed run
restarts and which state types may be restored from a checkpoint. The CLI, the Python APIs,
batches and Studio all start from this one description, so they cannot disagree about it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph, StateGraph
from pydantic import BaseModel

R = TypeVar("R", bound=BaseModel)

# Sequential work is one graph step per part, section or repair round: a book is thousands of
# steps, so the limit only stops a graph that loops without end.
RECURSION_LIMIT = 1_000_000


@dataclass(frozen=True)
class Pipeline(Generic[R]):
    """One pipeline: its graph, its options, its result and how its runs resume.

    `result_type` validates the `result` value the graph's last node writes (a plain JSON dict
    in state, so Studio and host graphs see JSON); its `success` field says whether the run
    is done and its `run_id` field takes the id the runner ran it under. A finished run that
    failed is rewound to `restart_from`, whose router re-sends only the failed work; without
    `restart_from` a failed run is returned as it ended.
    """

    name: str
    description: str
    build: Callable[[], StateGraph[Any, Any, Any, Any]]
    context_type: type
    result_type: type[R]
    checkpoint_types: tuple[type, ...] = ()
    restart_from: str | None = None
    # (text input, blob-key input) pairs: the runner stores big text inputs and passes their
    # key, so no checkpoint holds the document and a resumed run compares keys, not texts
    text_inputs: tuple[tuple[str, str], ...] = ()

    def compile(self, checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[
        Any, Any, Any, Any
    ]:
        """The compiled graph: without a checkpointer for Studio and host graphs, with one
        for the runner."""
        graph = self.build().compile(checkpointer=checkpointer, name=self.name)
        # the tag and metadata reach every node, model call and progress event of the run
        return graph.with_config(
            recursion_limit=RECURSION_LIMIT,
            tags=[f"pipeline:{self.name}"],
            metadata={"chunkwise_pipeline": self.name},
        )

    def result(self, values: Mapping[str, Any], run_id: str = "") -> R | None:
        """The run's typed result (with its `run_id`), or None while the graph has not
        written one."""
        raw = values.get("result")
        if raw is None:
            return None
        return self.result_type.model_validate({**raw, "run_id": run_id} if run_id else raw)

    def is_done(self, values: Mapping[str, Any]) -> bool:
        """A run whose result succeeded is returned as stored, with no model call."""
        result = self.result(values)
        return bool(result is not None and getattr(result, "success", False))
