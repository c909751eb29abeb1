"""Run paper2code with the zero-latency model in a child process (overhead and storage)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.proc import ChildResult, python, run_child, shown

WORKER = "benchmarks.workers.paper2code_scripted"


@dataclass(frozen=True)
class ScriptedRun:
    child: ChildResult
    report: dict[str, Any]
    command: str
    checkpoint_bytes: int
    blob_bytes: int


def run_scripted(paper: Path, folder: Path, *flags: str) -> ScriptedRun:
    """The worker on `paper` with databases in `folder`; storage measured after it exits."""
    out = folder / "report.json"
    args = python("-m", WORKER, str(paper), str(folder), str(out), *flags)
    child = run_child(args, timeout=1800).check(f"{WORKER} {' '.join(flags)}")
    return ScriptedRun(
        child=child,
        report=json.loads(out.read_text("utf-8")),
        command=shown(args, {str(folder): "$RUN", str(paper): paper.name}),
        checkpoint_bytes=sum(p.stat().st_size for p in folder.glob("runs.sqlite*")),
        blob_bytes=sum(p.stat().st_size for p in folder.glob("runs.blobs.sqlite*")),
    )
