"""The 65 State of the Union speeches (some Latin-1) as one batch, killed and resumed.

A child process runs `chunkwise batch rephrase` over the folder with a scripted model that
logs every call it answers. It is killed with SIGKILL while documents are in flight; the same
command then finishes the batch. By call identity: nothing answered before the kill is asked
again, both runs together ask exactly what an uninterrupted batch asks, the output rows equal
the uninterrupted batch's, and a second re-run asks nothing. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .support import rows

REPO = Path(__file__).resolve().parents[2]


def _batch(log: Path, hang_after: int, name: str, argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch.kill_worker", str(log), str(hang_after), name, "--",
         *argv],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _finish(child: subprocess.Popen[str]) -> str:
    _, err = child.communicate(timeout=900)
    assert child.returncode == 0, err
    return err


def _calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _wait_still(log: Path, child: subprocess.Popen[str]) -> None:
    """Until the first call hangs, then until answered calls stop arriving (their checkpoints
    and cache entries are written right after)."""
    deadline = time.monotonic() + 600  # slow only on a loaded machine
    while not Path(str(log) + ".hang").exists():
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "the batch never reached the hanging call"
        time.sleep(0.05)
    size = -1
    while size != log.stat().st_size:
        size = log.stat().st_size
        time.sleep(1.5)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "runs.sqlite")


@pytest.mark.timeout(1800)
def test_sigkill_mid_batch_then_rerun_pays_nothing_twice(
    tmp_path: Path, shared: Path, database: str
) -> None:
    speeches = shared / "corpus" / "speeches"
    batch_id = f"speeches-{uuid.uuid4().hex[:8]}"  # the postgres database outlives test runs
    name = f"scripted-{batch_id}"  # and so does its call cache: calls are told apart by model

    def argv(db: str, out: Path) -> list[str]:
        return ["batch", "rephrase", "--input", str(speeches), "--pattern", "*.txt",
                "--output", str(out), "--checkpoint-db", db, "--batch-id", batch_id,
                "--chunk-tokens", "2048", "--concurrency", "4", "--quiet"]

    whole_log, whole_out = tmp_path / "whole.log", tmp_path / "whole.jsonl"
    _finish(_batch(whole_log, 0, name + "-whole", argv(str(tmp_path / "whole.sqlite"), whole_out)))
    whole = _calls(whole_log)
    expected = rows(whole_out)
    assert len(expected) == 65 and all(r["status"] == "done" for r in expected.values())
    assert len(set(whole)) == len(whole)

    log, out = tmp_path / "calls.log", tmp_path / "out.jsonl"
    child = _batch(log, len(whole) // 3, name, argv(database, out))
    _wait_still(log, child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    before = _calls(log)
    written = rows(out) if out.exists() else {}
    assert 0 < len(written) < 65, "killed with no document done, or all of them"

    _finish(_batch(log, 0, name, argv(database, out)))
    after = _calls(log)[len(before):]
    assert not set(before) & set(after), "a call answered before the kill was paid again"
    assert sorted(before + after) == sorted(whole)
    final = rows(out)
    assert {k: {**r, "usage": None} for k, r in final.items()} == {
        k: {**r, "usage": None} for k, r in expected.items()
    }
    assert {k: r["usage"] for k, r in final.items() if k in written} == {
        k: r["usage"] for k, r in written.items()
    }

    _finish(_batch(log, 0, name, argv(database, out)))
    assert len(_calls(log)) == len(before) + len(after), "a finished batch made a model call"
    assert rows(out) == final
