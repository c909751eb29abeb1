"""Run generated code in a child process that cannot hang, exhaust memory, reach the network
or see credentials, and report how it ended.

What the child gets (`run_sandboxed`):

- its own temporary directory: the files are written there, it is the child's cwd, HOME and
  (under `.tmp/`) TMPDIR, and it is removed afterwards whatever happened;
- a wall-clock limit (`timeout`): the child runs in a new session and its whole process group
  is killed (SIGKILL) at the limit; leftover background processes are killed when it exits;
- rlimits, set in the child before the interpreter starts: RLIMIT_DATA (`memory_mb`),
  RLIMIT_CPU (`cpu_seconds`), RLIMIT_FSIZE (`file_mb`) and no core files. RLIMIT_DATA rather
  than RLIMIT_AS: it counts private writable memory (heap, anonymous mmap: where tensors live)
  and not the read-only mappings of torch's shared libraries, so one limit means the same for
  a CPU and a CUDA build. Measured with torch 2.13.0+cpu, one thread, import + 5 Adam steps of
  an MLP + a 2-layer TransformerEncoder forward/backward: VmData 252 MB (fails under a 200 MB
  RLIMIT_DATA, runs under 300 MB), VmPeak 673 MB (RLIMIT_AS would need ~700 MB, more per
  thread). Default 4096 MB: ample for a smoke run, a bound on a runaway on a shared machine.
  The CPU limit defaults to twice the timeout: the wall clock stops the child first; the CPU
  limit and PR_SET_PDEATHSIG (SIGKILL when the starting thread dies) still stop a child whose
  parent was killed, though its `chunkwise-sandbox-*` directory then stays in the temp dir;
- no network: the child enters a new network namespace (only a loopback, left down) before
  the interpreter starts: `unshare(CLONE_NEWNET)` as root, else `unshare(CLONE_NEWUSER |
  CLONE_NEWNET)` with the current uid/gid mapped to themselves (unprivileged user namespaces).
  Where neither is allowed (some containers, kernels with user namespaces off) the code still
  runs, `SmokeResult.network_isolated` is False and a warning is logged, unless
  `require_network_isolation=True`, which refuses with `ConfigError`. In every case the proxy
  variables point at a closed local port, so HTTP clients that honour them fail fast;
- an environment built from an allow-list (`sandbox_environment`): PATH, LD_LIBRARY_PATH and
  TZ from the parent, everything else fixed here (HOME, TMPDIR, locale, PYTHONHASHSEED=0,
  thread caps for OpenMP/MKL/OpenBLAS, no CUDA devices). It is then checked: no `*_KEY`,
  `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, `AWS_*`, `LLM_*`, `OPENAI_*` variable can be present;
- the same interpreter (`sys.executable`, so torch stays importable from its environment) as
  `python -s -B -X faulthandler entry.py`, the entry's folder first on sys.path: no user
  site-packages, and since the environment is built from scratch no PYTHON* variable of the
  parent reaches it. Not `-I`: that also drops the script's folder from sys.path, and the
  generated files import each other.

With `trace_modules`, the child also imports a bootstrap (`runtime.module_trace`, as
`sitecustomize` from a hidden folder of its directory put on its PYTHONPATH) that names the
torch module an uncaught exception happened in; its marker line is taken out of stderr and
returned as `SmokeResult.trace`.

stdout and stderr are captured from pipes (never to disk), their tails kept (`tail_chars`),
and the error line extracted: the last line of the last traceback, e.g. `AttributeError:
'Config' object has no attribute 'num_epochs'`. The child cannot see the parent's secrets;
a caller that puts the tails into a result or a prompt still passes them through
`chunkwise.models.secrets.redact` (this layer sits below `models/`).

This contains honest mistakes of generated code (infinite loops, runaway allocation,
accidental downloads, reading a key from the environment). It is not a security boundary
against hostile code: the child runs as the same user, sees the same filesystem, and a
process that starts a new session of its own leaves the process group.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chunkwise.errors import ConfigError, InputError
from chunkwise.runtime.module_trace import CHILD_MODULE, CHILD_SOURCE, ModuleTrace, take_trace

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "KilledReason",
    "SmokeResult",
    "error_line_of",
    "run_sandboxed",
    "sandbox_environment",
    "validation_available",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0
DEFAULT_MEMORY_MB = 4096
DEFAULT_FILE_MB = 1024
DEFAULT_TAIL_CHARS = 8000
INSTALL_HINT = "pip install 'chunkwise[validate]'"

KilledReason = Literal["timeout", "cpu", "memory", "file-size", "signal"]

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
# Tried in order by the launcher; the first that succeeds names the isolation used.
_NAMESPACE_ATTEMPTS: tuple[tuple[int, str], ...] = (
    (_CLONE_NEWNET, "netns"),
    (_CLONE_NEWUSER | _CLONE_NEWNET, "userns"),
)
_REFUSED_EXIT = 125  # the launcher's exit status when isolation is required and unavailable
_POLL = 0.1  # seconds between checks of the child while its pipes are quiet
_GRACE = 2.0  # seconds the pipes may stay open after the child exited or was killed
_CLOSED_PROXY = "http://127.0.0.1:9"
_BOOT_DIR = ".chunkwise-boot"  # holds the module-trace bootstrap, on the child's PYTHONPATH

_INHERITED = ("PATH", "LD_LIBRARY_PATH", "TZ")
_CREDENTIAL_NAME = re.compile(
    r"(?:_KEY|_TOKEN|_SECRET|_PASSWORD)$|^(?:AWS|LLM|OPENAI)_", re.IGNORECASE
)
_MEMORY_ERROR = re.compile(
    r"^MemoryError\b|can't allocate memory|Cannot allocate memory|std::bad_alloc", re.MULTILINE
)
_FILE_TOO_LARGE = re.compile(r"\[Errno 27\]|File too large")  # Python ignores SIGXFSZ
_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Iteration|Warning)\b"
    r"(?::.*)?$|^Fatal Python error: "
)

# Runs as `python -I -c _LAUNCHER CONFIG` in the child: applies the namespace and the limits,
# reports the isolation on the status pipe, then replaces itself with the generated code's
# interpreter. Doing this here rather than in `preexec_fn` keeps the parent safe to call
# from threads (LangGraph runs nodes in a thread pool).
_LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the parent
if os.getppid() != cfg["parent"]:
    os._exit(1)
status = "none:not requested"
if cfg["isolate"]:
    uid, gid = os.getuid(), os.getgid()
    reasons = []
    for flags, name in cfg["attempts"]:
        if libc.unshare(flags) == 0:
            if flags & 0x10000000:  # a user namespace: map our ids so files can be created
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"{uid} {uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"{gid} {gid} 1")
            status = name
            break
        reasons.append(f"{name}: {os.strerror(ctypes.get_errno())}")
    else:
        status = "none:" + "; ".join(reasons)
os.write(cfg["status_fd"], status.encode())
os.close(cfg["status_fd"])
if cfg["require"] and status.startswith("none"):
    os._exit(cfg["refused_exit"])
for name, soft, hard in cfg["limits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
os.execv(cfg["argv"][0], cfg["argv"])
"""


class SmokeResult(BaseModel):
    """How one sandboxed run ended.

    `ok`: exit status 0 within every limit. `returncode`: the exit status, negative for a
    signal, None if it could not be collected. `error_line`: the last line of the traceback
    (or why it was killed); None when ok. `killed_reason`: which limit stopped it, if one did.
    `network_isolated`: whether the child ran in its own network namespace. `trace`: with
    `trace_modules`, the torch module the exception happened in (`runtime.module_trace`).
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    seconds: float
    returncode: int | None
    stdout_tail: str = ""
    stderr_tail: str = ""
    error_line: str | None = None
    killed_reason: KilledReason | None = None
    network_isolated: bool = False
    trace: ModuleTrace | None = None


def validation_available() -> str | None:
    """None when the smoke run can work here; else one line saying what to install."""
    missing = [name for name in ("torch", "pyflakes") if find_spec(name) is None]
    if not missing:
        return None
    return f"--validate needs {' and '.join(missing)}, which is not installed: {INSTALL_HINT}"


def sandbox_environment(workdir: Path, *, threads: int = 1) -> dict[str, str]:
    """The child's whole environment: an allow-list from the parent plus fixed values."""
    env = {name: os.environ[name] for name in _INHERITED if os.environ.get(name)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    caps = str(max(1, threads))
    env.update({
        "HOME": str(workdir),
        "TMPDIR": str(workdir / ".tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",  # output printed before a kill is not lost in a buffer
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": caps,
        "MKL_NUM_THREADS": caps,
        "OPENBLAS_NUM_THREADS": caps,
        "NUMEXPR_NUM_THREADS": caps,
        "VECLIB_MAXIMUM_THREADS": caps,
        "CUDA_VISIBLE_DEVICES": "",
        "MPLBACKEND": "Agg",
        **{name: _CLOSED_PROXY for name in (
            "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"
        )},
        "no_proxy": "",
        "NO_PROXY": "",
    })
    leaked = sorted(name for name in env if _CREDENTIAL_NAME.search(name))
    if leaked:  # the allow-list above must never let one through
        raise RuntimeError(f"sandbox environment would carry credential variables {leaked}")
    return env


def run_sandboxed(
    files: Mapping[str, str],
    entry: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    cpu_seconds: float | None = None,
    file_mb: int = DEFAULT_FILE_MB,
    threads: int = 1,
    tail_chars: int = DEFAULT_TAIL_CHARS,
    require_network_isolation: bool = False,
    trace_modules: bool = False,
) -> SmokeResult:
    """Write `files` ({relative path: source}) to a fresh directory and run `entry` there.

    `cpu_seconds` defaults to twice the timeout times `threads`. Raises `InputError` for a
    path that would leave the directory or an entry that is not among the files, and
    `ConfigError` when `require_network_isolation` is set and no namespace is available.
    `trace_modules` installs `runtime.module_trace`'s bootstrap in the child (a hidden folder
    of its directory on its PYTHONPATH), so a failure names the torch module it happened in.
    """
    _check_paths(files, entry)
    workdir = Path(tempfile.mkdtemp(prefix="chunkwise-sandbox-"))
    try:
        for rel, source in files.items():
            target = workdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
        (workdir / ".tmp").mkdir(exist_ok=True)
        boot = None
        if trace_modules:
            boot = workdir / _BOOT_DIR
            boot.mkdir(exist_ok=True)
            (boot / CHILD_MODULE).write_text(CHILD_SOURCE, encoding="utf-8")
        cpu = cpu_seconds if cpu_seconds is not None else 2 * timeout * max(1, threads)
        return _run(
            workdir, entry, timeout=timeout, memory_mb=memory_mb, cpu_seconds=cpu,
            file_mb=file_mb, threads=threads, tail_chars=tail_chars,
            require=require_network_isolation, boot=boot,
        )
    finally:
        _remove_tree(workdir)


def error_line_of(stderr: str) -> str | None:
    """The last line of the last traceback in `stderr` (first line of a multi-line message).

    Falls back to the last line shaped like an exception (a SyntaxError in the entry file has
    no "Traceback" header), then to None.
    """
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if line.strip() and not line[0].isspace():
                return line.strip()
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line.strip()):
            return line.strip()
    return None


def _check_paths(files: Mapping[str, str], entry: str) -> None:
    for rel in files:
        path = PurePosixPath(rel)
        if not rel or "\\" in rel or path.is_absolute() or ".." in path.parts:
            raise InputError(f"generated file path {rel!r} must be relative and stay inside "
                             "the generated tree")
    if entry not in files:
        raise InputError(f"entry point {entry!r} is not among the generated files "
                         f"({', '.join(sorted(files)) or 'none'})")


def _run(
    workdir: Path, entry: str, *, timeout: float, memory_mb: int, cpu_seconds: float,
    file_mb: int, threads: int, tail_chars: int, require: bool, boot: Path | None,
) -> SmokeResult:
    status_r, status_w = os.pipe()
    cpu = max(1, math.ceil(cpu_seconds))
    limits = [
        ("RLIMIT_DATA", memory_mb << 20, memory_mb << 20),
        ("RLIMIT_CPU", cpu, cpu + 1),  # SIGXCPU at the soft limit names the cause
        ("RLIMIT_FSIZE", file_mb << 20, file_mb << 20),
        ("RLIMIT_CORE", 0, 0),
    ]
    config = {
        "parent": os.getpid(),
        "isolate": True,
        "require": require,
        "attempts": list(_NAMESPACE_ATTEMPTS),
        "status_fd": status_w,
        "refused_exit": _REFUSED_EXIT,
        "limits": limits,
        "argv": [sys.executable, "-s", "-B", "-X", "faulthandler", entry],
    }
    env = sandbox_environment(workdir, threads=threads)
    if boot is not None:
        env["PYTHONPATH"] = str(boot)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _LAUNCHER, json.dumps(config)],
            cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, pass_fds=(status_w,),
        )
    except BaseException:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
    tails = _Tails(tail_chars)
    try:
        timed_out = _pump(proc, tails, status_r, start + timeout)
    except BaseException:
        _kill_group(proc.pid)  # before reaping: the group id cannot have been reused yet
        proc.wait()
        raise
    finally:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        os.close(status_r)
    returncode = proc.wait()
    seconds = round(time.monotonic() - start, 3)

    status = tails.text("status")
    isolated = status in {name for _, name in _NAMESPACE_ATTEMPTS}
    if require and returncode == _REFUSED_EXIT and status.startswith("none"):
        raise ConfigError("the sandbox needs a network namespace and none is available here "
                          f"({status.removeprefix('none:')}): run as root or enable "
                          "unprivileged user namespaces")
    if not isolated:
        log.warning("sandbox: no network namespace available (%s); the generated code runs "
                    "with the network reachable", status.removeprefix("none:") or "no status")

    stdout, (stderr, trace) = tails.text("stdout"), take_trace(tails.text("stderr"))
    killed, error = _outcome(returncode, stderr, timed_out, timeout, memory_mb)
    return SmokeResult(
        ok=returncode == 0 and killed is None, seconds=seconds, returncode=returncode,
        stdout_tail=stdout, stderr_tail=stderr, error_line=error, killed_reason=killed,
        network_isolated=isolated, trace=trace if killed is None else None,
    )


class _Tails:
    """The last `limit` characters of each stream, held as bytes while the child runs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data: dict[str, bytearray] = {}
        self.cut: dict[str, int] = {}

    def add(self, name: str, chunk: bytes) -> None:
        buf = self.data.setdefault(name, bytearray())
        buf += chunk
        keep = self.limit * 4 + 4096  # UTF-8 needs at most 4 bytes a character
        if len(buf) > 2 * keep:
            self.cut[name] = self.cut.get(name, 0) + len(buf) - keep
            del buf[:-keep]

    def text(self, name: str) -> str:
        raw = bytes(self.data.get(name, b""))
        text = raw.decode("utf-8", errors="replace")
        cut = self.cut.get(name, 0) > 0 or len(text) > self.limit
        return f"[... earlier output cut]\n{text[-self.limit:]}" if cut else text


def _pump(proc: subprocess.Popen[bytes], tails: _Tails, status_fd: int, deadline: float) -> bool:
    """Read the pipes until the child is gone; kill its group at the deadline.

    Returns True when the wall-clock limit killed it. Once the child has exited (or been
    killed), its group is killed too (leftover background processes) and the pipes get a
    short grace to deliver what they hold.
    """
    assert proc.stdout is not None and proc.stderr is not None
    timed_out = False
    stop_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        selector.register(status_fd, selectors.EVENT_READ, "status")
        while True:
            now = time.monotonic()
            if stop_at is None:
                timed_out = now >= deadline
                if timed_out or _has_exited(proc.pid):
                    _kill_group(proc.pid)
                    stop_at = now + _GRACE
            if stop_at is not None and (now >= stop_at or not selector.get_map()):
                return timed_out
            until = stop_at if stop_at is not None else deadline
            for key, _ in selector.select(max(0.0, min(_POLL, until - now))):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    tails.add(key.data, chunk)
                else:
                    selector.unregister(key.fileobj)


def _has_exited(pid: int) -> bool:
    """Exited but not reaped (WNOWAIT), so its pid, the group id, cannot be reused yet."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _outcome(
    returncode: int, stderr: str, timed_out: bool, timeout: float, memory_mb: int
) -> tuple[KilledReason | None, str | None]:
    """Which limit stopped the child, if any, and the one line that says what went wrong."""
    if timed_out:
        return "timeout", f"killed: still running at the {timeout:g} s wall-clock limit"
    if returncode == 0:
        return None, None
    line = error_line_of(stderr)
    if returncode == -signal.SIGXCPU:
        return "cpu", "killed: CPU time limit reached"
    if returncode == -signal.SIGXFSZ or _FILE_TOO_LARGE.search(line or ""):
        return "file-size", f"{line or 'killed'} (file size limit reached)"
    if _MEMORY_ERROR.search(line or "") or _MEMORY_ERROR.search(stderr[-2000:]):
        return "memory", f"{line or 'MemoryError'} (memory limit {memory_mb} MB reached)"
    if returncode < 0:
        name = _signal_name(-returncode)
        return "signal", line or f"killed by {name}"
    if line is None:
        last = [s.strip() for s in stderr.splitlines() if s.strip()]
        line = last[-1] if last else f"exited with status {returncode}"
    return None, line


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _remove_tree(path: Path) -> None:
    """Remove the work directory even where the child made parts of it read-only."""

    def make_writable(func: Callable[..., Any], target: str, exc: Any) -> None:
        try:
            parent = os.path.dirname(target)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            os.chmod(target, os.stat(target).st_mode | stat.S_IRWXU)
            func(target)
        except OSError as error:
            if error.errno != errno.ENOENT:
                log.warning("sandbox: could not remove %s: %s", target, error)

    shutil.rmtree(path, onerror=make_writable)
