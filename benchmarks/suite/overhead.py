"""2. Overhead: chunkwise's own time and memory on an 18M-character paper.

paper2code runs with a model that answers instantly (so every second is chunkwise's: load,
tokenize, split, fan-out, checkpoints, blob store, combine) on the 18M-character input the
big-split test builds, in a child process whose peak RSS the kernel reports. The 200k-token
chunk window of the seed's chunk model (Claude 3 Haiku) gives about 25 chunks. A second child
times each text step alone, cold, with the peak memory it adds; a third profiles the whole run
in every thread (cProfile) to show where the time goes.
"""

from __future__ import annotations

from typing import Any

from benchmarks.inputs import BIG_CHARS, big_paper
from benchmarks.registry import RunContext, benchmark
from benchmarks.report import Section, Table, Target, fmt
from benchmarks.scripted_runs import ScriptedRun, run_scripted

NAME = "overhead"
TITLE = "2. Overhead on an 18M-character paper"
TARGET_SECONDS, TARGET_MB = 5.0, 600.0

STAGES = (  # (label, from event, to event)
    ("start: open checkpoints, compile", None, "load"),
    ("load + tokenize + split", "load", "summaries"),
    ("summaries: fan-out, checkpoints, blobs", "summaries", "datasets"),
    ("datasets, code, finalize", "datasets", "end"),
)


def stage_times(stages: dict[str, float]) -> list[tuple[str, float]]:
    return [(label, stages.get(end, 0.0) - (stages.get(start, 0.0) if start else 0.0))
            for label, start, end in STAGES]


@benchmark(NAME, TITLE, order=20)
def run(ctx: RunContext) -> Section:
    section = Section(NAME, TITLE, about=__doc__.split("\n\n", 1)[1].strip())
    if ctx.shared is None:
        section.skipped = "../shared is not present (the input is built from its texts)"
        return section
    chars = BIG_CHARS // 4 if ctx.quick else BIG_CHARS
    with ctx.workdir() as folder:
        paper = folder / "big_paper.md"
        paper.write_text(big_paper(ctx.shared, chars), "utf-8")
        runs: dict[str, ScriptedRun] = {}
        for name, flags in (("pipeline", ()), ("components", ("--components",)),
                            ("profile", ("--profile",))):
            work = folder / name
            work.mkdir()
            ctx.log(f"  {name}")
            runs[name] = run_scripted(paper, work, *flags)
    pipeline, parts, profile = runs["pipeline"], runs["components"], runs["profile"]
    report = pipeline.report
    if not report.get("success"):
        raise RuntimeError(f"the zero-latency run failed: {report.get('error')}")
    seconds, rss = report["run_seconds"], pipeline.child.max_rss_mb
    mb = chars / 1e6
    section.targets += [
        Target("non-model time", f"< {TARGET_SECONDS:g} s", f"{seconds:.1f} s",
               None if ctx.quick else seconds < TARGET_SECONDS),
        Target("peak RSS", f"< {TARGET_MB:g} MB", f"{rss:.0f} MB",
               None if ctx.quick else rss < TARGET_MB),
    ]
    section.tables.append(Table(
        ["", "value"],
        [["input", f"{mb:.1f}M characters, {parts.report['tokens']:,} tokens, "
                   f"{report['chunks']} chunks"],
         ["pipeline (load to result)", f"{seconds:.2f} s"],
         ["Python start-up and imports", f"{pipeline.child.seconds - seconds:.2f} s "
                                         f"(imports {report['import_seconds']:.2f} s)"],
         ["whole process", f"{pipeline.child.seconds:.2f} s"],
         ["peak RSS (whole process)", f"{rss:.0f} MB"]],
        caption="**The run.**",
    ))
    section.tables.append(Table(
        ["stage", "seconds"], [[label, f"{t:.2f}"] for label, t in stage_times(report["stages"])],
        caption="**Pipeline time by stage** (from the progress events).",
    ))
    steps = parts.report["steps"]
    section.tables.append(Table(
        ["step (alone, cold)", "seconds", "peak RSS added (MB)", "kept (MB)"],
        [[name, f"{s['seconds']:.2f}", fmt(s["peak_added_mb"], 0), fmt(s["kept_mb"], 0)]
         for name, s in steps.items()],
        caption="**Text steps one by one**, in a separate process (`split_paper` tokenizes "
                "again inside).",
    ))
    top = profile.report["profile"]["own"][:12]
    section.tables.append(Table(
        ["function (all threads)", "calls", "own s", "cumulative s"],
        [[f"`{where}`", str(calls), f"{own:.2f}", f"{cum:.2f}"] for where, calls, own, cum in top
         if "acquire" not in where and "SimpleQueue" not in where],
        caption="**Where the time goes** (cProfile over every thread, sorted by own time; "
                "waiting on locks and queues left out; profiling slows the run down).",
    ))
    section.commands += [pipeline.command, parts.command, profile.command,
                         "# big_paper.md: benchmarks.inputs.big_paper(shared, "
                         f"{chars}) (the input of tests/text/test_big_split.py)"]
    section.data = {"pipeline": report, "components": parts.report, "peak_rss_mb": rss,
                    "process_seconds": pipeline.child.seconds,
                    "profile": profile.report.get("profile")}
    section.plots.append(_plot(ctx, report, steps))
    return section


def _plot(ctx: RunContext, report: dict[str, Any], steps: dict[str, dict[str, float]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6))
    start = 0.0
    for label, seconds in stage_times(report["stages"]):
        left.barh(["pipeline"], [seconds], left=start, label=label)
        start += seconds
    left.axvline(TARGET_SECONDS, color="#c44e52", linestyle="--", label="target")
    left.set_xlabel("seconds")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    left.set_title("Pipeline time by stage")
    names = list(steps)
    right.barh(names, [steps[n]["seconds"] for n in names], color="#4c72b0")
    right.invert_yaxis()
    right.set_xlabel("seconds (alone, cold)")
    twin = right.twiny()
    twin.plot([steps[n]["peak_added_mb"] for n in names], names, "o", color="#dd8452")
    twin.set_xlabel("peak RSS added (MB, dots)")
    right.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return ctx.plot(fig, "overhead.png",
                    "Left: the zero-latency run by stage. Right: each text step alone, its time "
                    "(bars) and the peak memory it adds (dots).")
