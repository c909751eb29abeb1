"""Every pipeline end to end through the real CLI on the embedded 0.5B model, offline.

Small inputs and short replies keep the three runs to a few minutes on two cores; the point is
that the real backend works under each graph (prompts, structured output, budgets, resume
plumbing), not the quality of a 0.5B model's prose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_model import skip_unless_small_local_model

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(1800)]

skip_unless_small_local_model()

REPO = Path(__file__).resolve().parents[2]
MODEL = ["--model", "local:qwen2.5-coder-0.5b", "--max-new-tokens", "160", "--quiet"]

NOTE = (
    "Lighthouses were built on rocky coasts to warn ships at night. Early towers burned wood "
    "or coal in open fires. In 1822 Augustin Fresnel designed a lens that focused the light "
    "into a beam visible 20 miles away. Keepers trimmed wicks every four hours and logged the "
    "weather. By 1900 most towers in France used Fresnel lenses and kerosene lamps.\n"
)


def _chunkwise(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHUNKWISE_HOME": str(cwd / "home")}
    return subprocess.run(
        [sys.executable, "-m", "chunkwise.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=1500,
    )


def test_paper2code_on_the_local_model(tmp_path: Path) -> None:
    proc = _chunkwise(
        "paper2code", str(REPO / "examples" / "gated_mixer_paper.md"), "--num-chunks", "2",
        "--out", "model.py", "--json", "result.json", *MODEL, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["success"] and result["successful_chunks"] == 2
    assert result["model_used"] == "local:qwen2.5-coder-0.5b"
    assert result["usage"]["output_tokens"] > 0
    assert (tmp_path / "model.py").read_text().strip()


def test_rephrase_on_the_local_model(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text(NOTE, "utf-8")
    proc = _chunkwise(
        "rephrase", "--input", "note.txt", "--output", "out.txt", "--style", "simpler",
        "--max-retries", "1", "--report", "report.json", *MODEL, "--max-new-tokens", "400",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").read_text().strip()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["chunks"] and report["chunks"][0]["tokens_out"] > 0


def test_generate_on_the_local_model(tmp_path: Path) -> None:
    plan = {
        "topic": "Lighthouses", "objective": "Explain how lighthouses worked",
        "audience": "children", "tone": "friendly", "target_total_length": 80,
        "sections": [{"title": "Light at night", "key_points": ["fires were replaced by lenses"],
                      "required_entities": ["Fresnel"], "constraints": [],
                      "target_length": 80}],
        "terminology_preferences": {}, "narrative_voice": "third-person", "do_not_include": [],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan), "utf-8")
    proc = _chunkwise(
        "generate", "--manual-plan-path", "plan.json", "--output", "text.md", "--report",
        "qc.json", "--max-retries", "0", *MODEL, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "text.md").read_text().strip()
    report = json.loads((tmp_path / "qc.json").read_text())
    assert report, report
