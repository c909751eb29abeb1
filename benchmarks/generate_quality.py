"""generate on the local default model: LongBench-Write prompts of up to 1,500 words.

A fixed set of English LongBench-Write prompts (`../shared/eval/longbench-write`, read in
place) plus the brief of issue 14, each run through the generate graph in this process, and for
each, from the final text: the length score S_l, the repeated 5-gram rate, near-duplicate
sentences (a sentence nearly repeating an earlier one anywhere in the text), the QC pass rate
of the sections, prompt overflows (calls the model refused for their length), calls and
seconds, also per 1,000 words. Run it alone, serialized with other heavy jobs:

    flock /tmp/chunkwise-heavy.lock python -m benchmarks.generate_quality \
        [--model local:qwen2.5-coder-1.5b] [--only 0 2] [--work DIR] [--json out.json]

Targets (issue 14): mean S_l >= 80, repeated 5-gram rate < 5%, no prompt overflow,
<= 8 minutes per 1,000 words generated.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chunkwise.graphs.generate import PIPELINE
from chunkwise.models.client import ModelClient
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.runner import run_pipeline
from chunkwise.state.generate import GenerateContext, GenerateResult
from chunkwise.text import qc

REPO = Path(__file__).resolve().parents[1]
LONGBENCH = REPO.parent / "shared" / "eval" / "longbench-write" / "longbench_write_en.jsonl"
# Rows of longbench_write_en.jsonl (0-based): 200, 400, 600, 800 and 1,200 words, five types.
ROWS = (3, 14, 25, 28, 32)
ISSUE_BRIEF = {
    "topic": "How token-bucket rate limits work for hosted language model APIs",
    "objective": "explain to engineers how to stay under a provider's limit",
    "audience": "backend engineers", "tone": "plain, practical", "target_words": 600,
}
OBJECTIVE = "Write exactly what the request asks for, as a reader would want it"


# (calls, seconds) by task in the current run: which calls cost the time
BY_TASK: dict[str, list[float]] = {}


def _timed(method: Any) -> Any:
    def run(self: ModelClient, *args: Any, task: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return method(self, *args, task=task, **kwargs)
        finally:
            entry = BY_TASK.setdefault(task, [0, 0.0])
            entry[0] += 1
            entry[1] += time.monotonic() - started

    return run


def time_tasks() -> None:
    """Count calls and seconds by task (the benchmark's own instrumentation, nothing else)."""
    ModelClient.complete = _timed(ModelClient.complete)  # type: ignore[method-assign]
    ModelClient.structured = _timed(ModelClient.structured)  # type: ignore[method-assign]


@dataclass
class Row:
    name: str
    target: int
    words: int
    s_l: float
    repeated_5gram: float
    near_duplicates: int
    sections: int
    sections_passed: int
    overflows: int
    largest_prompt: int
    window: int
    calls: int
    seconds: float
    by_task: dict[str, list[float]] | None = None

    @property
    def minutes_per_1000(self) -> float:
        return self.seconds / 60 * 1000 / max(1, self.words)


def briefs(only: list[int] | None) -> list[tuple[str, dict[str, Any]]]:
    """(name, graph input) of each prompt of the set."""
    if not LONGBENCH.is_file():
        raise SystemExit(f"{LONGBENCH} is not present: the benchmark needs ../shared")
    rows = [json.loads(line) for line in LONGBENCH.read_text("utf-8").splitlines() if line]
    out = []
    for number in ROWS:
        row = rows[number]
        out.append((f"LB{number} ({row['type']}, {row['length']} words)",
                    {"topic": " ".join(row["prompt"].split()), "objective": OBJECTIVE,
                     "target_words": row["length"]}))
    out.append(("issue 14 brief (600 words)", dict(ISSUE_BRIEF)))
    return [b for i, b in enumerate(out) if only is None or i in only]


def measure(name: str, result: GenerateResult, text: str, seconds: float) -> Row:
    report = result.qc_report
    overflows = sum("context_length" in w or "context length" in w
                    for w in report.section_warnings)
    return Row(
        name=name, target=result.target_words, words=qc.count_words(text),
        s_l=round(qc.length_score(result.target_words, max(1, qc.count_words(text))), 1),
        repeated_5gram=round(qc.repeated_ngram_rate(text, 5), 4),
        near_duplicates=len(qc.self_repeats(text)),
        sections=len(report.sections), sections_passed=sum(s.passed for s in report.sections),
        overflows=overflows, largest_prompt=report.largest_prompt_tokens,
        window=report.context_window, calls=result.usage.calls, seconds=round(seconds, 1),
    )


def run_one(
    number: int, name: str, brief: dict[str, Any], args: argparse.Namespace, work: Path
) -> Row:
    context = GenerateContext(
        planner_model=args.model, writer_model=args.model, judge_model=args.model,
        models=ModelSettings(cache=args.cache), blob_store=str(work / "blobs.sqlite"),
    )
    BY_TASK.clear()
    started = time.monotonic()
    outcome = run_pipeline(PIPELINE, input=brief, context=context,
                           checkpoint_db=str(work / "runs.sqlite"),
                           run_id=f"generate-quality-{number}-{int(time.time())}")
    seconds = time.monotonic() - started
    result = outcome.require_result()
    text = context.store().get(result.final_text_key)
    slug = "".join(c if c.isalnum() else "_" for c in name)[:40]
    (work / f"{slug}.md").write_text(text + "\n", "utf-8")
    (work / f"{slug}.json").write_text(json.dumps(result.to_dict(), indent=2), "utf-8")
    row = measure(name, result, text, seconds)
    row.by_task = {task: [n, round(t, 1)] for task, (n, t) in BY_TASK.items()}
    return row


HEADER = ("| prompt | words / target | S_l | repeated 5-grams | near-dup. sentences | "
          "QC passed | overflows | largest prompt | calls | time | min / 1,000 words |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def line(row: Row) -> str:
    return (f"| {row.name} | {row.words} / {row.target} | {row.s_l:.0f} | "
            f"{row.repeated_5gram:.1%} | {row.near_duplicates} | "
            f"{row.sections_passed}/{row.sections} | {row.overflows} | "
            f"{row.largest_prompt} / {row.window} | {row.calls} | {row.seconds / 60:.1f} min | "
            f"{row.minutes_per_1000:.1f} |")


def total(rows: list[Row]) -> str:
    words = sum(r.words for r in rows)
    seconds = sum(r.seconds for r in rows)
    grams = sum(r.repeated_5gram * max(0, r.words - 4) for r in rows) / max(
        1, sum(max(0, r.words - 4) for r in rows))
    return (f"| **all {len(rows)}** | {words} / {sum(r.target for r in rows)} | "
            f"mean {sum(r.s_l for r in rows) / len(rows):.1f} | {grams:.1%} | "
            f"{sum(r.near_duplicates for r in rows)} | "
            f"{sum(r.sections_passed for r in rows)}/{sum(r.sections for r in rows)} | "
            f"{sum(r.overflows for r in rows)} | {max(r.largest_prompt for r in rows)} | "
            f"{sum(r.calls for r in rows)} | {seconds / 60:.1f} min | "
            f"{seconds / 60 * 1000 / max(1, words):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:default", help="spec for every role")
    parser.add_argument("--only", type=int, nargs="*", help="indexes of the prompts to run")
    parser.add_argument("--work", help="keep checkpoints, texts and results here")
    parser.add_argument("--cache", action="store_true",
                        help="reuse cached calls from --work (times then measure nothing)")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="generate-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    time_tasks()
    rows = []
    print(HEADER, flush=True)
    for number, (name, brief) in enumerate(briefs(args.only)):
        try:
            rows.append(run_one(number, name, brief, args, work))
        except Exception as exc:  # a run that fails is a result too
            print(f"| {name} | failed: {' '.join(str(exc).split())[:200]} |", flush=True)
            continue
        print(line(rows[-1]), flush=True)
        tasks = ", ".join(f"{task} {int(n)} calls {t:.0f} s"
                          for task, (n, t) in (rows[-1].by_task or {}).items())
        print(f"<!-- {name}: {tasks} -->", flush=True)
    if rows:
        print(total(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2), "utf-8")
    print(f"texts and results in {work}")


if __name__ == "__main__":
    main()
