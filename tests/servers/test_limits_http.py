"""The endpoint's shared limiter, measured at the server while LangGraph fans out branches.

Each test fans out N `Send` branches; every branch asks the run context for its role's client
(as pipeline nodes do) and makes one call. The server timestamps arrivals and tracks requests
in flight. Windows are small (`rate_window`), and the assertions are bounds and counts, not
durations: at most `rpm` arrivals in any window, at most `tpm` reported tokens per window, at
most `max_in_flight` at once, arrivals at least `min_interval` apart.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import TypedDict

from chunkwise.models.settings import ModelSettings, chunk_processing_delay
from chunkwise.state.context import BaseContext

from . import fake_bedrock as br
from . import fake_openai as oa
from .base import Recorded, Reply, ScriptedServer
from .conftest import BEDROCK_SPEC, OPENAI_SPEC
from .fake_bedrock import FakeBedrock
from .fake_openai import FakeOpenAI

SLACK = 0.05  # seconds: client start -> server arrival jitter allowed in window checks


@dataclass(kw_only=True)
class Ctx(BaseContext):
    spec: str = OPENAI_SPEC


class State(TypedDict, total=False):
    n: int
    texts: Annotated[list[str], operator.add]


class Branch(TypedDict):
    i: int


def _fan_out(state: State) -> list[Send]:
    return [Send("call", {"i": i}) for i in range(state["n"])]


def _call(state: Branch, runtime: Runtime[Ctx]) -> State:
    role = "chunk" if state["i"] % 2 else "code"  # two roles, one endpoint, one limiter
    client = runtime.context.client(role, runtime.context.spec)
    return {"texts": [client.complete(f"branch {state['i']} says hi", task="limit").text]}


def warm_up(fake: ScriptedServer, spec: str, settings: ModelSettings) -> None:
    """One unmeasured call (imports, model build, connection pool), then a clean slate."""
    from chunkwise.models.limiter import reset_limiters
    from tests.models.clients import make_client

    make_client(spec, settings).complete("warm up", task="warm-up")
    reset_limiters()
    fake.reset()


def run_fan_out(n: int, spec: str, settings: ModelSettings) -> list[str]:
    builder = StateGraph(State, context_schema=Ctx)
    builder.add_node("call", _call)
    builder.add_conditional_edges(START, _fan_out, ["call"])
    builder.add_edge("call", END)
    context = Ctx(models=settings, blob_store=":memory:", spec=spec)
    out = builder.compile().invoke({"n": n, "texts": []}, context=context)
    return list(out["texts"])


def max_in_window(requests: Sequence[Recorded], window: float) -> int:
    starts = sorted(r.started for r in requests)
    return max(
        sum(1 for t in starts[i:] if t < s + window - SLACK) for i, s in enumerate(starts)
    )


def max_tokens_in_window(requests: Sequence[Recorded], tokens: int, window: float) -> int:
    starts = sorted(r.started for r in requests)
    return max(
        tokens * sum(1 for t in starts[i:] if t < s + window - SLACK) for i, s in enumerate(starts)
    )


@pytest.fixture(params=["openai", "bedrock"])
def server(request: pytest.FixtureRequest, fast: ModelSettings) -> tuple[ScriptedServer, str]:
    if request.param == "openai":
        fake, spec = request.getfixturevalue("openai_server"), OPENAI_SPEC
    else:
        fake, spec = request.getfixturevalue("bedrock_server"), BEDROCK_SPEC
    warm_up(fake, spec, fast)
    return fake, spec


@pytest.fixture
def openai(openai_server: FakeOpenAI, fast: ModelSettings) -> FakeOpenAI:
    warm_up(openai_server, OPENAI_SPEC, fast)
    return openai_server


@pytest.fixture
def bedrock(bedrock_server: FakeBedrock, fast: ModelSettings) -> FakeBedrock:
    warm_up(bedrock_server, BEDROCK_SPEC, fast)
    return bedrock_server


def test_requests_per_window_stay_within_rpm(
    server: tuple[ScriptedServer, str], fast: ModelSettings
) -> None:
    fake, spec = server
    window = 0.5
    texts = run_fan_out(9, spec, fast.with_(rpm=3, rate_window=window))
    assert len(texts) == 9 and fake.count == 9
    assert max_in_window(fake.requests, window) <= 3
    starts = sorted(r.started for r in fake.requests)
    assert starts[3] - starts[0] >= window - SLACK  # the 4th waited for the 1st to leave
    assert starts[6] - starts[3] >= window - SLACK


def test_unlimited_control_run_bursts(openai: FakeOpenAI, fast: ModelSettings) -> None:
    """Without limits the same fan-out does exceed the bounds asserted elsewhere."""
    openai.latency = 0.15
    run_fan_out(8, OPENAI_SPEC, fast)
    assert openai.max_in_flight >= 3
    assert max_in_window(openai.requests, 0.4) > 3


def test_calls_in_flight_stay_within_max_in_flight(
    server: tuple[ScriptedServer, str], fast: ModelSettings
) -> None:
    fake, spec = server
    fake.latency = 0.1
    texts = run_fan_out(8, spec, fast.with_(max_in_flight=2))
    assert len(texts) == 8
    assert fake.max_in_flight <= 2
    assert fake.count == 8


def test_tokens_per_window_stay_within_tpm(
    server: tuple[ScriptedServer, str], fast: ModelSettings
) -> None:
    """Bedrock throttles on tokens: 100-token calls under tpm=250 go at most 2 per window."""
    fake, spec = server
    fake.reply = lambda r: Reply("fine", input_tokens=90, output_tokens=10)
    window = 0.4
    # booked before each call: prompt estimate (~12) + max_new_tokens (100); settled to 100 after
    settings = fast.with_(tpm=250, max_new_tokens=100, rate_window=window)
    run_fan_out(6, spec, settings)
    assert fake.count == 6
    assert max_tokens_in_window(fake.requests, 100, window) <= 250
    starts = sorted(r.started for r in fake.requests)
    assert starts[2] - starts[0] >= window - SLACK


def test_chunk_processing_delay_spaces_request_starts(
    openai: FakeOpenAI, fast: ModelSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUNK_PROCESSING_DELAY", "0.1")
    settings = fast.with_(min_interval=chunk_processing_delay())
    run_fan_out(5, OPENAI_SPEC, settings)
    starts = sorted(r.started for r in openai.requests)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 4 and min(gaps) >= 0.1 - SLACK


def test_retry_after_holds_every_branch_of_the_endpoint(
    openai: FakeOpenAI, fast: ModelSettings
) -> None:
    """A 429 with Retry-After pauses the endpoint: no branch starts inside the pause."""
    openai.script(oa.rate_limited(retry_after=0.4))
    run_fan_out(4, OPENAI_SPEC, fast.with_(max_in_flight=1))
    first, *rest = openai.requests
    assert first.status == 429 and len(rest) == 4
    assert min(r.started for r in rest) - first.finished >= 0.4 - SLACK


def test_bedrock_throttling_under_tpm_still_finishes_every_branch(
    bedrock: FakeBedrock, fast: ModelSettings
) -> None:
    bedrock.script(br.throttled(400), br.throttled(429), br.throttled(400))
    texts = run_fan_out(6, BEDROCK_SPEC, fast.with_(tpm=2000, rate_window=0.3))
    assert len(texts) == 6
    assert bedrock.count == 9  # 6 answers + 3 throttled attempts, nothing more
    assert sum(1 for r in bedrock.requests if r.status == 200) == 6
