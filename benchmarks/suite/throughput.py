"""1. Throughput under limits: paper2code at a provider's TPM limit, against the physical bound.

The simulated provider enforces RPM 500 and TPM 240,000 as buckets holding 3 s worth and counts
`max_tokens` against TPM at admission, as OpenAI does. paper2code runs on an ~85k-token input
cut into 24 chunks with `--concurrency 8`: chunkwise with `--tpm` and without (its limiter has
to find the limit), the seed's strategy and a naive fan-out (both replaying chunkwise's exact
requests). Each is timed at the provider (first request to last answer) and divided by the
physical bound (see `paper2code_sim.Bound`). A second case without limits is latency-bound:
there chunkwise should beat the seed's sequential strategy by 10x.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.inputs import LONG_PARTS, QUICK_PARTS, long_paper
from benchmarks.paper2code_sim import (
    Bound,
    chunk_of,
    paper2code_args,
    physical_bound,
    replay_naive,
    replay_seed,
    run_paper2code,
    sim,
    workload,
)
from benchmarks.proc import shown
from benchmarks.registry import RunContext, benchmark
from benchmarks.report import Section, Table, Target, fmt
from benchmarks.sim_provider import Limits, SimProvider, SimRecord, SimStats

NAME = "throughput"
TITLE = "1. Throughput under limits"
TPM, RPM, BURST = 240_000, 500, 3.0
TARGET_RATIO, TARGET_THROTTLED, TARGET_SPEEDUP = 1.15, 0.05, 10.0


@dataclass
class Row:
    case: str
    strategy: str
    command: str
    stats: SimStats
    bound: Bound
    records: list[SimRecord]
    concurrency: int
    wall: float | None = None
    chunks: str = ""

    @property
    def complete(self) -> bool:
        done, total = self.chunks.split("/")
        return done == total

    @property
    def ratio(self) -> float:
        return self.stats.span / self.bound.value if self.bound.value else 0.0

    def cells(self) -> list[str]:
        return [
            self.strategy, fmt(self.stats.span), fmt(self.bound.value),
            f"{self.ratio:.2f}x", fmt(self.wall) if self.wall is not None else "-",
            str(self.stats.requests), str(self.stats.throttled),
            f"{self.stats.throttled_share:.0%}", self.chunks, str(self.stats.max_in_flight),
        ]

    def data(self) -> dict[str, Any]:
        b = self.bound
        return {
            "case": self.case, "strategy": self.strategy, "seconds": self.stats.span,
            "bound": b.value, "ratio": self.ratio, "wall": self.wall,
            "requests": self.stats.requests, "throttled": self.stats.throttled,
            "throttled_share": self.stats.throttled_share, "chunks": self.chunks,
            "charged_tokens": self.stats.charged_tokens, "max_in_flight": self.stats.max_in_flight,
            "critical_path": b.critical_path, "token_term": b.tokens,
            "request_term": b.requests, "concurrency_term": b.concurrency,
        }


HEADERS = ["strategy", "time at provider (s)", "bound (s)", "ratio", "process wall (s)",
           "requests", "429s", "throttled", "chunks ok", "max in flight"]


def _chunkwise_row(ctx: RunContext, provider: SimProvider, limits: Limits, paper: Path,
                   case: str, label: str, *, chunks: int, concurrency: int,
                   extra: tuple[str, ...] = ()) -> Row:
    provider.reset(limits)
    with ctx.workdir() as folder:
        args = paper2code_args(paper, provider, folder, chunks=chunks, concurrency=concurrency,
                               extra=("--no-cache", *extra))
        run = run_paper2code(args, folder, timeout=1800)
        run.child.check(label)
    records = provider.snapshot()
    result = run.result
    row = Row(case, label, shown(args, {provider.base_url: "http://127.0.0.1:PORT/v1",
                                        str(folder): "$RUN", str(paper): "long_paper.md"}),
              provider.stats(), physical_bound(provider, records, concurrency), records,
              concurrency, wall=run.child.seconds,
              chunks=f"{result.get('successful_chunks', 0)}/{result.get('num_chunks', 0)}")
    ctx.log(f"  {label}: {row.stats.span:.1f} s, bound {row.bound.value:.1f} s, "
            f"{row.stats.throttled} x 429")
    return row


def _replay_row(ctx: RunContext, provider: SimProvider, limits: Limits, case: str,
                label: str, strategy: str, work: tuple[list[Any], list[Any]],
                concurrency: int) -> Row:
    provider.reset(limits)
    summaries, tail = work
    if strategy == "seed":
        replay_seed(provider, summaries, tail)
    else:
        replay_naive(provider, summaries, tail)
    records = provider.snapshot()
    done = {chunk_of(r) for r in records if r.status == 200} - {None}
    row = Row(case, label, f"replay ({strategy}) of the requests above", provider.stats(),
              physical_bound(provider, records, concurrency), records, concurrency,
              chunks=f"{len(done)}/{len(summaries)}")
    ctx.log(f"  {label}: {row.stats.span:.1f} s, {row.stats.throttled} x 429")
    return row


def _complete(rows: list[Row]) -> Row:
    """The chunkwise run whose requests the replays reuse: one that got every chunk done."""
    return max(rows, key=lambda r: (r.complete, -r.stats.throttled))


@benchmark(NAME, TITLE, order=10)
def run(ctx: RunContext) -> Section:
    section = Section(NAME, TITLE, about=__doc__.split("\n\n", 1)[1].strip())
    if ctx.shared is None:
        section.skipped = "../shared is not present (the input is built from its texts)"
        return section
    parts, chunks = (QUICK_PARTS, 8) if ctx.quick else (LONG_PARTS, 24)
    narrow = 4 if ctx.quick else 8  # the latency-bound case also runs one branch per chunk
    tpm = TPM // 3 if ctx.quick else TPM  # the quick input is a third as long
    limited = Limits(rpm=RPM, tpm=tpm, burst_seconds=BURST)
    rows: list[Row] = []
    with ctx.workdir() as folder:
        paper = folder / "long_paper.md"
        paper.write_text(long_paper(ctx.shared, parts), "utf-8")
        provider = sim(limited)
        try:
            case = f"TPM {tpm:,}"
            ctx.log(f"case {case}")
            paced = [
                _chunkwise_row(ctx, provider, limited, paper, case,
                               f"chunkwise --tpm {tpm}", chunks=chunks, concurrency=8,
                               extra=("--tpm", str(tpm))),
                _chunkwise_row(ctx, provider, limited, paper, case,
                               "chunkwise, no --tpm (adaptive)", chunks=chunks, concurrency=8),
            ]
            work = workload(_complete(paced).records)
            rows += [
                *paced,
                _replay_row(ctx, provider, limited, case, "seed: sequential, 2 s between chunks",
                            "seed", work, 8),
                _replay_row(ctx, provider, limited, case,
                            "naive fan-out, retry after Retry-After", "naive", work, 8),
            ]
            case, unlimited = "no limits", Limits()
            ctx.log(f"case {case}")
            free = [
                _chunkwise_row(ctx, provider, unlimited, paper, case,
                               f"chunkwise --concurrency {narrow}", chunks=chunks,
                               concurrency=narrow),
                _chunkwise_row(ctx, provider, unlimited, paper, case,
                               f"chunkwise --concurrency {chunks}", chunks=chunks,
                               concurrency=chunks),
            ]
            rows += [
                *free,
                _replay_row(ctx, provider, unlimited, case,
                            "seed: sequential, 2 s between chunks", "seed",
                            workload(_complete(free).records), chunks),
            ]
        finally:
            provider.close()
    _report(ctx, section, rows, tpm, chunks)
    return section


def _report(ctx: RunContext, section: Section, rows: list[Row], tpm: int, chunks: int) -> None:
    limited = [r for r in rows if r.case != "no limits"]
    free = [r for r in rows if r.case == "no limits"]
    tokens = limited[0].stats.charged_tokens
    for title, group in ((f"Under RPM {RPM}, TPM {tpm:,} (buckets of {BURST:g} s)", limited),
                         ("No limits (latency-bound)", free)):
        first = group[0]
        b = first.bound
        section.tables.append(Table(
            HEADERS, [r.cells() for r in group],
            caption=f"**{title}.** Bound {b.value:.1f} s, set by the {b.binding} term "
                    f"(critical path {b.critical_path:.1f} s, tokens {b.tokens:.1f} s, requests "
                    f"{b.requests:.1f} s; not in the bound: with --concurrency "
                    f"{first.concurrency} the calls need at least {b.concurrency:.1f} s).",
        ))
    section.notes += [
        f"Workload: {chunks} summaries plus the dataset and code calls; {tokens:,} tokens "
        "charged at the provider per run (prompt + max_tokens at admission, as OpenAI counts).",
        "Time at provider: first request to last answer. Process wall: the whole CLI run "
        "(Python start-up, load, split, checkpoints).",
        "The seed and naive rows replay the requests of a chunkwise run over plain HTTP, so "
        "every row does the same work.",
    ]
    section.commands += [r.command for r in rows if r.command.startswith("chunkwise")]
    section.commands.append(
        f"# provider: SimProvider(limits=Limits(rpm={RPM}, tpm={tpm}, burst_seconds={BURST:g}), "
        "latency=Latency(ttft=0.5, per_token=0.004), output=OutputLength(0.2, 0.5, 2048))")
    by = {r.strategy: r for r in rows}
    for label, key in (("--tpm given", f"chunkwise --tpm {tpm}"),
                       ("adaptive (no --tpm)", "chunkwise, no --tpm (adaptive)")):
        row = by[key]
        failed = "" if row.complete else f" ({row.chunks} chunks: the rest gave up after retries)"
        section.targets += [
            Target(f"time vs bound, {label}", f"<= {TARGET_RATIO}x", f"{row.ratio:.2f}x{failed}",
                   None if ctx.quick else row.ratio <= TARGET_RATIO and row.complete),
            Target(f"requests throttled, {label}", f"<= {TARGET_THROTTLED:.0%}",
                   f"{row.stats.throttled_share:.0%}",
                   None if ctx.quick else row.stats.throttled_share <= TARGET_THROTTLED),
        ]
    seed = free[-1].stats.span
    wide, narrow = free[1], free[0]
    section.targets.append(Target(
        "speed-up over the seed, latency-bound", f">= {TARGET_SPEEDUP:g}x",
        f"{seed / wide.stats.span:.1f}x with one branch per chunk "
        f"({seed / narrow.stats.span:.1f}x with {narrow.strategy.split(' ', 1)[1]})",
        None if ctx.quick else seed / wide.stats.span >= TARGET_SPEEDUP,
    ))
    section.data = {"rows": [r.data() for r in rows]}
    section.plots += [_ratio_plot(ctx, rows), _timeline_plot(ctx, limited, tpm)]


def _ratio_plot(ctx: RunContext, rows: list[Row]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=False)
    for ax, case in zip(axes, ("limited", "free"), strict=True):
        group = [r for r in rows if (r.case == "no limits") == (case == "free")]
        names = [r.strategy.replace(", ", ",\n").replace(": ", ":\n") for r in group]
        ax.barh(names, [r.ratio for r in group], color="#4c72b0")
        if case == "limited":
            ax.axvline(TARGET_RATIO, color="#c44e52", linestyle="--", label="target 1.15x")
            ax.legend(loc="lower right")
        ax.set_xlabel("time / physical bound")
        ax.set_title(group[0].case)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return ctx.plot(fig, "throughput_ratio.png",
                    "Time at the provider divided by the physical bound (1.0 is the best "
                    "possible).")


def _timeline_plot(ctx: RunContext, rows: list[Row], tpm: int) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    horizon = 1.4 * max(r.stats.span for r in rows if not r.strategy.startswith("seed"))
    for row in rows:
        ok = sorted((r for r in row.records if r.status == 200 and r.admitted is not None),
                    key=lambda r: r.admitted or 0.0)
        start = min(r.arrived for r in row.records)
        times, total, tokens = [0.0], 0, [0]
        for r in ok:
            total += r.charged
            times.append((r.admitted or 0.0) - start)
            tokens.append(total)
        line = ax.step(times, tokens, where="post", label=row.strategy)[0]
        rejected = [r.arrived - start for r in row.records if r.status == 429]
        if rejected:
            ax.plot(rejected, [0] * len(rejected), "|", color=line.get_color(), markersize=12,
                    alpha=0.6)
    capacity = tpm / 60 * BURST
    ax.plot([0, horizon], [capacity, capacity + tpm / 60 * horizon], "k--",
            label="bucket allows (full + refill)")
    ax.set_xlim(0, horizon)
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("tokens admitted (cumulative)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Tokens admitted under TPM {tpm:,}; ticks at the bottom are 429s")
    fig.tight_layout()
    return ctx.plot(fig, "throughput_timeline.png",
                    "Cumulative tokens admitted by the provider per strategy against what its "
                    "bucket allows; each tick on the x axis is a 429.")
