"""`paper2code --layout repo --validate` through the real CLI on the embedded 0.5B model.

The point is the plumbing on a real backend (structured plan, one call per file, the tree
under --out, the smoke run of main.py and a repair round), not whether a 0.5B model's
repository runs: the result must say honestly either way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_model import skip_unless_small_local_model

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(2400)]

skip_unless_small_local_model()
if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed: pip install 'chunkwise[validate]'",
                allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]


def test_paper2code_repo_layout_on_the_local_model(tmp_path: Path) -> None:
    env = {**os.environ, "CHUNKWISE_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "chunkwise.cli", "paper2code",
         str(REPO / "examples" / "gated_mixer_paper.md"), "--num-chunks", "2",
         "--layout", "repo", "--out", "repo", "--validate", "--max-repairs", "1",
         "--json", "result.json", "--model", "local:qwen2.5-coder-0.5b",
         "--max-new-tokens", "700", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=2300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["success"] and result["layout"] == "repo"
    assert result["model_used"] == "local:qwen2.5-coder-0.5b"
    paths = [f["path"] for f in result["files"]]
    assert paths[:2] == ["config.yaml", "config.py"] and paths[-2:] == ["main.py", "README.md"]
    for item in result["files"]:
        assert (tmp_path / "repo" / item["path"]).is_file()
    check = result["validation"]
    assert 1 <= check["attempts"] <= 2 and check["repairs"] <= 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("code: "), proc.stderr
    assert last.startswith("code: runs") == (check["smoke"] is not None and check["smoke"]["ok"])
