"""paper2code on real papers from ../shared: section-aware chunks within the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.models.settings import ModelSettings
from chunkwise.nodes.paper2code.budget import chunk_budget
from chunkwise.text.loaders import load_document
from tests.models.clients import make_client
from tests.paper2code.conftest import Runner
from tests.paper2code.support import paper_model


@pytest.mark.parametrize("name", ["attention/attention.pdf", "attention/attention.tex"])
def test_attention_paper_splits_at_sections(run_paper: Runner, shared: Path, name: str) -> None:
    matches = sorted((shared / "papers").glob(name.split("/")[0] + "/*." + name.split(".")[-1]))
    if not matches:
        pytest.skip(f"no {name} in ../shared/papers")
    paper = matches[0]
    model = paper_model()
    outcome = run_paper(paper, model, num_chunks=4, models=ModelSettings(context_window=8192))
    result = outcome.values["result"]
    assert result["success"], result.get("error")
    chunks = outcome.values["chunks"]
    budget_calls = model.calls_for("summarize_chunk")
    assert len(budget_calls) == len(chunks) >= 4
    text = load_document(paper).text
    # every chunk but the first starts at a heading or paragraph break of the real paper
    titles = {c.title for c in chunks}
    assert any("Attention" in t or "Model" in t or "Training" in t for t in titles), titles
    for chunk in chunks[1:]:
        assert text[chunk.start - 1] == "\n", text[chunk.start - 40 : chunk.start + 40]


def test_a_long_book_grows_past_five_chunks_on_a_small_model(
    run_paper: Runner, shared: Path
) -> None:
    book = shared / "corpus" / "books" / "whitehead_introduction_to_mathematics.tex"
    if not book.exists():
        pytest.skip("whitehead .tex absent")
    model = paper_model()
    settings = ModelSettings(context_window=16_384)
    budget = chunk_budget(make_client(model, settings))
    outcome = run_paper(book, model, num_chunks=5, models=settings)
    chunks = outcome.values["chunks"]
    assert outcome.values["result"]["success"]
    assert len(chunks) > 5
    assert max(c.tokens for c in chunks) <= budget
