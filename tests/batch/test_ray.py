"""`chunkwise batch --ray` on a real local Ray with 2 workers.

The 65 speeches give the same rows on Ray as in one process. Through the fake OpenAI server,
the requests counted at the server stay within `--rpm` per window although two worker
processes send them (each worker has half of it), and would not without the split. A worker
process that dies mid-call is restarted and its document finished, with no call paid twice.
"""

from __future__ import annotations

import os
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
