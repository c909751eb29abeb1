"""The shape every pipeline's run ends with.

A graph's last node writes its result as a plain JSON dict under `result` (Studio and host
graphs see JSON); the runner validates it into the pipeline's subclass of `PipelineResult`,
so the CLI, the Python APIs and batches read the same typed fields: whether the run
succeeded, why not, what it cost, and the pipeline's own outputs (big texts as blob keys).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chunkwise.models.usage import Usage


class PipelineResult(BaseModel):
    """Fields common to every pipeline's result."""

    success: bool
    error: str | None = Field(default=None, description="Why the run failed, one line")
    usage: Usage = Field(default_factory=Usage, description="Tokens, calls, retries, cost")
    run_id: str = Field(default="", description="Set by the runner: the id that resumes it")

    def to_dict(self) -> dict[str, Any]:
        """As JSON: what a graph keeps under `result` and what the CLI and drop-in APIs return.
        Like the original paper2code dictionary, it has no `error` key when there is none (and
        no `run_id` inside a graph, where the runner has not named the run)."""
        data = self.model_dump(mode="json")
        for key in ("error", "run_id"):
            if not data.get(key):
                data.pop(key, None)
        return data
