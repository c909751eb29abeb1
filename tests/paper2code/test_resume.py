"""Resume after SIGKILL mid-summaries, and the checkpoint-size rule on an 18M-character paper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.graphs.paper2code import PIPELINE
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.runner import run_config
from tests.paper2code.support import paper_model, part_of

REPO = Path(__file__).resolve().parents[2]


def _worker(paper: Path, db: Path, log: Path, hang_at: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.paper2code.crash_worker", str(paper), str(db), str(log),
         str(hang_at)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.timeout(1500)
def test_sigkill_mid_summaries_then_resume_repeats_no_completed_call(
    tmp_path: Path, example_paper: Path
) -> None:
    db, log = tmp_path / "runs.sqlite", tmp_path / "calls.log"
    child = _worker(example_paper, db, log, hang_at=3)
    deadline = time.monotonic() + 600  # slow only on a loaded machine
    while not Path(str(log) + ".hang").exists():
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "worker never reached its third call"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    before = log.read_text().split()
    hung = Path(str(log) + ".hang").read_text("utf-8")
    assert len(before) == 2 and hung not in before  # one call at a time: two answered

    resumed = _worker(example_paper, db, log, hang_at=0)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert '"success": true' in out and '"successful_chunks": 5' in out
    after = log.read_text().split()[len(before):]
    assert sorted(after) == sorted({"1", "2", "3", "4", "5"} - set(before))


@pytest.mark.timeout(300)
def test_checkpoint_db_stays_under_one_and_a_half_times_an_18m_paper(tmp_path: Path) -> None:
    section = (
        "## Section {n}\n\n"
        + "We study attention with $O(n^2)$ cost and propose a linear variant. " * 40
        + "\n\n$$\nE = mc^2 + \\sum_i x_i\n$$\n\n"
    )
    parts, size, n = [], 0, 0
    while size < 18_000_000:
        block = section.format(n=n)
        parts.append(block)
        size += len(block)
        n += 1
    paper = tmp_path / "huge.md"
    paper.write_text("# A very long paper\n\n" + "".join(parts), "utf-8")
    model = paper_model(summarize_chunk=lambda c: f"Notes on part {part_of(c)}.")
    db = tmp_path / "runs.sqlite"
    result = ChunkedPyTorchGenerator(
        num_chunks=5, chunk_model=model, code_model=model, checkpoint_db=str(db)
    ).generate_code_for_paper(path=str(paper))
    assert result["success"], result.get("error")
    # a 200k-context chunk model: 18M characters need far more than 5 chunks
    assert result["num_chunks"] > 5
    stored = sum(p.stat().st_size for p in tmp_path.glob("runs*.sqlite*"))
    assert stored < 1.5 * paper.stat().st_size, stored


@pytest.mark.timeout(900)
def test_sigkill_mid_repair_resumes_in_the_same_round(tmp_path: Path, example_paper: Path) -> None:
    """Killed while repair round 2 waits for the model: the resumed run asks for round 2
    again and goes on to round 3, but never repeats the summaries, the code or round 1."""

    def worker(hang_at: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.paper2code.repair_worker", str(example_paper),
             str(db), str(log), str(hang_at)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    db, log = tmp_path / "runs.sqlite", tmp_path / "calls.log"
    child = worker(hang_at=2)
    deadline = time.monotonic() + 600
    while not Path(str(log) + ".hang").exists():
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "worker never reached repair round 2"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    before = log.read_text().splitlines()
    assert before == ["summarize", "summarize", "write", "repair 1"]

    resumed = worker(hang_at=0)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    after = log.read_text().splitlines()[len(before):]
    assert after == ["repair 2", "repair 3"]
    result = json.loads(out)
    assert result["success"] is True
    check = result["validation"]
    assert check["repairs"] == 3 and check["attempts"] == 4 and check["passed"] is False


def _saved_summaries(db: Path, run_id: str) -> set[str]:
    """Tasks of the run's current step whose summary the checkpoint holds (pending writes)."""
    with open_checkpointer(str(db), PIPELINE.checkpoint_types) as saver:
        saved = saver.get_tuple(run_config(run_id))
    writes = saved.pending_writes if saved is not None else None
    return {task for task, channel, _ in writes or () if channel == "outcomes"}


@pytest.mark.timeout(900)
def test_sigkill_mid_fan_out_without_the_call_cache_repeats_only_calls_in_flight(
    tmp_path: Path, example_paper: Path
) -> None:
    """With the call cache off only the checkpoint remembers answers. Killed with two summaries
    answered and two in flight, the resumed run asks again at most the two in flight. (LangGraph
    saved a finished branch's writes on the pool that ran the branches, sized by --concurrency:
    the saves waited behind the branches not yet started, the kill lost them, and the answered
    summaries were asked again.)"""
    db, log = tmp_path / "runs.sqlite", tmp_path / "calls.log"

    def worker(answer: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.paper2code.fanout_kill_worker", str(example_paper),
             str(db), str(log), str(answer)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def lines(kind: str) -> list[str]:
        text = log.read_text("utf-8") if log.exists() else ""
        return [line.split()[1] for line in text.splitlines() if line.startswith(kind + " ")]

    child = worker(answer=2)
    deadline = time.monotonic() + 600  # slow only on a loaded machine
    while len(lines("answered")) < 2 or not lines("hung"):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "worker never reached a hung call"
        time.sleep(0.05)
    # the answers' writes are saved as they finish; give them a while before the kill (before
    # the fix they never came: the pool's only free thread was the hung call's)
    saved_by = time.monotonic() + 30
    while len(_saved_summaries(db, "fanout")) < 2 and time.monotonic() < saved_by:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    answered, in_flight = set(lines("answered")), set(lines("hung"))
    assert len(answered) == 2 and 1 <= len(in_flight) <= 2, (answered, in_flight)

    resumed = worker(answer=-1)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert json.loads(out) == {"success": True, "successful_chunks": 5, "num_chunks": 5}
    asked = lines("asked")
    repeated = [part for part in asked if part in answered | in_flight]
    assert not answered & set(asked), f"answered before the kill, asked again: {asked}"
    assert len(repeated) <= len(in_flight), (repeated, in_flight)
    assert sorted(asked) == sorted({"1", "2", "3", "4", "5"} - answered)
