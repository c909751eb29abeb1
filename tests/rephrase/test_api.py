"""The drop-in `ChunkWiseRephrasePipeline`: the original calls, and the stitching property."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkwise.api.rephrase import (
    ChunkWiseRephrasePipeline,
    PipelineConfig,
    RewriteRequest,
    WhitespaceTokenizer,
)
from chunkwise.errors import ConfigError, InputError
from chunkwise.graphs.rephrase import graph
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.blobs import open_blob_store
from chunkwise.state.rephrase import RephraseContext, RephraseReport
from chunkwise.text.tokens import TiktokenTokenizer
from tests.rephrase.support import echo, model, read_text


class EchoRewriteModel:
    """The original README's example model."""

    def __init__(self) -> None:
        self.requests: list[RewriteRequest] = []

    def rewrite(self, request: RewriteRequest) -> str:
        self.requests.append(request)
        return request.current_chunk


PIECES = st.sampled_from(
    [
        "\r\n",
        "\n",
        "\n\n",
        "\r\n\r\n",
        "\ufeff",
        " ",
        "\t",
        ". ",
        "? ",
        "$x$",
        "```\n",
        "é",
        "漢字。",
        "🙂",
        "Ω",
        "\u2028",
        "e\u0301",
        "\x85",
        "  \n \n",
    ]
)
TEXTS = (
    st.lists(st.one_of(st.text(max_size=15), PIECES), min_size=1, max_size=50)
    .map("".join)
    .filter(lambda t: bool(t.strip()))
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=TEXTS,
    chunk=st.integers(2, 24),
    overlap_share=st.floats(0, 0.95),
    prefix=st.integers(1, 40),
    whitespace=st.booleans(),
)
def test_echo_returns_any_text_byte_for_byte(
    text: str, chunk: int, overlap_share: float, prefix: int, whitespace: bool
) -> None:
    overlap = min(chunk - 1, int(chunk * overlap_share))
    pipeline = ChunkWiseRephrasePipeline(
        model=EchoRewriteModel(),
        tokenizer=WhitespaceTokenizer() if whitespace else TiktokenTokenizer(),
        config=PipelineConfig(
            chunk_tokens=chunk, overlap_tokens=overlap, prefix_window_tokens=prefix
        ),
        checkpoint_db=":memory:",
    )
    assert pipeline.run(text, style_instruction="Rewrite for clarity.") == text


def test_original_readme_example(shared: Path) -> None:
    text = (shared / "corpus/books/pride_and_prejudice.txt").read_bytes().decode("utf-8")[:60_000]
    rewriter = EchoRewriteModel()
    pipeline = ChunkWiseRephrasePipeline(
        model=rewriter,
        tokenizer=WhitespaceTokenizer(),
        config=PipelineConfig(chunk_tokens=256, overlap_tokens=64, prefix_window_tokens=1024),
    )
    rewritten = pipeline.run(text, style_instruction="Rewrite for clarity.")
    assert isinstance(rewritten, str) and rewritten == text
    report = pipeline.last_report
    assert report is not None and report.tokenizer == "whitespace"
    assert report.totals.chunks == len(rewriter.requests) > 10
    assert {r.style_instruction for r in rewriter.requests} == {"Rewrite for clarity."}
    assert rewriter.requests[1].overlap_text and rewriter.requests[1].rewritten_prefix
    assert len(rewriter.requests[5].rewritten_prefix.split()) <= 1024


def test_chat_model_run_with_report_and_resume(shared: Path, tmp_path: Path) -> None:
    text = read_text(shared / "corpus/speeches/1951-Truman.txt")
    rewriter = model(echo)
    pipeline = ChunkWiseRephrasePipeline(
        model=rewriter,
        style="wikipedia",
        checkpoint_db=str(tmp_path / "runs.sqlite"),
        model_settings=ModelSettings(cache=False),
    )
    result = pipeline.run_with_report(text, run_id="truman")
    assert result.text == text and result.run_id == "truman"
    assert result.report.style == "wikipedia" and result.report.flagged == []
    calls = len(rewriter.calls)
    assert pipeline.run(text, run_id="truman") == text  # finished: stored, no new calls
    assert len(rewriter.calls) == calls


def test_bad_input_and_settings() -> None:
    echo_model = EchoRewriteModel()
    with pytest.raises(InputError, match="empty"):
        ChunkWiseRephrasePipeline(model=echo_model, checkpoint_db=":memory:").run(" \n ")
    with pytest.raises(ConfigError, match="smaller than chunk tokens"):
        ChunkWiseRephrasePipeline(
            model=echo_model,
            config=PipelineConfig(chunk_tokens=64, overlap_tokens=64),
            checkpoint_db=":memory:",
        ).run("Some text.")
    with pytest.raises(ConfigError, match="prefix window"):
        ChunkWiseRephrasePipeline(
            model=echo_model,
            config=PipelineConfig(prefix_window_tokens=0),
            checkpoint_db=":memory:",
        ).run("Some text.")
    with pytest.raises(ConfigError, match="unknown style 'poem'"):
        ChunkWiseRephrasePipeline(model=echo_model, checkpoint_db=":memory:").run(
            "Some text.", style="poem"
        )
    with pytest.raises(ConfigError, match="rewrite"):
        ChunkWiseRephrasePipeline(model=object())
    with pytest.raises(ConfigError, match="writes per call"):
        ChunkWiseRephrasePipeline(
            model=echo_model,
            config=PipelineConfig(chunk_tokens=10_000, overlap_tokens=0),
            checkpoint_db=":memory:",
        ).run("Some text.")


def test_exported_graph_runs_without_a_checkpointer() -> None:
    context = RephraseContext(
        rewriter_model=model(echo),
        blob_store=":memory:",
        tokenizer="whitespace",
        chunk_tokens=12,
        overlap_tokens=4,
    )
    text = "One. Two three four.\n\nFive six seven eight nine ten. " * 20
    out = graph.invoke({"text": text, "style": "qa"}, context=context)["result"]
    assert {"output_key", "report_key", "summary", "success", "usage"} <= set(out)
    store = open_blob_store(":memory:")
    assert store.get(out["output_key"]) == text
    assert out["summary"]["style"] == "question-answer" and "chunks" not in out["summary"]
    assert (
        len(RephraseReport.load(store, out["report_key"]).chunks)
        == out["summary"]["totals"]["chunks"]
    )
    schema = graph.get_input_jsonschema()["properties"]
    assert set(schema) == {"text", "text_key", "style", "style_instruction"}
