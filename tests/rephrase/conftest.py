"""A runner bound to a real SQLite checkpoint file in tmp_path, and its output reader."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chunkwise.graphs.rephrase import PIPELINE
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.blobs import open_blob_store
from chunkwise.runtime.runner import RunOutcome, run_pipeline
from chunkwise.state.rephrase import RephraseContext

Runner = Callable[..., RunOutcome]


@pytest.fixture
def run_rephrase(tmp_path: Path) -> Runner:
    """Run the graph on `text` with a model under tmp_path/runs.sqlite; no call cache unless
    asked, so call counts are real. The outcome's values also hold the full `report`."""

    def run(
        text: str,
        rewriter: Any,
        *,
        run_id: str = "run-1",
        style: str | None = None,
        style_instruction: str | None = None,
        cache: bool = False,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> RunOutcome:
        context = RephraseContext(
            rewriter_model=rewriter,
            models=ModelSettings(cache=cache, max_attempts=1),
            blob_store=str(tmp_path / "runs.blobs.sqlite"),
            **options,
        )
        payload: dict[str, Any] = {"text_key": context.store().put(text)}
        if style is not None:
            payload["style"] = style
        if style_instruction is not None:
            payload["style_instruction"] = style_instruction
        outcome = run_pipeline(
            PIPELINE,
            input=payload,
            context=context,
            run_id=run_id,
            checkpoint_db=str(tmp_path / "runs.sqlite"),
            on_event=on_event,
        )
        if outcome.result is not None:  # the full report, for the tests' convenience
            report = json.loads(context.store().get(outcome.result.report_key))
            outcome.values["report"] = report
        return outcome

    return run


@pytest.fixture
def output_of(tmp_path: Path) -> Callable[[RunOutcome], str]:
    def read(outcome: RunOutcome) -> str:
        return open_blob_store(str(tmp_path / "runs.blobs.sqlite")).get(
            outcome.require_result().output_key
        )

    return read
