"""A scripted paper2code model and a runner bound to a real SQLite checkpoint file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chunkwise.graphs.paper2code import PIPELINE
from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.runtime.runner import RunOutcome, run_pipeline
from chunkwise.state.paper2code import Paper2CodeContext

Runner = Callable[..., RunOutcome]


@pytest.fixture
def run_paper(tmp_path: Path) -> Runner:
    """Run paper2code on a file with a model, under tmp_path/runs.sqlite."""

    def run(
        paper: Path | str,
        model: ScriptedChatModel,
        *,
        run_id: str = "run-1",
        concurrency: int = 4,
        code_model: ScriptedChatModel | None = None,
        **options: Any,
    ) -> RunOutcome:
        context = Paper2CodeContext(
            chunk_model=model,
            code_model=code_model or model,
            blob_store=str(tmp_path / "runs.blobs.sqlite"),
            **options,
        )
        return run_pipeline(
            PIPELINE,
            input={"paper_path": str(paper)},
            context=context,
            run_id=run_id,
            checkpoint_db=str(tmp_path / "runs.sqlite"),
            max_concurrency=concurrency,
        )

    return run


@pytest.fixture
def example_paper() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "gated_mixer_paper.md"
