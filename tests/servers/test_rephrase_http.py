"""rephrase end to end over real HTTP: the rewriter is the fake server, answering each rewrite
prompt with its own text to rewrite (an echo), so the output must equal the input exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from chunkwise.api.rephrase import ChunkWiseRephrasePipeline, PipelineConfig
from chunkwise.models.settings import ModelSettings
from chunkwise.prompts.rephrase import parse_rewrite_messages

from . import fake_bedrock as br
from . import fake_openai as oa
from .base import Fault, Reply, Request, ScriptedServer
from .conftest import BEDROCK_SPEC, OPENAI_SPEC


def echo(request: Request) -> Reply:
    chunk = parse_rewrite_messages([HumanMessage(request.last)]).current_chunk
    return Reply(chunk, input_tokens=len(request.text.split()), output_tokens=len(chunk.split()))


CASES: dict[str, tuple[str, str, Fault]] = {
    "openai": ("openai_server", OPENAI_SPEC, oa.rate_limited(retry_after_ms=20)),
    "bedrock": ("bedrock_server", BEDROCK_SPEC, br.throttled(429)),
}


@pytest.mark.parametrize("backend", sorted(CASES))
def test_rephrase_echo_over_http_reproduces_the_text(
    backend: str, request: pytest.FixtureRequest, fast: ModelSettings, tmp_path: Path
) -> None:
    fixture, spec, fault = CASES[backend]
    server: ScriptedServer = request.getfixturevalue(fixture)
    server.reply = echo
    server.script(fault)
    text = "\n\n".join(
        f"Paragraph {i}. " + "The quick brown fox jumps over the lazy dog. " * 12
        for i in range(6)
    )
    pipeline = ChunkWiseRephrasePipeline(
        model=spec, tokenizer="whitespace", model_settings=fast,
        config=PipelineConfig(chunk_tokens=120, overlap_tokens=20, prefix_window_tokens=200),
        checkpoint_db=str(tmp_path / "runs.sqlite"),
    )
    out = pipeline.run(text, "Rewrite for clarity.")
    assert out == text
    answered = [r for r in server.requests if r.status == 200]
    assert server.requests[0].status == 429 and server.count == len(answered) + 1
    assert len(answered) >= 4  # several parts, one request each
