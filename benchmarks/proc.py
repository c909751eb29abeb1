"""Child processes for benchmarks: the real CLI or a worker, with wall time and peak RSS.

Peak RSS comes from `os.wait4` on the child itself (the kernel's `ru_maxrss` of that process),
so it measures the run and nothing the benchmark process holds.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.registry import REPO

# Variables that would point a child at a real backend or change its defaults.
_ISOLATE_PREFIXES = ("AWS_", "LLM_", "OPENAI_", "CHUNKWISE_", "BEDROCK_", "ANTHROPIC_")
_KEEP = ("CHUNKWISE_MODEL_CACHE",)  # where the local model's joined weights are cached


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: this checkout importable, no credentials or model choices."""
    env = {
        k: v for k, v in os.environ.items()
        if k in _KEEP or not k.startswith(_ISOLATE_PREFIXES)
    }
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    seconds: float
    max_rss_mb: float
    stdout: str
    stderr: str
    killed: bool = False

    def check(self, what: str) -> ChildResult:
        if self.returncode != 0 and not self.killed:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{what} exited with {self.returncode}:\n{tail}")
        return self


Watch = Callable[[int, float], bool]  # (pid, seconds so far) -> True when it killed the child


def run_child(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
    watch: Watch | None = None,
    poll: float = 0.02,
) -> ChildResult:
    """Run `args` to the end (or until `watch` kills it); time, peak RSS, output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(args), stdout=out, stderr=err, cwd=cwd or REPO,
                                env=dict(env) if env is not None else child_env())
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - started
            if watch is not None and not killed:
                killed = watch(proc.pid, elapsed)
            if elapsed > timeout:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
            time.sleep(poll)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not reap it again
        out.seek(0)
        err.seek(0)
        return ChildResult(
            returncode=proc.returncode,
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            killed=killed,
        )


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def chunkwise(*args: str) -> list[str]:
    """The real CLI, as `python -m chunkwise.cli` from this checkout."""
    return python("-m", "chunkwise.cli", *args)


def shown(args: Sequence[str], replace: Mapping[str, str] | None = None) -> str:
    """A command line as a person would type it (the CLI as `chunkwise`, paths shortened)."""
    words = list(args)
    if words[:3] == [sys.executable, "-m", "chunkwise.cli"]:
        words = ["chunkwise", *words[3:]]
    elif words and words[0] == sys.executable:
        words[0] = "python"
    text = shlex.join(words)
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return text
