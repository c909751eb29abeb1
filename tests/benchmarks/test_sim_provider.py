"""The benchmark instrument itself: the simulated provider enforces its buckets, and the suite's
command line works. Times come from a fake clock, so every assertion is a count."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.sim_provider import Latency, Limits, SimProvider
from tests.conftest import REPO


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sim_with(limits: Limits, clock: Clock) -> Iterator[SimProvider]:
    provider = SimProvider(limits=limits, latency=Latency(0.0, 0.0), clock=clock,
                           sleep=lambda seconds: None).start()
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rpm_sim(clock: Clock) -> Iterator[SimProvider]:
    yield from sim_with(Limits(rpm=60, burst_seconds=5), clock)  # 1 request/s, holds 5


@pytest.fixture
def tpm_sim(clock: Clock) -> Iterator[SimProvider]:
    yield from sim_with(Limits(tpm=600, burst_seconds=10), clock)  # 10 tokens/s, holds 100


def post(sim: SimProvider, max_tokens: int = 20) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    try:
        body = {"model": "sim", "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "hi"}]}  # 1 token + 6 of framing
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = json.loads(response.read())
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    finally:
        conn.close()


def test_request_bucket_admits_its_burst_then_its_rate(rpm_sim: SimProvider, clock: Clock) -> None:
    statuses = [post(rpm_sim)[0] for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    status, headers, payload = post(rpm_sim)
    assert status == 429 and headers["retry-after-ms"] == "1000" and headers["retry-after"] == "1"
    assert payload["error"]["code"] == "rate_limit_exceeded"
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    clock.now += 2.0  # two more requests' worth
    assert [post(rpm_sim)[0] for _ in range(3)] == [200, 200, 429]
    stats = rpm_sim.stats()
    assert (stats.requests, stats.ok, stats.throttled) == (12, 7, 5)


def test_token_bucket_charges_prompt_and_cap(tpm_sim: SimProvider, clock: Clock) -> None:
    results = [post(tpm_sim) for _ in range(4)]  # each charges 7 prompt + 20 cap = 27
    assert [status for status, _, _ in results] == [200, 200, 200, 429]
    _, ok_headers, ok_body = results[2]
    assert ok_headers["x-ratelimit-remaining-tokens"] == "19"  # 100 - 3 * 27
    assert ok_body["usage"]["prompt_tokens"] == 7
    assert 1 <= ok_body["usage"]["completion_tokens"] <= 20
    assert results[3][1]["retry-after-ms"] == "800"  # (27 - 19) tokens at 10 per second
    clock.now += 0.8
    assert post(tpm_sim)[0] == 200
    stats = tpm_sim.stats()
    assert (stats.ok, stats.throttled, stats.charged_tokens) == (4, 1, 4 * 27)


def test_a_request_larger_than_the_bucket_waits_for_it_full_then_leaves_a_debt(
    tpm_sim: SimProvider, clock: Clock
) -> None:
    assert post(tpm_sim)[0] == 200  # 27 taken: the bucket is no longer full
    status, headers, _ = post(tpm_sim, max_tokens=1000)
    assert status == 429 and headers["retry-after-ms"] == "2700"  # until full again
    clock.now += 2.7
    assert post(tpm_sim, max_tokens=1000)[0] == 200  # 1007 tokens from a full bucket of 100
    status, headers, _ = post(tpm_sim)
    assert status == 429 and headers["retry-after-ms"] == str((907 + 27) * 100)  # debt + need


def test_the_suite_command_line_answers_help_and_lists_every_benchmark() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for flag, expected in (("--help", "--quick"), ("--list", "throughput")):
        done = subprocess.run([sys.executable, "-m", "benchmarks", flag], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
    listed = done.stdout.split()
    for name in ("throughput", "overhead", "storage", "rephrase", "resume", "local"):
        assert name in listed
