"""paper2code end to end with a scripted model: fan-out, threshold, collapse, result."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.retry import ModelCallError
from chunkwise.models.settings import ModelSettings
from tests.paper2code.conftest import Runner
from tests.paper2code.support import ConcurrencyProbe, paper_model, part_of

SEED_KEYS = {
    "success", "paper_id", "paper_title", "code", "model_used", "dataset_recommendations",
    "recommended_dataset", "chunk_results", "num_chunks", "successful_chunks",
    "total_generation_time", "final_generation_time",
}


def test_result_has_the_seed_dictionary(run_paper: Runner, example_paper: Path) -> None:
    model = paper_model()
    result = run_paper(example_paper, model).values["result"]

    assert set(result) >= SEED_KEYS
    assert result["success"] is True
    assert result["paper_id"] == "gated_mixer_paper"
    assert result["paper_title"] == "Gated Token Mixers for Short-Text Classification"
    assert result["num_chunks"] == 5 and result["successful_chunks"] == 5
    assert "import torch" in result["code"] and "```" not in result["code"]
    assert result["recommended_dataset"] == "ag_news"
    assert result["dataset_recommendations"]["task"] == "text classification"
    assert [c["chunk_number"] for c in result["chunk_results"]] == [1, 2, 3, 4, 5]
    assert all(set(c) == {"chunk_number", "success", "summary_length", "processing_time"}
               for c in result["chunk_results"])
    assert result["usage"]["calls"] == 7
    assert result["code_syntax_error"] is None
    assert "error" not in result


def test_summaries_reach_the_code_prompt_in_order(run_paper: Runner, example_paper: Path) -> None:
    model = paper_model()
    run_paper(example_paper, model)
    (code_call,) = model.calls_for("write_code")
    positions = [code_call.prompt.index(f"Notes on part {n}.") for n in range(1, 6)]
    assert positions == sorted(positions)
    assert "ag_news" in code_call.prompt


def test_chunks_run_in_parallel_within_the_bound(run_paper: Runner, example_paper: Path) -> None:
    probe = ConcurrencyProbe(0.2)
    result = run_paper(example_paper, paper_model(summarize_chunk=probe), concurrency=3,
                       num_chunks=6).values["result"]
    assert result["success"]
    assert 2 <= probe.peak <= 3


def test_failed_chunks_do_not_stop_the_others(run_paper: Runner, example_paper: Path) -> None:
    model = paper_model()
    model.fail = lambda c: (
        ModelCallError("m: auth: denied", kind="auth")
        if c.task == "summarize_chunk" and part_of(c) in (2, 4) else None
    )
    result = run_paper(example_paper, model).values["result"]
    assert result["success"] and result["successful_chunks"] == 3
    failed = [c for c in result["chunk_results"] if not c["success"]]
    assert [c["chunk_number"] for c in failed] == [2, 4]
    assert all("auth: denied" in c["error"] for c in failed)
    assert "Notes on part 2." not in model.calls_for("write_code")[0].prompt


def test_below_the_threshold_the_run_fails_with_each_reason(
    run_paper: Runner, example_paper: Path
) -> None:
    model = paper_model()
    model.fail = lambda c: (
        ModelCallError(f"denied for part {part_of(c)}", kind="auth")
        if c.task == "summarize_chunk" and part_of(c) != 1 else None
    )
    result = run_paper(example_paper, model, min_success_ratio=0.5).values["result"]
    assert result["success"] is False
    assert result["successful_chunks"] == 1
    assert "only 1 of 5 chunks" in result["error"]
    for n in range(2, 6):
        assert f"chunk {n}: " in result["error"]
        assert f"auth: denied for part {n}" in result["error"]
    assert model.calls_for("write_code") == []


def test_a_failed_run_resumes_redoing_only_failed_chunks(
    run_paper: Runner, example_paper: Path
) -> None:
    flaky = paper_model()
    flaky.fail = lambda c: (
        ModelCallError("m: not allowed", kind="auth")
        if c.task == "summarize_chunk" and part_of(c) > 2 else None
    )
    first = run_paper(example_paper, flaky, run_id="r").values["result"]
    assert first["success"] is False

    healthy = paper_model()
    second = run_paper(example_paper, healthy, run_id="r")
    assert second.status == "retried"
    assert second.values["result"]["success"] is True
    assert sorted(part_of(c) for c in healthy.calls_for("summarize_chunk")) == [3, 4, 5]


def test_collapse_merges_notes_until_they_fit(run_paper: Runner, example_paper: Path) -> None:
    long_notes = paper_model(
        summarize_chunk=lambda c: f"Notes on part {part_of(c)}. " + "w " * 400,
        collapse_summaries=lambda c: "short merged notes",
    )
    code_model = paper_model()
    result = run_paper(
        example_paper,
        long_notes,
        code_model=code_model,
        num_chunks=8,
        models=ModelSettings(context_window=2600),
    ).values["result"]
    assert result["success"], result.get("error")
    assert result["collapse_rounds"] >= 1
    assert long_notes.calls_for("collapse_summaries")
    assert code_model.calls_for("collapse_summaries") == []
    assert "short merged notes" in code_model.calls_for("write_code")[0].prompt


def test_a_finished_run_returns_its_result_without_calls(
    run_paper: Runner, example_paper: Path
) -> None:
    run_paper(example_paper, paper_model(), run_id="done")
    again = paper_model()
    outcome = run_paper(example_paper, again, run_id="done")
    assert outcome.status == "finished"
    assert outcome.values["result"]["success"]
    assert again.calls == []


def test_sequential_mode_sends_one_request_at_a_time(tmp_path: Path, example_paper: Path) -> None:
    from chunkwise.api.paper2code import ChunkedPyTorchGenerator

    probe = ConcurrencyProbe(0.1)
    model = paper_model(summarize_chunk=probe)
    result = ChunkedPyTorchGenerator(
        chunk_model=model, code_model=model, sequential=True, delay=0.05,
        checkpoint_db=str(tmp_path / "r.sqlite"),
    ).generate_code_for_paper(path=str(example_paper))
    assert result["success"] and result["successful_chunks"] == 5
    assert probe.peak == 1


def test_resuming_a_run_with_another_paper_is_refused(
    run_paper: Runner, example_paper: Path, tmp_path: Path
) -> None:
    run_paper(example_paper, paper_model(), run_id="same")
    other = tmp_path / "other.md"
    other.write_text("# Other\n\nA different paper about other things.\n", "utf-8")
    with pytest.raises(ConfigError, match="run same was started with other input"):
        run_paper(other, paper_model(), run_id="same")


def test_a_pasted_paper_runs_and_stays_out_of_the_checkpoints(
    tmp_path: Path, example_paper: Path
) -> None:
    """`paper_text` (Studio, a host graph, a batch row): same chunks as the file, the text held
    only by the blob store, and a rerun with the same text returns the finished run."""
    from chunkwise.graphs.paper2code import PIPELINE, graph
    from chunkwise.runtime.checkpoint import open_checkpointer
    from chunkwise.runtime.runner import run_config, run_pipeline
    from chunkwise.state.paper2code import Paper2CodeContext

    text = example_paper.read_text("utf-8")
    model = paper_model()
    context = Paper2CodeContext(chunk_model=model, code_model=model, blob_store=":memory:")
    direct = graph.invoke({"paper_text": text}, context=context)["result"]
    assert direct["success"] and direct["num_chunks"] == 5
    assert direct["paper_title"] == "Gated Token Mixers for Short-Text Classification"

    db = str(tmp_path / "runs.sqlite")
    context = Paper2CodeContext(chunk_model=model, code_model=model,
                                blob_store=str(tmp_path / "runs.blobs.sqlite"))
    first = run_pipeline(PIPELINE, input={"paper_text": text}, context=context,
                         checkpoint_db=db, run_id="pasted")
    assert first.require_result().success
    calls = len(model.calls)
    again = run_pipeline(PIPELINE, input={"paper_text": text}, context=context,
                         checkpoint_db=db, run_id="pasted")
    assert again.status == "finished" and len(model.calls) == calls
    with open_checkpointer(db, PIPELINE.checkpoint_types) as saver:
        for item in saver.list(run_config("pasted")):
            assert "attention-free encoder" not in str(item.checkpoint["channel_values"])
