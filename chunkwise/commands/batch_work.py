"""One document of a batch, run: what each pipeline command tells the batch, and the work.

Each pipeline command describes its batch form with a `BatchSpec` (its options and context
builder, shared with the single-document command, plus how a document becomes the graph's
input and a finished run becomes an output row). `DocumentWork` runs one unit (a document,
or a document in one of several styles) through `run_pipeline` under the run id
`<batch id>.<document id>[.<style>]`, the id the single-document command resumes with
`--run-id`. It is a plain picklable object: the local executor calls it in threads, Ray ships
it once to each worker.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chunkwise.errors import ChunkwiseError
from chunkwise.models.secrets import redact
from chunkwise.runtime.batch_io import Document
from chunkwise.runtime.pipeline import Pipeline
from chunkwise.runtime.runner import run_pipeline
from chunkwise.runtime.runs import RunRecord
from chunkwise.state.context import BaseContext


@dataclass(frozen=True)
class Variant:
    """One run per document and variant: its run-id suffix, the graph input it adds and the
    fields it adds to the row (rephrase's styles; one plain variant elsewhere)."""

    suffix: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    doc: Document
    variant: Variant


def _no_check(doc: Document) -> None:
    return None


@dataclass(frozen=True)
class BatchSpec:
    """What `chunkwise batch PIPELINE` needs from a pipeline's command module."""

    pipeline: Pipeline[Any]
    add_options: Callable[[argparse.ArgumentParser], None]
    # options -> (context, max_concurrency inside one document)
    context: Callable[[argparse.Namespace], tuple[BaseContext, int | None]]
    # the roles whose models the batch uses: described and built before any work
    roles: Callable[[BaseContext], dict[str, Any]]
    # document -> graph input (its text stored in the blob store first)
    payload: Callable[[Document, BaseContext, str], dict[str, Any]]
    # finished result -> the row's output fields
    row: Callable[[Any, BaseContext], dict[str, Any]]
    variants: Callable[[argparse.Namespace], list[Variant]] = lambda args: [Variant()]
    check: Callable[[Document], None] = _no_check
    needs_text: bool = True
    pattern: str = "*"


def row_error(exc: BaseException) -> str:
    """A failed document's reason, one line: a user-facing error as it is, anything else named
    by its type, with secrets masked either way."""
    text = str(exc) if isinstance(exc, ChunkwiseError) else f"{type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))[:2000]


@dataclass(frozen=True)
class DocumentWork:
    """Run one unit and return its output row; a failure is a row too, never an exception."""

    pipeline: str
    context: BaseContext
    checkpoint_db: str
    batch_id: str
    max_concurrency: int | None
    id_field: str = "id"
    text_field: str = "text"

    def run_id(self, unit: Unit) -> str:
        return f"{self.batch_id}.{unit.doc.key}{unit.variant.suffix}"

    def spec(self) -> BatchSpec:
        from chunkwise.commands.batch_specs import SPECS

        return SPECS[self.pipeline]

    def __call__(self, unit: Unit) -> dict[str, Any]:
        spec = self.spec()
        run_id = self.run_id(unit)
        row: dict[str, Any] = {self.id_field: unit.doc.id, **unit.variant.row, "run_id": run_id}
        try:
            payload = {**spec.payload(unit.doc, self.context, self.text_field),
                       **unit.variant.input}
            outcome = run_pipeline(
                spec.pipeline,
                input=payload,
                context=self.context,
                checkpoint_db=self.checkpoint_db,
                run_id=run_id,
                max_concurrency=self.max_concurrency,
                record=RunRecord(input_name=unit.doc.where, parent=self.batch_id),
            )
            result = outcome.require_result()
        except Exception as exc:
            return {**row, "status": "failed", "error": row_error(exc), "output": None,
                    "usage": None}
        usage = result.usage.model_dump(mode="json")
        if not result.success:
            return {**row, "status": "failed", "error": result.error or "the run failed",
                    "output": None, "usage": usage}
        return {**row, "status": "done", "error": None, **spec.row(result, self.context),
                "usage": usage}
