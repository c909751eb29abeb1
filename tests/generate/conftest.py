"""A generate runner bound to a real SQLite checkpoint file in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chunkwise.graphs.generate import PIPELINE
from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.runner import RunOutcome, run_pipeline
from chunkwise.state.generate import GenerateContext

Runner = Callable[..., RunOutcome]


@pytest.fixture
def run_generate(tmp_path: Path) -> Runner:
    """Run generate with one scripted model for every role; the call cache is off so that
    counted calls are real calls."""

    def run(
        payload: dict[str, Any],
        model: ScriptedChatModel,
        *,
        run_id: str = "run-1",
        **options: Any,
    ) -> RunOutcome:
        context = GenerateContext(
            planner_model=model,
            writer_model=model,
            judge_model=model,
            models=options.pop("models", ModelSettings(cache=False, max_attempts=1)),
            blob_store=str(tmp_path / "runs.blobs.sqlite"),
            **options,
        )
        return run_pipeline(
            PIPELINE,
            input=payload,
            context=context,
            run_id=run_id,
            checkpoint_db=str(tmp_path / "runs.sqlite"),
            max_concurrency=4,
        )

    return run


def text_of(tmp_path: Path, key: str) -> str:
    from chunkwise.runtime.blobs import open_blob_store

    return open_blob_store(str(tmp_path / "runs.blobs.sqlite")).get(key)
