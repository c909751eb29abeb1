"""Each pipeline as a subgraph of a host graph: the host's checkpointer covers it, and a host
run killed (SIGKILL) inside the subgraph resumes there without paying again for finished work.

Work is counted at the model: the child process logs every answered call, and the resumed run
must not repeat any of them. Two mechanisms make that hold, as in a user's run: checkpoints
(rephrase and generate resume at the next part or section), and the call cache, which also
covers paper2code's parallel summaries: LangGraph 1.2 re-runs the finished `Send` branches of a
subgraph on resume (langchain-ai/langgraph#6792), and their model calls come from the cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# (pipeline, the task to hang in, which call of it): half-way through the subgraph's loop
HANGS = {"paper2code": ("summarize_chunk", 3), "rephrase": ("rewrite", 4),
         "generate": ("section_generation", 3)}


def _host(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.embedding.host_worker", *args], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _answered(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["top", "node", "call"])
@pytest.mark.parametrize("name", list(HANGS))
def test_killed_inside_the_subgraph_resumes_there(tmp_path: Path, name: str, mode: str) -> None:
    db, log = tmp_path / "host.sqlite", tmp_path / "calls.log"
    task, at = HANGS[name]
    child = _host([name, mode, str(db), str(log), task, str(at)])
    deadline = time.monotonic() + 300
    while not Path(str(log) + ".hang").exists():
        assert child.poll() is None, child.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the host never reached the hanging call"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    before = _answered(log)
    assert sum(line.startswith(task) for line in before) >= at - 1  # more with 2 in flight

    out, err = _host([name, mode, str(db), str(log), task, "0"]).communicate(timeout=300)
    assert out.strip(), err[-3000:]
    final = json.loads(out.strip().splitlines()[-1])
    assert final["success"] and final["summary"].startswith(f"{name} finished")
    after = _answered(log)[len(before):]
    assert after, "the resumed run made no call at all"
    repeated = set(before) & set(after)
    assert not repeated, f"calls answered before the kill were made again: {sorted(repeated)}"
