"""5. Resume: paper2code killed with SIGKILL halfway through its chunks, then resumed.

The real CLI runs against the simulated provider (no limits, `--concurrency 4`) on the 24-chunk
input of the throughput benchmark. Half a second after the provider has answered half of the
summaries, the benchmark kills the process (SIGKILL: no handler runs, nothing is flushed) and
starts the same command again (same `--run-id`, same checkpoint database). The provider counts
what the resumed run asks again: a summary answered before the kill should never be asked
again; those in flight at the kill may be (target: no more repeated calls than were in flight).
Run with the call cache on (the default) and with `--no-cache`, so the checkpoints alone are
measured too.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from benchmarks.inputs import LONG_PARTS, QUICK_PARTS, long_paper
from benchmarks.paper2code_sim import chunk_of, paper2code_args, run_paper2code, sim
from benchmarks.proc import shown
from benchmarks.registry import RunContext, benchmark
from benchmarks.report import Section, Table, Target
from benchmarks.sim_provider import SimProvider, SimRecord

NAME = "resume"
TITLE = "5. Resume after a kill at 50%"
CONCURRENCY = 4
# The kill comes this long after the provider answered half of the summaries, so the answer
# that made it half has reached the client (an answer still on the wire is in flight).
GRACE = 0.5


def _sent(records: list[SimRecord]) -> set[int]:
    return {n for r in records if (n := chunk_of(r)) is not None}


def _first_request(records: list[SimRecord]) -> float:
    return min((r.arrived for r in records), default=0.0)


def _case(ctx: RunContext, provider: SimProvider, paper: Path, chunks: int,
          extra: tuple[str, ...]) -> dict[str, Any]:
    half = chunks // 2
    kill: dict[str, Any] = {}

    def watch(pid: int, elapsed: float) -> bool:
        if "half_at" not in kill:
            done = {chunk_of(r) for r in provider.snapshot() if r.status == 200} - {None}
            if len(done) >= half:
                kill["half_at"] = provider.now()
            return False
        if provider.now() < kill["half_at"] + GRACE:
            return False
        kill.update(at=provider.now(), in_flight=provider.in_flight)
        os.kill(pid, signal.SIGKILL)
        return True

    with ctx.workdir() as folder:
        args = paper2code_args(paper, provider, folder, chunks=chunks, concurrency=CONCURRENCY,
                               run_id="resume-bench", extra=extra)
        provider.reset()
        first = run_paper2code(args, folder, watch=watch, timeout=1800)
        if not first.child.killed:
            raise RuntimeError("the run finished before half of its chunks were answered")
        before = provider.snapshot()
        provider.reset()
        second = run_paper2code(args, folder, timeout=1800)
        second.child.check("the resumed run")
        after = provider.snapshot()
    answered = {n for r in before if (n := chunk_of(r)) is not None and r.status == 200
                and r.finished is not None and r.finished <= kill["at"]}
    in_flight = _sent(before) - answered
    asked = [chunk_of(r) for r in after if chunk_of(r) is not None]
    return {
        "mode": "cache on (default)" if "--no-cache" not in extra else "--no-cache",
        "killed_after": kill["at"], "answered_before_kill": len(answered),
        "in_flight_at_kill": kill["in_flight"], "in_flight_chunks": len(in_flight),
        "repeated_answered": sum(1 for n in asked if n in answered),
        "repeated_in_flight": sum(1 for n in asked if n in in_flight),
        "resumed_summaries": len(asked), "resumed_requests": len(after),
        "first_request_fresh": _first_request(before),
        "first_request_resumed": _first_request(after),
        "resumed_wall": second.child.seconds, "success": second.result.get("success"),
        "chunks_ok": f"{second.result.get('successful_chunks')}/{second.result.get('num_chunks')}",
        "command": shown(args, {provider.base_url: "http://127.0.0.1:PORT/v1",
                                str(folder): "$RUN", str(paper): "long_paper.md"}),
    }


@benchmark(NAME, TITLE, order=50)
def run(ctx: RunContext) -> Section:
    section = Section(NAME, TITLE, about=__doc__.split("\n\n", 1)[1].strip())
    if ctx.shared is None:
        section.skipped = "../shared is not present (the input is built from its texts)"
        return section
    parts, chunks = (QUICK_PARTS, 8) if ctx.quick else (LONG_PARTS, 24)
    rows = []
    with ctx.workdir() as folder:
        paper = folder / "long_paper.md"
        paper.write_text(long_paper(ctx.shared, parts), "utf-8")
        provider = sim()
        try:
            for extra in ((), ("--no-cache",)):
                ctx.log(f"  {' '.join(extra) or 'cache on'}")
                rows.append(_case(ctx, provider, paper, chunks, extra))
        finally:
            provider.close()
    section.tables.append(Table(
        ["", *[r["mode"] for r in rows]],
        [[label, *[str(fn(r)) for r in rows]] for label, fn in (
            ("killed after (s at the provider)", lambda r: f"{r['killed_after']:.1f}"),
            ("summaries answered before the kill", lambda r: r["answered_before_kill"]),
            ("requests in flight at the kill", lambda r: r["in_flight_at_kill"]),
            ("resumed run: summaries asked", lambda r: r["resumed_summaries"]),
            ("... of chunks answered before the kill", lambda r: r["repeated_answered"]),
            ("... of chunks in flight at the kill", lambda r: r["repeated_in_flight"]),
            ("resumed run: requests in all", lambda r: r["resumed_requests"]),
            ("first request after start, fresh run (s)",
             lambda r: f"{r['first_request_fresh']:.2f}"),
            ("first request after start, resumed run (s)",
             lambda r: f"{r['first_request_resumed']:.2f}"),
            ("resumed run, whole process (s)", lambda r: f"{r['resumed_wall']:.1f}"),
            ("resumed run: chunks ok", lambda r: r["chunks_ok"]),
        )],
        caption=f"**{chunks} chunks, --concurrency {CONCURRENCY}, SIGKILL {GRACE:g} s after "
                f"{chunks // 2} summaries were answered.**",
    ))
    for row in rows:
        repeated = row["repeated_answered"] + row["repeated_in_flight"]
        section.targets.append(Target(
            f"calls repeated after the kill, {row['mode']}",
            f"<= in flight ({row['in_flight_at_kill']})", str(repeated),
            None if ctx.quick else repeated <= row["in_flight_at_kill"]
            and row["repeated_answered"] == 0 and bool(row["success"])))
    section.notes.append(
        "LangGraph saves a finished branch's writes (its pending writes) on the thread pool "
        "that runs the branches, and a fan-out submits all of its branches first. Until commit "
        "21bd45f that pool was sized by --concurrency, so the saves waited behind the branches "
        "not yet started and a kill mid-fan-out lost them: --no-cache then asked again 16 "
        "calls (the 12 answered before the kill and the 4 in flight; commit 376a44b, "
        "2026-11-30 13:26, the call cache hiding it in the default mode). Now the runner gives "
        "the pool a thread per branch and --concurrency bounds the run's model calls itself "
        "(`chunkwise/runtime/call_gate.py`), so each answer is saved as its branch finishes.")
    if any(r["repeated_answered"] for r in rows):
        section.notes.append(
            "Calls answered before the kill were asked again: their branches' writes did not "
            "reach the checkpoint (see above; a fan-out wider than the runner's "
            "`BRANCH_THREADS` queues its saves again).")
    section.commands += [r["command"] + "   # killed with SIGKILL, then run again" for r in rows]
    section.data = {"rows": rows}
    return section
