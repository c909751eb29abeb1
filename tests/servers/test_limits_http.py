"""The endpoint's shared limiter, measured at the server while LangGraph fans out branches.

Each test fans out N `Send` branches; every branch asks the run context for its role's client
(as pipeline nodes do) and makes one call. The server timestamps arrivals, tracks requests in
flight and counts its 429s. Rates are high and bursts short so runs take a second or two; the
assertions are bounds and counts, not durations: arrivals in any interval within what the
bucket holds plus its refill, tokens likewise, at most `max_in_flight` at once, arrivals at
least `min_interval` apart, and at most a few 429s from a server enforcing its own bucket.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RunnableConfig, Send
from typing_extensions import TypedDict

from chunkwise.models.limiter import RateLimiter, limiter_for
from chunkwise.models.resolve import resolve_model
from chunkwise.models.settings import ModelSettings, chunk_processing_delay
from chunkwise.state.context import BaseContext

from . import fake_bedrock as br
from . import fake_openai as oa
from .base import BucketLimit, Recorded, Reply, ScriptedServer
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


def run_fan_out(
    n: int, spec: str, settings: ModelSettings, concurrency: int | None = None
) -> list[str]:
    """`n` branches at once (LangGraph's thread pool, or `concurrency` threads)."""
    builder = StateGraph(State, context_schema=Ctx)
    builder.add_node("call", _call)
    builder.add_conditional_edges(START, _fan_out, ["call"])
    builder.add_edge("call", END)
    context = Ctx(models=settings, blob_store=":memory:", spec=spec)
    config: RunnableConfig = {} if concurrency is None else {"max_concurrency": concurrency}
    out = builder.compile().invoke({"n": n, "texts": []}, config, context=context)
    return list(out["texts"])


def max_in_window(requests: Sequence[Recorded], window: float) -> int:
    starts = sorted(r.started for r in requests)
    return max(
        sum(1 for t in starts[i:] if t < s + window - SLACK) for i, s in enumerate(starts)
    )


def most_in_any_interval(starts: Sequence[float], rate: float, burst: float) -> float:
    """How far arrivals go over a bucket's bound (`burst` + `rate` * span, span widened by the
    arrival jitter of a loaded machine) in any interval; <= 0 means never."""
    starts = sorted(starts)
    return max(
        (j - i + 1) - (burst + rate * (starts[j] - starts[i] + 2 * SLACK))
        for i in range(len(starts)) for j in range(i, len(starts))
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


def test_request_starts_are_paced_by_rpm(
    server: tuple[ScriptedServer, str], fast: ModelSettings
) -> None:
    """300 rpm holding 0.4 s: 2 at once, then 5 a second (the old window let a minute's
    worth out at once)."""
    fake, spec = server
    texts = run_fan_out(9, spec, fast.with_(rpm=300, burst_seconds=0.4))
    assert len(texts) == 9 and fake.count == 9
    starts = [r.started for r in fake.requests]
    assert most_in_any_interval(starts, rate=5.0, burst=2.0) <= 1e-9
    assert max(starts) - min(starts) >= 1.4 - SLACK  # 7 refills of 0.2 s after the burst


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


def test_tokens_are_paced_by_tpm(server: tuple[ScriptedServer, str], fast: ModelSettings) -> None:
    """Bedrock throttles on tokens: 100-token calls under 30,000 tpm (500 a second) holding
    0.4 s go 2 at once, then one every 0.2 s."""
    fake, spec = server
    fake.reply = lambda r: Reply("fine", input_tokens=90, output_tokens=10)
    # booked before each call: prompt estimate (~12) + max_new_tokens (100); settled to 100 after
    settings = fast.with_(tpm=30_000, max_new_tokens=100, burst_seconds=0.4)
    run_fan_out(6, spec, settings)
    assert fake.count == 6
    starts = [r.started for r in fake.requests]
    assert most_in_any_interval(starts, rate=5.0, burst=2.0 + 0.12) <= 1e-9
    assert max(starts) - min(starts) >= 0.8 - 2 * SLACK  # 4 refills of about 0.2 s


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
    texts = run_fan_out(6, BEDROCK_SPEC, fast.with_(tpm=400_000))
    assert len(texts) == 6
    assert bedrock.count == 9  # 6 answers + 3 throttled attempts, nothing more
    assert sum(1 for r in bedrock.requests if r.status == 200) == 6


# -- a server that enforces its own bucket -------------------------------------------------------
SERVER_TPM = 12_000  # 200 tokens a second; each call books about 65 (prompt words + 60 cap)


@pytest.mark.parametrize("protocol", ["openai", "bedrock"])
def test_a_run_paced_under_the_servers_bucket_sees_at_most_a_few_429s(
    protocol: str, request: pytest.FixtureRequest, fast: ModelSettings
) -> None:
    fake, spec = (
        (request.getfixturevalue("openai_server"), OPENAI_SPEC) if protocol == "openai"
        else (request.getfixturevalue("bedrock_server"), BEDROCK_SPEC)
    )
    settings = fast.with_(max_new_tokens=60, max_attempts=8)
    warm_up(fake, spec, settings)
    fake.bucket = BucketLimit(tpm=SERVER_TPM, burst_seconds=1.0)
    fake.latency = 0.2
    texts = run_fan_out(16, spec, settings.with_(tpm=SERVER_TPM, burst_seconds=0.5), 16)
    assert len(texts) == 16
    assert fake.throttled <= 2, f"{fake.throttled} of {fake.count} requests throttled"


def test_the_servers_bucket_throttles_a_burst(openai: FakeOpenAI) -> None:
    """The instrument: 16 requests released at once, 4 fit the bucket; the rest get 429.
    (A slow refill, 10 tokens a second, so threads starting late on a busy machine do not
    find it refilled.)"""
    import httpx

    openai.bucket = BucketLimit(tpm=600, burst_seconds=20.0, refund=False)
    openai.latency = 0.2
    gate = threading.Barrier(16)
    statuses: list[int] = []

    def post() -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 48}
        gate.wait()
        statuses.append(httpx.post(openai.base_url + "/chat/completions", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) <= 5, statuses
    assert openai.throttled == statuses.count(429) >= 11


def test_an_unpaced_run_ramps_its_opening_burst_then_adapts(
    openai: FakeOpenAI, fast: ModelSettings
) -> None:
    """Without limits or headers the 16 calls do not go at once (they did, and every one in
    flight before the first 429 came back was throttled): the opening burst doubles per
    ramp step, the first 429 comes back within the step, then Retry-After and the cut pace
    the rest. Every call is answered: throttles are retried, not failures."""
    openai.bucket = BucketLimit(tpm=SERVER_TPM, burst_seconds=1.0)
    openai.latency = 0.2  # unused reply caps come back only when a call is answered
    settings = fast.with_(max_new_tokens=60, max_attempts=1)
    texts = run_fan_out(16, OPENAI_SPEC, settings, 16)
    assert len(texts) == 16
    assert 1 <= openai.throttled <= 2, f"{openai.throttled} of {openai.count} throttled"


def test_rate_limit_headers_give_an_unbounded_run_the_servers_limit(
    openai: FakeOpenAI, fast: ModelSettings
) -> None:
    """No --tpm: the first answers' x-ratelimit headers set the limit, and the run is paced
    by it from then on. (Two in flight at most, so the burst before any answer is small.)"""
    openai.bucket = BucketLimit(tpm=SERVER_TPM, burst_seconds=1.0, headers=True)
    openai.latency = 0.2
    settings = fast.with_(max_new_tokens=60, max_attempts=8, max_in_flight=2)
    texts = run_fan_out(16, OPENAI_SPEC, settings, 16)
    assert len(texts) == 16
    assert openai.throttled <= 2, f"{openai.throttled} of {openai.count} requests throttled"
    limiter = limiter_for(resolve_model("chunk", OPENAI_SPEC, settings).endpoint,
                          settings.limiter_config())
    assert isinstance(limiter, RateLimiter) and limiter.stats().tpm == SERVER_TPM
