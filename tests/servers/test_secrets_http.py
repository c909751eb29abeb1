"""Keys never reach logs, errors, results or checkpoints, even when a server echoes them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.models.retry import ModelCallError
from chunkwise.models.settings import ModelSettings
from tests.models.clients import make_client

from . import fake_bedrock as br
from . import fake_openai as oa
from .conftest import AWS_SECRET, AWS_SESSION, BEDROCK_SPEC, OPENAI_KEY, OPENAI_SPEC
from .fake_bedrock import FakeBedrock
from .fake_openai import FakeOpenAI
from .test_paper2code_http import paper_reply, secrets_in, write_paper

SECRETS = (OPENAI_KEY, AWS_SECRET, AWS_SESSION)


def test_sdk_debug_logs_carry_no_secret(
    openai_server: FakeOpenAI, bedrock_server: FakeBedrock, fast: ModelSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At DEBUG botocore logs the signed request with the session token; the seam's filter on
    the SDK loggers rewrites those records before any handler sees them."""
    openai_server.script(oa.unauthorized(OPENAI_KEY))
    bedrock_server.script(br.access_denied())
    with caplog.at_level(logging.DEBUG):
        for spec in (OPENAI_SPEC, BEDROCK_SPEC):
            client = make_client(spec, fast)
            with pytest.raises(ModelCallError):
                client.complete("hello", task="t")
            client.complete("hello", task="t")
    assert "x-amz-security-token" in caplog.text.lower()  # botocore did log the header...
    for secret in SECRETS:
        assert secret not in caplog.text  # ...but not its value


def test_a_key_echoed_by_the_server_stays_out_of_results_and_checkpoints(
    openai_server: FakeOpenAI, fast: ModelSettings, tmp_path: Path
) -> None:
    openai_server.reply = paper_reply
    openai_server.fault_for = lambda r: (
        oa.unauthorized(OPENAI_KEY) if "Recommended dataset:" in json.dumps(r.body) else None
    )
    db = tmp_path / "runs" / "runs.sqlite"
    result = ChunkedPyTorchGenerator(
        num_chunks=2, chunk_model=OPENAI_SPEC, code_model=OPENAI_SPEC, model_settings=fast,
        checkpoint_db=str(db),
    ).generate_code_for_paper(path=str(write_paper(tmp_path)), run_id="leak-check")
    assert not result["success"]
    assert "auth (HTTP 401)" in result["error"] and "Incorrect API key provided: ***" in (
        result["error"])
    assert OPENAI_KEY not in json.dumps(result)
    assert secrets_in(db.parent) == []
