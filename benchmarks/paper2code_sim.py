"""paper2code against the simulated provider: the CLI line, the workload, replays and the bound.

Shared by the throughput and resume benchmarks. The CLI runs as a child process (the real
`chunkwise paper2code` with `--model openai:sim --base-url ...`), the provider runs in the
benchmark process, and everything is measured at the provider.

The simulator's answers are filler, so the code it "writes" never passes the static check: the
runs use `--max-repairs 0`, or each would end in three sequential repair rounds that measure
nothing about pacing and that no baseline makes (the seed has no repair loop).

Baselines replay the exact requests a chunkwise run sent (same prompts, so the same output
lengths and tokens), straight over HTTP:
- the seed's strategy: one summary at a time with 2 s between chunks, then the final calls;
- a naive fan-out: every summary at once, each retried after the server's Retry-After for as
  long as it takes (the most favourable naive client), then the final calls.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.proc import ChildResult, chunkwise, run_child
from benchmarks.sim_provider import Latency, Limits, OutputLength, SimProvider, SimRecord

PART = re.compile(r"This is part (\d+) of (\d+)")
CONTEXT_WINDOW = "128000"  # a gpt-4o-class model: the combined notes fit without collapsing
LATENCY = Latency(ttft=0.5, per_token=0.004)  # 250 output tokens/s
OUTPUT = OutputLength(low=0.2, high=0.5, default_cap=2048)  # summaries use 20-50% of their cap


def sim(limits: Limits | None = None) -> SimProvider:
    return SimProvider(limits=limits, latency=LATENCY, output=OUTPUT).start()


def chunk_of(record: SimRecord) -> int | None:
    """The part number a summary request is for (None: a final call)."""
    match = PART.search(record.prompt)
    return int(match.group(1)) if match else None


def paper2code_args(
    paper: Path, provider: SimProvider, folder: Path, *, chunks: int, concurrency: int,
    extra: tuple[str, ...] = (), run_id: str = "bench",
) -> list[str]:
    return chunkwise(
        "paper2code", str(paper), "--model", "openai:sim", "--base-url", provider.base_url,
        "--num-chunks", str(chunks), "--context-window", CONTEXT_WINDOW,
        "--concurrency", str(concurrency), "--checkpoint-db", str(folder / "runs.sqlite"),
        "--run-id", run_id, "--out", str(folder / "model.py"),
        "--json", str(folder / "result.json"), "--max-repairs", "0", "--quiet", *extra,
    )


@dataclass(frozen=True)
class CliRun:
    child: ChildResult
    result: dict[str, Any]


def run_paper2code(args: list[str], folder: Path, **kwargs: Any) -> CliRun:
    child = run_child(args, **kwargs)
    path = folder / "result.json"
    result = json.loads(path.read_text("utf-8")) if path.exists() else {}
    return CliRun(child, result)


# -- replays ---------------------------------------------------------------------------------
def _post(provider: SimProvider, body: dict[str, Any]) -> tuple[int, float]:
    """One request; (status, seconds the server asked to wait)."""
    conn = http.client.HTTPConnection("127.0.0.1", provider.port, timeout=600)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        wait = float(response.getheader("retry-after-ms") or 0) / 1000
        return response.status, wait
    finally:
        conn.close()


def call_until_ok(provider: SimProvider, body: dict[str, Any], attempts: int = 1000) -> None:
    for _ in range(attempts):
        status, wait = _post(provider, body)
        if status == 200:
            return
        if status != 429:
            raise RuntimeError(f"the provider answered {status}")
        time.sleep(wait)
    raise RuntimeError("still throttled after 1000 attempts")


def workload(records: list[SimRecord]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The requests of a run: every part's summary (answered or not: a chunk chunkwise gave up
    on is still work a baseline must do), then the answered final calls in order."""
    ordered = sorted(records, key=lambda r: r.arrived)
    summaries = {n: r.body for r in ordered if (n := chunk_of(r)) is not None}
    tail = [r.body for r in ordered if r.status == 200 and chunk_of(r) is None]
    return [summaries[n] for n in sorted(summaries)], tail


def replay_seed(provider: SimProvider, summaries: list[dict[str, Any]],
                tail: list[dict[str, Any]], delay: float = 2.0) -> None:
    for i, body in enumerate(summaries):
        if i:
            time.sleep(delay)
        call_until_ok(provider, body)
    for body in tail:
        call_until_ok(provider, body)


def replay_naive(provider: SimProvider, summaries: list[dict[str, Any]],
                 tail: list[dict[str, Any]]) -> None:
    threads = [threading.Thread(target=call_until_ok, args=(provider, b)) for b in summaries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for body in tail:
        call_until_ok(provider, body)


# -- the physical bound ----------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """Lower bounds on the time from the first request to the last answer (seconds).

    - `critical_path`: the slowest summary plus the final calls after it, one after another;
    - `tokens`: the TPM bucket must let every other call's tokens through (starting full, at
      `tpm / 60` per second) before the final call fits, which then takes its own latency;
    - `requests`: the same for the RPM bucket;
    - `concurrency`: not part of the bound; with `--concurrency c` the summaries cannot take
      less than max(slowest, sum / c) (shown for context).
    """

    critical_path: float
    tokens: float
    requests: float
    concurrency: float

    @property
    def value(self) -> float:
        return max(self.critical_path, self.tokens, self.requests)

    @property
    def binding(self) -> str:
        terms = {"critical path": self.critical_path, "tokens": self.tokens,
                 "requests": self.requests}
        return max(terms, key=lambda k: terms[k])


def physical_bound(provider: SimProvider, records: list[SimRecord], concurrency: int) -> Bound:
    ok = [r for r in records if r.status == 200 and r.admitted is not None]
    if not ok:
        return Bound(0.0, 0.0, 0.0, 0.0)
    latency = {r.index: provider.latency.seconds(r.output_tokens) for r in ok}
    summaries = [latency[r.index] for r in ok if chunk_of(r) is not None]
    tail = sum(latency[r.index] for r in ok if chunk_of(r) is None)
    slowest = max(summaries, default=0.0)
    last = max(ok, key=lambda r: r.admitted or 0.0)
    tokens = requests = 0.0
    if (bucket := provider.tokens_bucket) is not None:
        before = sum(r.charged for r in ok if r is not last)
        need = min(last.admission_charge, bucket.capacity)
        tokens = max(0.0, before + need - bucket.capacity) / bucket.rate + latency[last.index]
    if (rbucket := provider.requests_bucket) is not None:
        requests = max(0.0, len(ok) - rbucket.capacity) / rbucket.rate + latency[last.index]
    return Bound(
        critical_path=slowest + tail,
        tokens=tokens,
        requests=requests,
        concurrency=max(slowest, sum(summaries) / max(1, concurrency)) + tail,
    )
