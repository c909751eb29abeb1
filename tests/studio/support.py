"""A real `langgraph dev` server for the tests, and a model server every graph can run against.

The server is the one a Studio user starts (`langgraph dev`, in-memory runtime, no
`--allow-blocking`), on a free loopback port, with its own `CHUNKWISE_HOME`; it is always
stopped, its whole process group killed. The fake OpenAI server answers any pipeline's prompt:
structured calls with the smallest object their JSON schema accepts, text calls with a few
plain sentences, so every graph runs to its end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.servers.base import Reply, Request

REPO = Path(__file__).resolve().parents[2]
SENTENCES = (
    "The gated mixer combines a causal convolution with a gated feed-forward block. "
    "It was trained on news headlines and product reviews. "
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def schema_instance(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """The smallest value `schema` accepts (enough items, positive numbers, `true`)."""
    defs = {**(defs or {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        return schema_instance(defs[schema["$ref"].split("/")[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return schema_instance(schema[key][0], defs)
    kind = schema.get("type")
    if kind == "object":
        return {name: schema_instance(sub, defs) for name, sub in schema["properties"].items()
                if name in schema.get("required", ())}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), defs)
                for _ in range(max(1, int(schema.get("minItems", 1))))]
    if kind == "integer":
        return max(3, int(schema.get("minimum", schema.get("exclusiveMinimum", 0))) + 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return "gated mixer"


def any_pipeline_reply(request: Request) -> Reply | dict[str, Any]:
    if request.structured and request.schema:
        return schema_instance(request.schema)
    return Reply(SENTENCES * 3, input_tokens=50, output_tokens=40)


@contextlib.contextmanager
def langgraph_dev(home: Path) -> Iterator[str]:
    """Start `langgraph dev` on a free port; yield its URL; always stop it."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CHUNKWISE_HOME": str(home / "chunkwise"),
        "PYTHONPATH": str(REPO),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "AWS_CONFIG_FILE": str(home / "none"),
    }
    cli = Path(sys.executable).with_name("langgraph")
    log = (home / "langgraph-dev.log").open("w")
    proc = subprocess.Popen(
        [str(cli), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                tail = (home / "langgraph-dev.log").read_text()[-2000:]
                raise RuntimeError(f"langgraph dev exited: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("langgraph dev did not start within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
