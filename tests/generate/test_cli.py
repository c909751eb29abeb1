"""`chunkwise generate` through `chunkwise.cli.main`: outputs, report, resume and error paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chunkwise.cli import main
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.text.qc import count_words
from tests.generate.support import manual_plan, section_of, writer_model


@pytest.fixture
def use_model(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(model: ScriptedChatModel) -> ScriptedChatModel:
        monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", model)
        return model

    return install


def write_plan(tmp_path: Path, payload: Any, name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), "utf-8")
    return path


def run_flags(tmp_path: Path) -> list[str]:
    return ["--checkpoint-db", str(tmp_path / "runs.sqlite"), "--no-cache"]


def test_manual_plan_to_text_and_report(
    tmp_path: Path, use_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    model = use_model(writer_model())
    plan = write_plan(tmp_path, manual_plan(3))
    out, report = tmp_path / "out" / "text.txt", tmp_path / "qc.json"
    code = main(["generate", "--manual-plan-path", str(plan), "--output", str(out),
                 "--report", str(report), "--run-id", "cli-1", *run_flags(tmp_path)])

    assert code == 0
    err = capsys.readouterr().err
    assert "writer model: ScriptedChatModel (given in Python)" in err
    assert "judge model: ScriptedChatModel" in err and "planner model" not in err
    assert "run id: cli-1" in err and "QC passed" in err and "/360 words" in err
    text = out.read_text("utf-8")
    assert all(f"Skerry Light {i}" in text for i in (1, 2, 3))
    data = json.loads(report.read_text("utf-8"))
    assert data["run_id"] == "cli-1" and data["qc_report"]["passed"]
    # the last section's record is read from its text without a call: its required name
    assert [e["name"] for e in data["state_table"]["entities"]] == ["Keeper1", "Keeper2",
                                                                     "Skerry Light 3"]
    assert len(data["qc_report"]["sections"]) == 3 and data["words"] == count_words(text)
    assert len(model.calls_for("section_generation")) == 3


def test_brief_with_target_tokens_prints_to_stdout(
    tmp_path: Path, use_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        return {"sections": [{"title": "Only", "key_points": ["arches carry load"],
                              "target_length": 300}]}

    model = use_model(writer_model(plan=planner))
    code = main(["generate", "--topic", "Bridges", "--objective", "Explain arches",
                 "--target-tokens", "400", "--audience", "students", "--tone", "plain",
                 "--quiet", *run_flags(tmp_path)])

    assert code == 0
    captured = capsys.readouterr()
    assert "Arches carry load." in captured.out
    assert captured.err == ""
    (call,) = model.calls_for("plan_generation")
    assert "Total length: 300 words" in call.prompt and "Audience: students" in call.prompt


def test_a_failed_run_exits_1_and_the_same_run_id_resumes(
    tmp_path: Path, use_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    failed: list[bool] = []

    def once(call: ScriptedCall) -> BaseException | None:
        if call.task == "section_generation" and section_of(call) == 1 and not failed:
            failed.append(True)
            return ValueError("backend fell over")
        return None

    model = use_model(writer_model(fail=once))
    plan = write_plan(tmp_path, manual_plan(3))
    out = tmp_path / "text.txt"
    argv = ["generate", "--manual-plan-path", str(plan), "--output", str(out),
            "--run-id", "flaky", "--max-attempts", "1", *run_flags(tmp_path)]

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "backend fell over" in err and "rerun with --run-id flaky" in err
    assert "Traceback" not in err and not out.exists()

    assert main(argv) == 0
    assert [section_of(c) for c in model.calls_for("section_generation")] == [0, 1, 1, 2]
    assert "Skerry Light 3" in out.read_text("utf-8")

    assert main(argv) == 0  # finished: the stored result, no call
    assert "had finished" in capsys.readouterr().err
    assert len(model.calls_for("section_generation")) == 4


def _plan_without(field: str) -> dict[str, Any]:
    plan = manual_plan(2)
    del plan[field]
    return plan


def _plan_with_section(**changes: Any) -> dict[str, Any]:
    plan = manual_plan(2)
    plan["sections"][1].update(changes)
    return plan


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{\"topic\": \"x\",", "not JSON (Expecting property name enclosed in double quotes "
                               "at line 1 column 15)"),
        ("", "not JSON (Expecting value at line 1 column 1)"),
        ([1, 2], "the plan must be a JSON object"),
        (_plan_without("objective"), "objective: missing"),
        (_plan_without("sections"), "sections: missing"),
        ({**manual_plan(1), "sections": []}, "sections: List should have at least 1 item"),
        (_plan_with_section(target_length=-5),
         "sections[1].target_length: Input should be greater than 0 (got -5)"),
        ({**manual_plan(1), "target_total_length": 0},
         "target_total_length: Input should be greater than 0 (got 0)"),
        (_plan_with_section(key_points=[]), "sections[1].key_points: List should have at least"),
        (_plan_with_section(title="  "), "sections[1].title: String should have at least 1"),
        ({**manual_plan(2), "do_not_include": ["lighthouses"]},
         'do_not_include "lighthouses" is named by the topic'),
        (_plan_with_section(key_points=["rotating prism number 1"]),
         'sections 1 and 2 share the key point "rotating prism number 1"'),
        ({**manual_plan(2), "target_total_length": 400},
         "section target_length values add up to 240 words, not the plan's 400"),
    ],
)
def test_bad_manual_plans_exit_2_naming_file_and_field(
    tmp_path: Path, use_model: Any, capsys: pytest.CaptureFixture[str], payload: Any,
    message: str,
) -> None:
    model = use_model(writer_model())
    plan = write_plan(tmp_path, payload)
    assert main(["generate", "--manual-plan-path", str(plan), *run_flags(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chunkwise: error: {plan}: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert model.calls == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--manual-plan-path", "missing.json"], "missing.json: no such file"),
        ([], "give --topic and --objective"),
        (["--topic", "T"], "give --topic and --objective"),
        (["--topic", "T", "--objective", "O"], "give the length: --target-tokens N"),
        (["--topic", "T", "--objective", "O", "--target-tokens", "5", "--target-words", "5"],
         "not both"),
        (["--topic", "T", "--objective", "O", "--target-words", "-5"],
         "must be a positive number, not -5"),
        (["--topic", "T", "--objective", "O", "--target-tokens", "0"],
         "must be a positive number, not 0"),
        (["--topic", "T", "--objective", "O", "--target-words", "50", "--max-retries", "-1"],
         "--max-retries must not be negative"),
        (["--topic", "T", "--objective", "O", "--target-words", "50",
          "--min-length-score", "101"], "--min-length-score must be between 0 and 100"),
    ],
)
def test_bad_flags_exit_2(
    tmp_path: Path, use_model: Any, capsys: pytest.CaptureFixture[str], argv: list[str],
    message: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    model = use_model(writer_model())
    assert main(["generate", *argv, *run_flags(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert model.calls == []


def test_a_plan_and_a_brief_together_are_refused(
    tmp_path: Path, use_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    use_model(writer_model())
    plan = write_plan(tmp_path, manual_plan(1))
    assert main(["generate", "--manual-plan-path", str(plan), "--topic", "T",
                 *run_flags(tmp_path)]) == 2
    assert "--manual-plan-path replaces the brief: drop --topic" in capsys.readouterr().err
