"""The sandbox runs real child processes: limits, no network, no credentials, cleanup."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chunkwise.errors import ConfigError, InputError
from chunkwise.runtime import sandbox
from chunkwise.runtime.sandbox import (
    error_line_of,
    run_sandboxed,
    sandbox_environment,
    validation_available,
)
from tests.conftest import REPO


def run(source: str, **kwargs: Any) -> sandbox.SmokeResult:
    return run_sandboxed({"main.py": textwrap.dedent(source)}, "main.py", **kwargs)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket in the parent: the sandbox must not be able to reach it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


CONNECT = """
    import socket
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", {port}))
        s.sendall(b"hello")
        print("CONNECTED")
    except OSError as exc:
        print("FAILED", type(exc).__name__, exc)
"""


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_correct_code_passes_and_sibling_files_import() -> None:
    files = {
        "main.py": "from helper import greet\nprint(greet('sandbox'))\n",
        "helper.py": "def greet(name):\n    return f'hello {name}'\n",
    }
    result = run_sandboxed(files, "main.py", timeout=60)
    assert result.ok, result.stderr_tail
    assert result.returncode == 0
    assert result.stdout_tail == "hello sandbox\n"
    assert result.error_line is None and result.killed_reason is None


def test_a_runtime_error_gives_the_last_traceback_line() -> None:
    result = run("""
        class Config:
            lr = 0.1

        def train(cfg):
            for epoch in range(cfg.num_epochs):
                pass

        print("starting")
        train(Config())
    """, timeout=60)
    assert not result.ok
    assert result.returncode == 1
    assert result.killed_reason is None
    assert result.error_line == "AttributeError: 'Config' object has no attribute 'num_epochs'"
    assert "starting" in result.stdout_tail
    assert result.stderr_tail.startswith("Traceback (most recent call last):")


def test_a_syntax_error_in_the_entry_file_is_its_error_line() -> None:
    result = run("x = (\n", timeout=60)
    assert not result.ok
    assert result.error_line is not None and result.error_line.startswith("SyntaxError:")


def test_an_endless_loop_is_killed_at_the_wall_clock_limit() -> None:
    result = run("""
        import os
        print("pid", os.getpid(), flush=True)
        while True:
            pass
    """, timeout=3)
    assert not result.ok
    assert result.killed_reason == "timeout"
    assert result.returncode is not None and result.returncode < 0
    assert result.error_line is not None and "wall-clock limit" in result.error_line
    assert "pid" in result.stdout_tail  # output printed before the kill is kept


def test_a_sleeping_child_and_its_children_are_killed_at_the_limit() -> None:
    result = run("""
        import subprocess, time
        child = subprocess.Popen(["sleep", "600"])
        print(child.pid, flush=True)
        time.sleep(600)
    """, timeout=3)
    assert result.killed_reason == "timeout"
    assert_gone(int(result.stdout_tail.split()[0]))


def test_background_processes_are_killed_when_the_entry_exits() -> None:
    result = run("""
        import subprocess
        print(subprocess.Popen(["sleep", "600"]).pid)
    """, timeout=60)
    assert result.ok, result.stderr_tail
    assert_gone(int(result.stdout_tail.strip()))


def assert_gone(pid: int) -> None:
    assert _is_gone(pid), Path(f"/proc/{pid}/status").read_text()


def _is_gone(pid: int) -> bool:
    """Killed: absent, or a zombie waiting for an init that does not reap it."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "Z" in next(x for x in status.read_text().splitlines() if x.startswith("State"))
    except FileNotFoundError:
        return True


def test_the_child_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A parent killed mid-run (no wall-clock kill will come) must not leave the child."""
    pid_file = tmp_path / "pid"
    child_source = (
        "import os, time\n"
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{os.getcwd()}}')\n"
    )
    driver = (
        "from chunkwise.runtime.sandbox import run_sandboxed\n"
        f"run_sandboxed({{'main.py': {child_source + 'time.sleep(600)'!r}}}, 'main.py')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", driver], env=env)
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the sandboxed child never started")
    finally:
        parent.kill()
        parent.wait()
    pid, workdir = pid_file.read_text().split(" ", 1)
    child = int(pid)
    shutil.rmtree(workdir)  # a killed parent cannot remove it (documented)
    for _ in range(100):  # the kernel delivers the death signal asynchronously
        if _is_gone(child):
            break
        time.sleep(0.1)
    assert_gone(child)


def test_cpu_time_is_limited() -> None:
    result = run("while True:\n    pass\n", timeout=120, cpu_seconds=1)
    assert result.killed_reason == "cpu"
    assert not result.ok


def test_unbounded_allocation_is_stopped_by_the_memory_limit() -> None:
    result = run("""
        chunks = []
        while True:
            chunks.append(bytearray(64 << 20))
    """, timeout=120, memory_mb=512)
    assert not result.ok
    assert result.killed_reason == "memory"
    assert result.error_line is not None
    assert result.error_line.startswith("MemoryError") and "512 MB" in result.error_line


def test_a_file_growing_without_bound_is_stopped() -> None:
    result = run("""
        with open("big.bin", "wb") as f:
            while True:
                f.write(b"x" * (1 << 20))
    """, timeout=120, file_mb=8)
    assert result.killed_reason == "file-size"
    assert result.error_line is not None and "file size limit" in result.error_line


def test_the_network_is_unreachable(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = run(CONNECT.format(port=port), timeout=60)
    assert result.network_isolated
    assert result.ok, result.stderr_tail
    assert result.stdout_tail.startswith("FAILED"), result.stdout_tail
    assert connections(listener) == 0


def test_without_a_namespace_it_runs_and_says_so(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The fallback where namespaces are refused; also shows the network test can fail."""
    monkeypatch.setattr(sandbox, "_NAMESPACE_ATTEMPTS", ((0x1, "invalid-flag"),))
    port = listener.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="chunkwise.runtime.sandbox"):
        result = run(CONNECT.format(port=port), timeout=60)
    assert not result.network_isolated
    assert result.stdout_tail.startswith("CONNECTED")
    assert connections(listener) == 1
    assert "no network namespace available" in caplog.text


def test_requiring_isolation_refuses_where_it_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox, "_NAMESPACE_ATTEMPTS", ((0x1, "invalid-flag"),))
    with pytest.raises(ConfigError, match="network namespace"):
        run("open('ran', 'w')\n", timeout=60, require_network_isolation=True)


def test_the_user_namespace_route_isolates_and_files_stay_writable(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route an unprivileged user takes: a user namespace mapping our own ids."""
    clone_newuser_newnet = 0x10000000 | 0x40000000
    monkeypatch.setattr(
        sandbox, "_NAMESPACE_ATTEMPTS",
        ((0x1, "invalid-flag"), (clone_newuser_newnet, "userns")),
    )
    port = listener.getsockname()[1]
    source = textwrap.dedent(CONNECT.format(port=port)) + "open('out.txt', 'w').write('ok')\n"
    result = run_sandboxed({"main.py": source}, "main.py", timeout=60)
    if not result.network_isolated and "userns" not in result.stderr_tail:
        pytest.skip("user namespaces are not available on this machine")
    assert result.network_isolated
    assert result.ok, result.stderr_tail
    assert result.stdout_tail.startswith("FAILED")
    assert connections(listener) == 0


def test_no_credential_reaches_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-test-secret",
        "AWS_ACCESS_KEY_ID": "AKIATESTTESTTEST",
        "LLM_API_KEY": "llm-test-key-value",
        "GITHUB_TOKEN": "ghp_testtoken123456",
        "SERVICE_SECRET": "service-test-secret",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONPATH", "/nonexistent-leak")
    result = run(f"""
        import os, sys
        values = {sorted(secrets.values())!r}
        print("ENV", sorted(os.environ))
        print("VALUE_VISIBLE", any(v in s for v in values for s in os.environ.values()))
        print("KEY_LEN", len(os.environ.get("OPENAI_API_KEY", "")))
        print("LEAKED_PATH", any("nonexistent-leak" in p for p in sys.path))
        print("HOME_IS_CWD", os.environ["HOME"] == os.getcwd())
    """, timeout=60)
    assert result.ok, result.stderr_tail
    out = result.stdout_tail
    for name in secrets:
        assert name not in out
    assert "VALUE_VISIBLE False" in out
    assert "KEY_LEN 0" in out
    assert "LEAKED_PATH False" in out
    assert "HOME_IS_CWD True" in out


def test_the_environment_check_refuses_a_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.setattr(sandbox, "_INHERITED", ("PATH", "OPENAI_API_KEY"))
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY"):
        sandbox_environment(Path("/tmp/unused"))


def test_the_temporary_directory_is_removed_even_when_made_read_only() -> None:
    result = run("""
        import os
        os.makedirs("out/locked")
        open("out/locked/weights.pt", "w").write("x")
        os.chmod("out/locked", 0o500)
        os.chmod("out", 0o500)
        print(os.getcwd())
    """, timeout=60)
    assert result.ok, result.stderr_tail
    workdir = Path(result.stdout_tail.strip())
    assert workdir.name.startswith("chunkwise-sandbox-")
    assert not workdir.exists()


def test_the_temporary_directory_is_removed_after_a_kill() -> None:
    result = run("""
        import os
        print(os.getcwd(), flush=True)
        while True:
            pass
    """, timeout=3)
    assert result.killed_reason == "timeout"
    assert not Path(result.stdout_tail.strip()).exists()


def test_output_is_truncated_to_its_tail() -> None:
    result = run("""
        import sys
        for i in range(20000):
            print("line", i)
        print("x" * 50, file=sys.stderr)
        raise SystemExit("done: last words")
    """, timeout=60, tail_chars=500)
    assert result.stdout_tail.startswith("[... earlier output cut]\n")
    assert result.stdout_tail.endswith("line 19999\n")
    assert len(result.stdout_tail) <= 500 + len("[... earlier output cut]\n")
    assert result.returncode == 1
    assert result.error_line == "done: last words"


def test_bad_paths_and_a_missing_entry_are_refused() -> None:
    with pytest.raises(InputError, match="inside the generated tree"):
        run_sandboxed({"../escape.py": "", "main.py": ""}, "main.py")
    with pytest.raises(InputError, match="inside the generated tree"):
        run_sandboxed({"/etc/x.py": "", "main.py": ""}, "main.py")
    with pytest.raises(InputError, match=r"entry point 'train\.py'"):
        run_sandboxed({"main.py": ""}, "train.py")


def test_an_entry_in_a_subfolder_runs_there() -> None:
    files = {"src/main.py": "import util\nprint(util.X)\n", "src/util.py": "X = 42\n"}
    result = run_sandboxed(files, "src/main.py", timeout=60)
    assert result.ok, result.stderr_tail
    assert result.stdout_tail == "42\n"


def test_runs_from_several_threads_at_once() -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda i: run(f"print({i} * 2)\n", timeout=60), range(3)))
    assert [r.stdout_tail for r in results] == ["0\n", "2\n", "4\n"]


def test_validation_available_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sandbox.find_spec
    monkeypatch.setattr(sandbox, "find_spec", lambda name: None if name == "torch" else real(name))
    message = validation_available()
    assert message is not None and "\n" not in message
    assert "torch" in message and "pip install 'chunkwise[validate]'" in message


def test_validation_available_is_none_when_torch_and_pyflakes_are_installed() -> None:
    if sandbox.find_spec("torch") is None:
        pytest.skip("torch is not installed (the validate extra)")
    assert validation_available() is None


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "Traceback (most recent call last):\n  File \"m.py\", line 1, in <module>\n"
            "    f()\nKeyError: 'x'\n",
            "KeyError: 'x'",
        ),
        (  # chained: the last traceback's exception
            "Traceback (most recent call last):\n  File \"a\"\nValueError: first\n\n"
            "During handling of the above exception, another exception occurred:\n\n"
            "Traceback (most recent call last):\n  File \"b\"\nRuntimeError: second\nline two\n",
            "RuntimeError: second",
        ),
        (
            "  File \"/tmp/m.py\", line 1\n    x = (\n        ^\n"
            "SyntaxError: '(' was never closed\n",
            "SyntaxError: '(' was never closed",
        ),
        (  # the header cut off by truncation
            "[... earlier output cut]\n    return f(x)\ntorch.OutOfMemoryError: too big\n",
            "torch.OutOfMemoryError: too big",
        ),
        ("some warning\n", None),
    ],
)
def test_error_line_of(stderr: str, expected: str | None) -> None:
    assert error_line_of(stderr) == expected


def test_the_child_sees_only_its_own_files() -> None:
    result = run("import os\nprint(sorted(os.listdir('.')))\n", timeout=60)
    assert result.stdout_tail == "['.tmp', 'main.py']\n"
