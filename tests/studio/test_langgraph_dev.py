"""The three graphs under a real `langgraph dev` server, driven through `langgraph_sdk`.

What a Studio user does: list the graphs, read their input and context forms, run each one with
the model settings typed into the context form (plain JSON, nested settings included), watch
progress events stream, and read a readable error when a setting is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chunkwise.graphs import generate, paper2code, rephrase
from tests.servers.fake_openai import FakeOpenAI

from .support import REPO, any_pipeline_reply, langgraph_dev

langgraph_sdk = pytest.importorskip("langgraph_sdk", reason="needs the [studio] extra")
pytest.importorskip("langgraph_api", reason="needs the [studio] extra")

PIPELINES = {p.name: p for p in (paper2code.PIPELINE, rephrase.PIPELINE, generate.PIPELINE)}
PAPER = (REPO / "examples" / "gated_mixer_paper.md").read_text("utf-8")
TEXT = ("In 1950 the committee met in Geneva. It agreed on three rules for the treaty. "
        "Each rule was written by a different delegation.\n\n") * 12
RUNS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "paper2code": ({"paper_text": PAPER}, ("chunk_model", "code_model")),
    "rephrase": ({"text": TEXT, "style": "simpler"}, ("rewriter_model",)),
    "generate": ({"topic": "Gated token mixers", "objective": "explain them to engineers",
                  "target_words": 150}, ("planner_model", "writer_model", "judge_model")),
}


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(any_pipeline_reply).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with langgraph_dev(tmp_path_factory.mktemp("studio")) as url:
        yield langgraph_sdk.get_sync_client(url=url)


def _assistants(client: Any) -> dict[str, dict[str, Any]]:
    return {a["graph_id"]: a for a in client.assistants.search(limit=20)}


def test_serves_the_three_graphs_with_their_descriptions(client: Any) -> None:
    assistants = _assistants(client)
    assert set(assistants) == set(PIPELINES)
    for name, pipeline in PIPELINES.items():
        assert assistants[name]["description"] == pipeline.description


@pytest.mark.parametrize("name", list(PIPELINES))
def test_input_and_context_forms(client: Any, name: str) -> None:
    schemas = client.assistants.get_schemas(_assistants(client)[name]["assistant_id"])
    local = PIPELINES[name].compile()
    assert set(schemas["input_schema"]["properties"]) == set(
        local.get_input_jsonschema()["properties"])
    assert set(schemas["output_schema"]["properties"]) == {"result"}
    context = schemas["context_schema"]["properties"]
    assert {"models", "blob_store", *RUNS[name][1]} <= set(context)


@pytest.mark.parametrize("name", list(PIPELINES))
def test_runs_to_the_end_with_json_context_and_streams_progress(
    client: Any, model_server: FakeOpenAI, name: str
) -> None:
    payload, roles = RUNS[name]
    context = {role: "openai:fake-model" for role in roles}
    context["models"] = {"base_url": model_server.base_url, "temperature": 0, "timeout": 30}
    before = model_server.count
    thread = client.threads.create()
    events, values = [], {}
    for part in client.runs.stream(thread["thread_id"], _assistants(client)[name]["assistant_id"],
                                   input=payload, context=context,
                                   stream_mode=["custom", "values"]):
        if part.event == "custom":
            events.append(part.data)
        elif part.event == "values":
            values = part.data
        assert part.event != "error", part.data
    result = values["result"]
    assert result["success"], result
    assert model_server.count > before  # the models in the JSON context were used
    assert any(e.get("event") == "stage" for e in events), events[:5]
    assert any(e.get("event") == "unit_done" for e in events), events[:5]


def test_a_bad_setting_fails_the_run_with_a_message_naming_it(client: Any) -> None:
    thread = client.threads.create()
    parts = list(client.runs.stream(
        thread["thread_id"], _assistants(client)["rephrase"]["assistant_id"],
        input={"text": TEXT}, context={"models": {"temprature": 0.2}},
    ))
    errors = [p.data for p in parts if p.event == "error"]
    assert errors, [p.event for p in parts]
    assert "context.models: unknown setting 'temprature'" in str(errors[0])


def test_a_run_without_a_usable_model_says_why(client: Any, tmp_path: Path) -> None:
    thread = client.threads.create()
    parts = list(client.runs.stream(
        thread["thread_id"], _assistants(client)["rephrase"]["assistant_id"],
        input={"text": TEXT}, context={"rewriter_model": "openai:gpt-4o-mini"},
    ))
    errors = [p.data for p in parts if p.event == "error"]
    assert errors and "no API key for openai:gpt-4o-mini" in str(errors[0]), errors
    assert "internal error" not in str(errors[0])
