"""The progress events of each pipeline for a known input: one typed shape, stages in order, a
`unit_done` per unit, and the same events written by `--json-events`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from chunkwise.cli import main
from chunkwise.graphs import generate, paper2code, rephrase
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.progress import ProgressEvent
from chunkwise.state.generate import GenerateContext
from chunkwise.state.paper2code import Paper2CodeContext
from chunkwise.state.rephrase import RephraseContext
from tests.generate.support import manual_plan, writer_model
from tests.paper2code.support import GOOD, coder, paper_model
from tests.rephrase.support import echo
from tests.rephrase.support import model as rewrite_model

REPO = Path(__file__).resolve().parents[2]
TEXT = "The committee met in Geneva in 1950. It agreed on three rules for the treaty.\n\n" * 10
FIELDS = set(get_type_hints(ProgressEvent))
SETTINGS = ModelSettings(cache=False, max_attempts=1)


def _events(graph: Any, payload: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    config: Any = {"max_concurrency": 2}
    return list(graph.stream(payload, config, context=context, stream_mode="custom"))


def _shape(events: list[dict[str, Any]], pipeline: str) -> None:
    for event in events:
        assert set(event) <= FIELDS, event
        assert event["pipeline"] == pipeline and event["elapsed"] >= 0


def _units(events: list[dict[str, Any]], stage: str) -> list[int | None]:
    return sorted((e.get("index") for e in events
                   if e["event"] == "unit_done" and e["stage"] == stage), key=str)


def test_paper2code_events() -> None:
    model = paper_model()
    context = Paper2CodeContext(chunk_model=model, code_model=model, models=SETTINGS,
                                blob_store=":memory:", num_chunks=3)
    events = _events(paper2code.graph, {"paper_path": str(REPO / "examples" /
                                                          "gated_mixer_paper.md")}, context)
    _shape(events, "paper2code")
    stages = [(e["stage"], e.get("total")) for e in events if e["event"] == "stage"]
    assert [s for s, _ in stages] == ["load", "summaries", "datasets", "code", "check"]
    assert dict(stages)["summaries"] == 3
    assert _units(events, "summaries") == [0, 1, 2]
    assert all(e["ok"] and e["tokens"] > 0 for e in events
               if e["event"] == "unit_done" and e["stage"] == "summaries")
    (check,) = [e for e in events if e["event"] == "unit_done" and e["stage"] == "check"]
    assert check["ok"] is True and "error" not in check
    calls = [e for e in events if e["event"] == "call_finished"]
    assert len(calls) == 5 and {c["task"] for c in calls} == {
        "summarize_chunk", "recommend_datasets", "write_code"}


def test_paper2code_repair_events_carry_the_round() -> None:
    """Code that does not parse: the check fails, one repair round fixes it; the code call is
    item 0 and each repair call is tagged with its round."""
    model = coder("def train_step(step:\n    return step\n", GOOD)
    context = Paper2CodeContext(chunk_model=model, code_model=model, models=SETTINGS,
                                blob_store=":memory:", num_chunks=2, max_repairs=2)
    events = _events(paper2code.graph, {"paper_path": str(REPO / "examples" /
                                                          "gated_mixer_paper.md")}, context)
    _shape(events, "paper2code")
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages[-3:] == ["check", "repair 1", "check after repair 1"]
    checks = [e["ok"] for e in events if e["event"] == "unit_done" and "check" in e["stage"]]
    assert checks == [False, True]
    calls = {(c["task"], c.get("index")) for c in events if c["event"] == "call_finished"}
    assert ("write_code", 0) in calls and ("repair_code", 1) in calls
    assert not {t for t, i in calls if t == "repair_code" and i != 1}


def test_rephrase_events() -> None:
    context = RephraseContext(rewriter_model=rewrite_model(echo), models=SETTINGS,
                              blob_store=":memory:", tokenizer="whitespace", chunk_tokens=40,
                              overlap_tokens=8)
    events = _events(rephrase.graph, {"text": TEXT}, context)
    _shape(events, "rephrase")
    stage = next(e for e in events if e["event"] == "stage")
    assert stage["stage"] == "rephrase (faithful)"
    assert _units(events, stage["stage"]) == list(range(stage["total"]))
    rewrites = [e.get("index") for e in events
                if e["event"] == "call_started" and e["task"] == "rewrite"]
    assert sorted(rewrites) == list(range(stage["total"]))  # each call names its part


def test_generate_events() -> None:
    model = writer_model()
    context = GenerateContext(planner_model=model, writer_model=model, judge_model=model,
                              models=SETTINGS, blob_store=":memory:")
    events = _events(generate.graph, {"manual_plan": manual_plan(3)}, context)
    _shape(events, "generate")
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages[0] == "plan" and stages[-1] == "qc" and "sections" in stages
    assert _units(events, "sections") == [0, 1, 2]
    # each call names its section; the last section's state entry is derived without a call
    for task, sections in (("section_generation", [0, 1, 2]), ("state_update", [0, 1])):
        assert sorted(e.get("index") for e in events
                      if e["event"] == "call_started" and e["task"] == task) == sections


def test_json_events_writes_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", rewrite_model(echo))
    source, events = tmp_path / "in.txt", tmp_path / "events.jsonl"
    source.write_text(TEXT, "utf-8")
    assert main(["rephrase", "--input", str(source), "--output", str(tmp_path / "out.txt"),
                 "--checkpoint-db", str(tmp_path / "runs.sqlite"), "--no-cache", "--quiet",
                 "--json-events", str(events)]) == 0
    lines = [json.loads(line) for line in events.read_text("utf-8").splitlines()]
    _shape(lines, "rephrase")
    kinds = [e["event"] for e in lines]
    assert kinds[0] == "stage" and kinds.count("unit_done") == lines[0]["total"]
    assert kinds.count("call_started") == kinds.count("call_finished") > 0
