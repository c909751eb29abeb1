"""A scripted paper2code model and a runner bound to a real SQLite checkpoint file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chunkwise.graphs.paper2code import RESTART_FROM, build_graph, is_done
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.runtime.runner import RunOutcome, run_graph
from chunkwise.state.paper2code import Paper2CodeContext

CODE = "```python\nimport torch\n\n\nif __name__ == '__main__':\n    print(torch.zeros(1))\n```"
PART = re.compile(r"This is part (\d+) of (\d+)")


def part_of(call: ScriptedCall) -> int:
    """The 1-based chunk number a summarize call is about."""
    match = PART.search(call.prompt)
    assert match, call.prompt[:200]
    return int(match.group(1))


def paper_model(**overrides: Callable[[ScriptedCall], Any]) -> ScriptedChatModel:
    responders: dict[str, Callable[[ScriptedCall], Any]] = {
        "summarize_chunk": lambda c: f"## Key ideas\nNotes on part {part_of(c)}.",
        "collapse_summaries": lambda c: "## Key ideas\nMerged notes.",
        "recommend_datasets": lambda c: {
            "task": "text classification",
            "recommended_dataset": "ag_news",
            "candidates": [{"name": "ag_news", "why": "used in the paper", "source": "hf"}],
        },
        "write_code": lambda c: CODE,
    }
    responders.update(overrides)
    return ScriptedChatModel(responders=responders)


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
        return run_graph(
            build_graph(),
            input={"paper_path": str(paper)},
            context=context,
            run_id=run_id,
            checkpoint_db=str(tmp_path / "runs.sqlite"),
            is_done=is_done,
            restart_from=RESTART_FROM,
            max_concurrency=concurrency,
        )

    return run


@pytest.fixture
def example_paper() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "gated_mixer_paper.md"
