"""paper2code end to end over real HTTP: the chunk and code models are the fake OpenAI or
Bedrock server, reached through the real adapters built from spec strings.

The server answers by what each prompt is (a part summary, the merged notes, the structured
dataset pick, the code), a throttling error is injected, and the tests assert the result, the
requests the server saw, the usage the run reports and that no key reached the checkpoints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.models.settings import ModelSettings

from . import fake_bedrock as br
from . import fake_openai as oa
from .base import Reply, Request, ScriptedServer
from .conftest import AWS_SECRET, AWS_SESSION, BEDROCK_SPEC, OPENAI_KEY, OPENAI_SPEC

CODE = "```python\nimport torch\n\n\nif __name__ == '__main__':\n    print(torch.zeros(1))\n```"
PART = re.compile(r"This is part (\d+) of (\d+)")

PAPER = "# Tiny Mixers\n\n## Abstract\n\n{abstract}\n\n## Method\n\n{method}\n\n" \
        "## Experiments\n\n{experiments}\n"


def write_paper(folder: Path) -> Path:
    sentence = "The mixer gates token features with a learned sigmoid and a causal convolution. "
    paper = folder / "tiny.md"
    paper.write_text(
        PAPER.format(abstract=sentence * 30, method=sentence * 60, experiments=sentence * 40),
        "utf-8",
    )
    return paper


def paper_reply(request: Request) -> Reply | str | dict[str, object]:
    if request.structured:
        return {
            "task": "text classification",
            "recommended_dataset": "ag_news",
            "candidates": [{"name": "ag_news", "why": "headlines", "source": "hf"}],
        }
    if match := PART.search(request.text):
        return Reply(f"## Key ideas\nNotes on part {match.group(1)}.", input_tokens=200,
                     output_tokens=10)
    if "Recommended dataset:" in request.text:
        return Reply(CODE, input_tokens=150, output_tokens=30)
    return Reply("## Key ideas\nMerged notes.", input_tokens=100, output_tokens=5)


def kinds(server: ScriptedServer) -> dict[str, int]:
    """Requests per prompt kind, as the server saw them (failed attempts included)."""
    counts: dict[str, int] = {}
    for call in server.requests:
        text = json.dumps(call.body)
        kind = (
            "datasets" if ("toolConfig" in text or '"tools"' in text) else
            "summary" if PART.search(text) else
            "code" if "Recommended dataset:" in text else "merge"
        )
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def secrets_in(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{s} in {path.name}" for s in (OPENAI_KEY, AWS_SECRET, AWS_SESSION)
                      if s.encode() in data]
    return found


CASES = {
    "openai": ("openai_server", OPENAI_SPEC, oa.rate_limited(retry_after=0.05)),
    "bedrock": ("bedrock_server", BEDROCK_SPEC, br.throttled(400)),
}


@pytest.mark.parametrize("backend", sorted(CASES))
def test_paper2code_end_to_end_with_a_throttled_request(
    backend: str, request: pytest.FixtureRequest, fast: ModelSettings, tmp_path: Path
) -> None:
    fixture, spec, fault = CASES[backend]
    server: ScriptedServer = request.getfixturevalue(fixture)
    server.reply = paper_reply
    server.script(fault)
    db = tmp_path / "runs" / "runs.sqlite"
    result = ChunkedPyTorchGenerator(
        num_chunks=3, chunk_model=spec, code_model=spec, model_settings=fast,
        checkpoint_db=str(db), concurrency=3,
    ).generate_code_for_paper(path=str(write_paper(tmp_path)), run_id=f"http-{backend}")

    assert result["success"], result.get("error")
    assert result["num_chunks"] == result["successful_chunks"] == 3
    assert "import torch" in result["code"] and result["code_syntax_error"] is None
    assert result["recommended_dataset"] == "ag_news"
    assert result["chunk_model"] == result["model_used"] == spec

    # what the server saw: 3 summaries, 1 dataset pick, 1 code file, plus the throttled attempt
    seen = kinds(server)
    assert server.count == 6
    assert seen.get("datasets") == 1 and seen.get("code") == 1 and "merge" not in seen
    assert seen.get("summary") == 4 and server.requests[0].status in (400, 429)
    assert sum(1 for r in server.requests if r.status == 200) == 5

    usage = result["usage"]
    assert usage["calls"] == 5 and usage["retries"] == 1
    answered = [r for r in server.requests if r.status == 200]
    assert len(answered) == 5
    assert usage["input_tokens"] >= 3 * 200 + 150  # the server's counts, summed by the run
    assert usage["output_tokens"] >= 3 * 10 + 30
    if backend == "bedrock":
        assert usage["cost_usd"] is not None and usage["unpriced_calls"] == 0
    else:
        assert usage["cost_usd"] is None and usage["unpriced_calls"] == 5

    # no key in the checkpoints, the blob store or the result
    assert secrets_in(db.parent) == []
    assert not any(s in json.dumps(result) for s in (OPENAI_KEY, AWS_SECRET, AWS_SESSION))


def test_a_chunk_past_the_context_window_fails_alone_with_the_provider_message(
    openai_server: ScriptedServer, fast: ModelSettings, tmp_path: Path
) -> None:
    openai_server.reply = paper_reply
    openai_server.script(oa.context_length())
    result = ChunkedPyTorchGenerator(
        num_chunks=3, chunk_model=OPENAI_SPEC, code_model=OPENAI_SPEC, model_settings=fast,
        checkpoint_db=str(tmp_path / "runs.sqlite"), concurrency=1,
    ).generate_code_for_paper(path=str(write_paper(tmp_path)))
    assert result["success"], result.get("error")
    assert result["successful_chunks"] == 2
    [failed] = [c for c in result["chunk_results"] if not c["success"]]
    assert "context length (HTTP 400)" in failed["error"]
    assert "maximum context length is 8192" in failed["error"]
    assert OPENAI_KEY not in failed["error"]
    assert kinds(openai_server)["summary"] == 3  # the failed chunk was not retried


def test_a_run_whose_code_call_keeps_failing_stops_within_the_attempt_bound(
    bedrock_server: ScriptedServer, fast: ModelSettings, tmp_path: Path
) -> None:
    """Summaries and the dataset pick succeed; the code call meets an outage: exactly
    `max_attempts` (4) requests, then one clear failure; no SDK or LangGraph retries on top."""
    bedrock_server.reply = paper_reply
    bedrock_server.fault_for = lambda r: (
        br.server_error(500) if "Recommended dataset:" in json.dumps(r.body) else None
    )
    result = ChunkedPyTorchGenerator(
        num_chunks=3, chunk_model=BEDROCK_SPEC, code_model=BEDROCK_SPEC, model_settings=fast,
        checkpoint_db=str(tmp_path / "runs.sqlite"), concurrency=3,
    ).generate_code_for_paper(path=str(write_paper(tmp_path)))
    assert not result["success"]
    assert "InternalServerException" in result["error"] and "after 4 attempts" in result["error"]
    assert kinds(bedrock_server) == {"summary": 3, "datasets": 1, "code": 4}
    assert AWS_SECRET not in result["error"]


def _summary_caps(server: ScriptedServer) -> list[object]:
    caps = []
    for call in server.requests:
        if PART.search(json.dumps(call.body)):
            body = call.body
            caps.append(body.get("max_tokens") or body.get("max_completion_tokens")
                        or (body.get("inferenceConfig") or {}).get("maxTokens"))
    return caps


@pytest.mark.parametrize("protocol", ["openai", "bedrock"])
def test_summary_requests_carry_the_per_call_token_cap(
    protocol: str, tmp_path: Path, openai_server: ScriptedServer,
    bedrock_server: ScriptedServer, fast: ModelSettings,
) -> None:
    server = openai_server if protocol == "openai" else bedrock_server
    spec = OPENAI_SPEC if protocol == "openai" else BEDROCK_SPEC
    server.reply = paper_reply
    result = ChunkedPyTorchGenerator(
        chunk_model=spec, code_model=spec, checkpoint_db=str(tmp_path / "runs.sqlite"),
        model_settings=fast,
    ).generate_code_for_paper(path=str(write_paper(tmp_path)))
    assert result["success"], result.get("error")
    caps = _summary_caps(server)
    assert caps and all(isinstance(c, int) and 0 < c <= 4000 for c in caps), caps
