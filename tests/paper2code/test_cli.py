"""`chunkwise paper2code`: outputs, resume, and every bad input as one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfWriter

from chunkwise.cli import main
from chunkwise.models.scripted import ScriptedChatModel
from tests.paper2code.support import paper_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedChatModel:
    """Route both roles of the command to one scripted model."""
    model = paper_model()
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", model)
    return model


def _last_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_writes_code_and_json_then_resumes_without_calls(
    tmp_path: Path, example_paper: Path, scripted: ScriptedChatModel,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, report, db = tmp_path / "model.py", tmp_path / "result.json", tmp_path / "runs.sqlite"
    args = [
        "paper2code", str(example_paper), "--out", str(out), "--json", str(report),
        "--checkpoint-db", str(db), "--run-id", "cli-1", "--quiet",
    ]
    assert main(args) == 0
    assert "import torch" in out.read_text()
    result = json.loads(report.read_text())
    assert result["success"] and result["run_id"] == "cli-1" and result["num_chunks"] == 5
    *_, done, code = capsys.readouterr().err.strip().splitlines()
    assert "done: wrote" in done and code.startswith("code: parses")
    calls = len(scripted.calls)

    out.unlink()
    assert main(args) == 0
    assert len(scripted.calls) == calls
    assert "import torch" in out.read_text()


def test_sequential_mode_and_auto_chunks(
    tmp_path: Path, example_paper: Path, scripted: ScriptedChatModel
) -> None:
    args = [
        "paper2code", str(example_paper), "--sequential", "--delay", "0", "--num-chunks",
        "auto", "--checkpoint-db", str(tmp_path / "r.sqlite"), "--quiet", "--json",
        str(tmp_path / "r.json"),
    ]
    assert main(args) == 0
    # the whole example fits one chunk of a 200k-context model
    assert json.loads((tmp_path / "r.json").read_text())["num_chunks"] == 1


def test_failed_run_exits_1_and_keeps_its_checkpoint(
    tmp_path: Path, example_paper: Path, scripted: ScriptedChatModel,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from chunkwise.models.retry import ModelCallError

    scripted.fail = lambda c: ModelCallError("bad key", kind="auth") if c.task == (
        "summarize_chunk") else None
    args = ["paper2code", str(example_paper), "--checkpoint-db", str(tmp_path / "r.sqlite"),
            "--run-id", "f", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "only 0 of 5 chunks" in err and "--run-id f" in err
    scripted.fail = None
    assert main(args) == 0


def _pdf_without_text(path: Path) -> Path:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES = {
    "missing": (lambda d: d / "nope.md", "nope.md"),
    "empty": (lambda d: _write(d / "empty.md", b""), "empty.md"),
    "no text layer": (lambda d: _pdf_without_text(d / "scan.pdf"), "scan.pdf"),
    "corrupt pdf": (lambda d: _write(d / "bad.pdf", b"%PDF-1.4 garbage"), "bad.pdf"),
    "binary": (lambda d: _write(d / "blob.txt", bytes(range(256)) * 8), "blob.txt"),
    "unknown extension": (lambda d: _write(d / "paper.docx", b"x"), "paper.docx"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_paper_is_one_line_and_exit_2(
    case: str, tmp_path: Path, scripted: ScriptedChatModel, capsys: pytest.CaptureFixture[str]
) -> None:
    make, name = BAD_FILES[case]
    path = make(tmp_path)
    code = main(["paper2code", str(path), "--checkpoint-db", str(tmp_path / "r.sqlite"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    line = _last_line(err)
    assert line.startswith("chunkwise: error:") and name in line, err
    assert "Traceback" not in err
    assert scripted.calls == []


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--model", "nosuch:model-x"], "unknown model spec"),
        (["--model", "openai:gpt-4o-mini"], "LLM_API_KEY"),
        (["--model", "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0"], "AWS"),
        (["--min-success-ratio", "0"], "--min-success-ratio"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(
    flags: list[str], needle: str, tmp_path: Path, example_paper: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["paper2code", str(example_paper), "--checkpoint-db", str(tmp_path / "r.sqlite"),
                 "--quiet", *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in _last_line(err) and "Traceback" not in err


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chunkwise.cli", "paper2code", str(tmp_path / "missing.pdf"),
         "--model", "openai:x", "--base-url", "http://127.0.0.1:9/v1", "--quiet",
         "--checkpoint-db", str(tmp_path / "r.sqlite")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 2
    assert "missing.pdf" in proc.stderr and "Traceback" not in proc.stderr
