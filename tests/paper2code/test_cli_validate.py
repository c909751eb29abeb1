"""`chunkwise paper2code --validate`: the final line says what the code does; bad settings and
a missing torch are one line with exit 2."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

from chunkwise.cli import main
from chunkwise.runtime import sandbox
from tests.paper2code.support import GOOD, coder

pytestmark = pytest.mark.timeout(300)


def _run(tmp_path: Path, paper: Path, *flags: str) -> int:
    return main(["paper2code", str(paper), "--out", str(tmp_path / "model.py"), "--json",
                 str(tmp_path / "r.json"), "--checkpoint-db", str(tmp_path / "r.sqlite"),
                 "--quiet", *flags])


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


needs_torch = pytest.mark.skipif(find_spec("torch") is None,
                                 reason="torch is not installed: pip install 'chunkwise[validate]'")


@needs_torch
def test_code_that_runs_says_runs(tmp_path: Path, example_paper: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", coder(GOOD))
    assert _run(tmp_path, example_paper, "--validate") == 0
    assert _last_line(capsys) == "code: runs"
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["validation"]["passed"] and result["validation"]["smoke"]["ok"]
    assert (tmp_path / "model.py").read_text() == GOOD


@needs_torch
def test_a_failing_smoke_run_is_named_on_the_final_line(
    tmp_path: Path, example_paper: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    raises = GOOD.replace("    for step", "    raise RuntimeError('boom')\n    for step")
    model = coder(raises, raises + "# tried\n")
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", model)
    assert _run(tmp_path, example_paper, "--validate", "--max-repairs", "1") == 0  # pipeline ok
    assert _last_line(capsys) == (
        "code: parses, smoke run failed: RuntimeError: boom (after 1 repair round)"
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["success"] is True and result["validation"]["passed"] is False


def test_without_validate_the_line_says_it_did_not_run(
    tmp_path: Path, example_paper: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", coder(GOOD))
    assert _run(tmp_path, example_paper) == 0
    assert _last_line(capsys) == (
        "code: parses and passes the static check; not run (add --validate to run it)"
    )
    undefined = GOOD.replace("math.exp(-step)", "math.exp(-step) * scale")
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", coder(undefined))
    assert _run(tmp_path, example_paper, "--max-repairs", "0", "--run-id", "u", "--no-cache") == 0
    assert _last_line(capsys) == (
        "code: parses, static check failed: main.py:5:30: undefined name 'scale'"
    )


def test_validate_without_torch_refuses_in_one_line(
    tmp_path: Path, example_paper: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = sandbox.find_spec
    monkeypatch.setattr(sandbox, "find_spec", lambda name: None if name == "torch" else real(name))
    model = coder(GOOD)
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", model)
    assert _run(tmp_path, example_paper, "--validate") == 2
    err = capsys.readouterr().err.strip()
    assert err == ("chunkwise: error: --validate needs torch, which is not installed: "
                   "pip install 'chunkwise[validate]'")
    assert model.calls == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--max-repairs", "-1"], "--max-repairs must not be negative"),
    (["--validate-timeout", "0"], "--validate-timeout must be positive"),
])
def test_bad_validation_settings_are_one_line(
    tmp_path: Path, example_paper: Path, flags: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(tmp_path, example_paper, *flags) == 2
    assert _last_line(capsys) == f"chunkwise: error: {message}"
