"""`chunkwise batch --ray` on a real local Ray with 2 workers.

The 65 speeches give the same rows on Ray as in one process. Through the fake OpenAI server,
the requests counted at the server stay within `--rpm` per window although two worker
processes send them (each worker has half of it), and would not without the split. A worker
process that dies mid-call is restarted and its document finished, with no call paid twice.
`--ray HOST:PORT` joins a cluster started apart by `ray start --head`, gives the same rows,
and leaves that cluster running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.prompts.rephrase import parse_rewrite_messages
from tests.rephrase.support import echo
from tests.servers.base import Request
from tests.servers.conftest import OPENAI_KEY
from tests.servers.fake_openai import FakeOpenAI
from tests.servers.test_limits_http import max_in_window

from .support import docs, echo_model, identity, rows, run_cli, write_jsonl

ray = pytest.importorskip("ray")


@pytest.fixture(autouse=True)
def ray_torn_down() -> Iterator[None]:
    """The batch starts and stops its local Ray; a failing test must not leave one behind."""
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.timeout(1200)
def test_speeches_on_two_ray_workers_give_the_same_rows(
    tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def argv(out: str, db: str, *more: str) -> list[str]:
        return ["batch", "rephrase", "--input", str(shared / "corpus" / "speeches"),
                "--pattern", "*.txt", "--output", str(tmp_path / out), "--checkpoint-db",
                str(tmp_path / db), "--batch-id", "speeches", "--chunk-tokens", "2048",
                "--concurrency", "4", "--quiet", *more]

    assert run_cli(monkeypatch, argv("local.jsonl", "local.sqlite"), echo_model()) == 0
    assert run_cli(monkeypatch, argv("ray.jsonl", "ray.sqlite", "--ray", "--ray-workers", "2"),
                   echo_model()) == 0
    local, on_ray = rows(tmp_path / "local.jsonl"), rows(tmp_path / "ray.jsonl")
    assert len(local) == 65 and on_ray == local
    assert not ray.is_initialized()  # the batch stopped the Ray it started


def _rewrite(request: Request) -> str:
    """The fake server as an echoing rewriter."""
    return parse_rewrite_messages([HumanMessage(request.last)]).current_chunk


@pytest.mark.timeout(600)
def test_two_ray_workers_share_the_endpoint_rpm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    # Ray's workers inherit this environment when the batch starts the local Ray
    server = FakeOpenAI(_rewrite).start()
    monkeypatch.setenv("LLM_API_KEY", OPENAI_KEY)
    try:
        write_jsonl(tmp_path / "docs.jsonl", docs(8, words=160, prefix=uuid.uuid4().hex[:6]))
        rpm, window = 4, 2.0  # 120 a minute: each worker paced at one a second (no burst)
        argv = ["batch", "rephrase", "--input", str(tmp_path / "docs.jsonl"), "--output",
                str(tmp_path / "out.jsonl"), "--checkpoint-db", postgres_url, "--batch-id",
                f"limits-{uuid.uuid4().hex[:8]}", "--model", "openai:fake-gpt", "--base-url",
                server.base_url, "--rpm", str(rpm * 60 / window), "--burst-seconds", "0.5",
                "--no-cache", "--concurrency", "4", "--ray", "--ray-workers", "2", "--quiet"]
        assert run_cli(monkeypatch, argv) == 0
        out = rows(tmp_path / "out.jsonl")
        assert len(out) == 8 and all(r["status"] == "done" for r in out.values())
        requests = server.calls("/chat/completions")
        assert len(requests) == sum(r["parts"] for r in out.values()) >= 3 * rpm
        # at most rpm in any window, and more than one worker's half: both workers sent
        assert rpm // 2 < max_in_window(requests, window) <= rpm
    finally:
        server.close()


@pytest.mark.timeout(600)
def test_a_worker_that_dies_loses_only_its_document_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = docs(6, words=160)
    write_jsonl(tmp_path / "docs.jsonl", items)
    died, log = tmp_path / "died", tmp_path / "calls.log"

    def rewrite(call: ScriptedCall) -> str:
        if "document 3 " in call.prompt and not died.exists():
            died.touch()
            os._exit(1)  # the worker process dies in the middle of a call
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(identity(call) + "\n")
        return echo(call)

    model = ScriptedChatModel(responders={"rewrite": rewrite}, model_name=uuid.uuid4().hex)
    argv = ["batch", "rephrase", "--input", str(tmp_path / "docs.jsonl"), "--output",
            str(tmp_path / "out.jsonl"), "--checkpoint-db", str(tmp_path / "runs.sqlite"),
            "--batch-id", "b", "--chunk-tokens", "256", "--concurrency", "2", "--ray",
            "--ray-workers", "2", "--quiet"]
    assert run_cli(monkeypatch, argv, model) == 0
    assert died.exists()
    out = rows(tmp_path / "out.jsonl")
    assert len(out) == 6 and all(r["status"] == "done" for r in out.values())
    assert {r["id"]: " ".join(r["output"].split()) for r in out.values()} == {
        i["id"]: i["text"] for i in items
    }
    # Ray restarted the worker and sent document 3 again; it resumed from its checkpoint, and
    # the one call lost with the worker was never answered: no answered call was paid twice
    calls = log.read_text().split()
    assert len(calls) == len(set(calls)) == sum(r["parts"] for r in out.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """A Ray head started the way a user starts one (`ray start --head`), on 127.0.0.1, with
    token authentication and the provider key in its environment (its workers call the
    model), in its own process group so that stopping it stops nothing else here.
    Gives its address, its token and its process."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    token = uuid.uuid4().hex + uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]),
           "CHUNKWISE_HOME": str(tmp_path / "cluster-home"), "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": token, "LLM_API_KEY": OPENAI_KEY}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--num-cpus", "2", "--include-dashboard=false",
         "--disable-usage-stats", "--temp-dir", temp],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "head.log").open("wb"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        assert head.poll() is None, (tmp_path / "head.log").read_text(errors="replace")[-2000:]
        yield f"127.0.0.1:{port}", token, head
    finally:
        head.terminate()  # drains, then stops the processes it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # anything it left behind
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()


@pytest.mark.timeout(900)
def test_a_batch_joins_a_running_cluster_and_leaves_it_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str,
    ray_cluster: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    address, token, head = ray_cluster
    server = FakeOpenAI(_rewrite).start()
    try:
        write_jsonl(tmp_path / "docs.jsonl", docs(6, words=160, prefix=uuid.uuid4().hex[:6]))

        def argv(out: str, db: str, *more: str) -> list[str]:
            return ["batch", "rephrase", "--input", str(tmp_path / "docs.jsonl"), "--output",
                    str(tmp_path / out), "--checkpoint-db", db, "--batch-id",
                    f"join-{uuid.uuid4().hex[:8]}", "--model", "openai:fake-gpt", "--base-url",
                    server.base_url, "--chunk-tokens", "256", "--concurrency", "4",
                    "--no-cache", "--quiet", *more]

        monkeypatch.setenv("LLM_API_KEY", OPENAI_KEY)
        assert run_cli(monkeypatch, argv("local.jsonl", str(tmp_path / "local.sqlite"))) == 0

        # the user's shell on another machine: the CLI in its own process, no provider key
        # (the cluster's workers hold it), the cluster's token
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RAY_") and k != "LLM_API_KEY"}
        env["RAY_AUTH_TOKEN"] = token
        joined = argv("joined.jsonl", postgres_url, "--ray", address, "--ray-workers", "2")

        def cli(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "chunkwise.cli", *joined],
                                  env={**env, **extra_env}, capture_output=True, text=True,
                                  timeout=600)

        refused = cli({})  # token auth not asked for: Ray refuses, one line says what to do
        assert refused.returncode == 2, refused.stderr[-2000:]
        error = [line for line in refused.stderr.splitlines() if line.startswith("chunkwise:")]
        assert len(error) == 1 and "RAY_AUTH_MODE=token" in error[0], refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr

        done = cli({"RAY_AUTH_MODE": "token"})
        assert done.returncode == 0, done.stderr[-3000:]
        local, on_ray = rows(tmp_path / "local.jsonl"), rows(tmp_path / "joined.jsonl")
        assert len(local) == 6 and all(r["status"] == "done" for r in on_ray.values())
        assert {r["id"]: r["output"] for r in on_ray.values()} == {
            r["id"]: r["output"] for r in local.values()
        }
        # the batch left the cluster it joined running
        assert head.poll() is None
        socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=5).close()
    finally:
        server.close()
