"""6. Local model: the README's main job on the embedded llama.cpp model, where the time goes.

`chunkwise paper2code examples/gated_mixer_paper.md` with the CLI's defaults on the default
local model (`local:qwen2.5-coder-1.5b`; the quick run uses `local:qwen2.5-coder-0.5b`), in a
child process that reads llama.cpp's own counters around every completion: prompt tokens
evaluated and their time, tokens generated and their time, and the rest of each call (token
sampling, the JSON-schema grammar of structured output, Python). These are the "before"
numbers for optimizing the local backend (prompt-prefix reuse, grammar cost): rerun with
`python -m benchmarks --only local` after a change and compare, output quality included.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from typing import Any

from benchmarks.proc import python, run_child, shown
from benchmarks.registry import RunContext, benchmark
from benchmarks.report import Section, Table

NAME = "local"
TITLE = "6. Local model: the README's main job"
PAPER = "examples/gated_mixer_paper.md"
FULL_MODEL, QUICK_MODEL = "local:qwen2.5-coder-1.5b", "local:qwen2.5-coder-0.5b"
WORKER = "benchmarks.workers.local_job"


def _unavailable(spec: str) -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install -e '.[local]')"
    from chunkwise.errors import ConfigError
    from chunkwise.models.local.registry import resolve_local_model

    try:
        resolve_local_model(spec).model_file()
    except ConfigError as exc:
        return f"{spec} is not available: {exc}"
    return None


def _by_task(calls: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    tasks: dict[str, dict[str, float]] = {}
    for call in calls:
        t = tasks.setdefault(call["task"], {k: 0.0 for k in (
            "calls", "prompt_tokens", "prompt_evaluated", "prompt_ms", "generated",
            "generation_ms", "seconds")})
        t["calls"] += 1
        t["prompt_tokens"] += call["prompt_tokens"] or 0
        for key in ("prompt_evaluated", "prompt_ms", "generated", "generation_ms", "seconds"):
            t[key] += call[key]
    for t in tasks.values():
        t["other_ms"] = t["seconds"] * 1000 - t["prompt_ms"] - t["generation_ms"]
    return tasks


def _rate(tokens: float, ms: float) -> str:
    return f"{tokens / ms * 1000:.1f}" if ms else "-"


@benchmark(NAME, TITLE, order=60)
def run(ctx: RunContext) -> Section:
    section = Section(NAME, TITLE, about=__doc__.split("\n\n", 1)[1].strip())
    spec = QUICK_MODEL if ctx.quick else FULL_MODEL
    if (why := _unavailable(spec)) is not None:
        section.skipped = why
        return section
    with ctx.workdir() as folder:
        out = folder / "report.json"
        args = python("-m", WORKER, PAPER, spec, str(folder), str(out))
        ctx.log(f"  {spec} (several minutes)")
        child = run_child(args, timeout=3600).check(WORKER)
        report = json.loads(out.read_text("utf-8"))
        shutil.copyfile(folder / "model.py", ctx.results / "local_main_job_model.py.txt")
    calls = report["calls"]
    tasks = _by_task(calls)
    total = {k: sum(t[k] for t in tasks.values()) for k in next(iter(tasks.values()))}
    section.tables.append(Table(
        ["", "value"],
        [["model", spec],
         ["whole process", f"{child.seconds:.0f} s ({child.seconds / 60:.1f} min)"],
         ["model load", " + ".join(f"{s:.1f} s" for s in report["model_loads"]) or "-"],
         ["pipeline", f"{report['pipeline_seconds']:.0f} s"],
         ["model calls", f"{len(calls)}: {total['prompt_tokens']:,.0f} prompt tokens "
                         f"({total['prompt_evaluated']:,.0f} evaluated), "
                         f"{total['generated']:,.0f} generated"],
         ["prompt evaluation", f"{_rate(total['prompt_evaluated'], total['prompt_ms'])} tokens/s"],
         ["generation", f"{_rate(total['generated'], total['generation_ms'])} tokens/s"],
         ["peak RSS", f"{child.max_rss_mb:,.0f} MB"],
         ["result", f"{report['successful_chunks']}/{report['chunks']} chunks, code "
                    f"{report['code_chars']:,} chars, syntax "
                    f"{report['code_syntax_error'] or 'ok'}, dataset "
                    f"{report['recommended_dataset'] or '-'}"]],
        caption="**The run.**",
    ))
    section.tables.append(Table(
        ["task", "calls", "seconds", "prompt tokens (evaluated)", "prompt s", "prompt tok/s",
         "generated", "generation s", "generation tok/s", "other s", "other ms / generated"],
        [[name, f"{t['calls']:.0f}", f"{t['seconds']:.1f}",
          f"{t['prompt_tokens']:,.0f} ({t['prompt_evaluated']:,.0f})",
          f"{t['prompt_ms'] / 1000:.1f}", _rate(t["prompt_evaluated"], t["prompt_ms"]),
          f"{t['generated']:,.0f}", f"{t['generation_ms'] / 1000:.1f}",
          _rate(t["generated"], t["generation_ms"]), f"{t['other_ms'] / 1000:.1f}",
          f"{t['other_ms'] / t['generated']:.1f}" if t["generated"] else "-"]
         for name, t in tasks.items()],
        caption="**Time by task** (llama.cpp counters; 'other' is each call's time outside "
                "prompt evaluation and generation: sampling, the grammar of structured output, "
                "Python).",
    ))
    section.tables.append(Table(
        ["stage (progress events)", "starts at (s)"],
        [[name, f"{at:.1f}"] for name, at in report["stages"].items()],
        caption="**Stages**, seconds since the process started.",
    ))
    section.notes.append("The generated file is kept as `results/local_main_job_model.py.txt` "
                         "to compare output quality after an optimization.")
    section.notes.append("These numbers predate the local-engine work on branch `localperf` "
                         "(prompt-prefix reuse, grammar cost), measured on this branch's "
                         "engine; rerun with `python -m benchmarks --only local` once it lands "
                         "to compare.")
    section.commands += [
        f"chunkwise paper2code {PAPER} --model {spec}   # the job measured",
        shown(args, {str(folder): "$RUN"}) + "   # how it is measured",
    ]
    section.data = {"report": report, "process_seconds": child.seconds,
                    "peak_rss_mb": child.max_rss_mb, "tasks": tasks}
    section.plots.append(_plot(ctx, tasks))
    return section


def _plot(ctx: RunContext, tasks: dict[str, dict[str, float]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    names = list(tasks)
    left = [0.0] * len(names)
    for key, label in (("prompt_ms", "prompt evaluation"), ("generation_ms", "generation"),
                       ("other_ms", "other (sampling, grammar, Python)")):
        values = [tasks[n][key] / 1000 for n in names]
        ax.barh(names, values, left=left, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return ctx.plot(fig, "local_model.png", "Where the local model's time goes, by task.")
