"""paper2code with --validate over five papers: does the generated code parse, pass the static
check and run (before and after repair)?

Papers: the bundled example, two more short papers in examples/, and excerpts of
`../shared/papers/attention` (LaTeX: abstract, introduction, model architecture, training) and of
a Dive into Deep Learning chapter (`../shared/corpus/textbook/lstm.md`: the model, without the
implementation sections), written to the work folder at run time (a 1.5B model on two cores
takes minutes per thousand words). Those from ../shared are skipped when it is absent. Run (slow
on the local model: serialise it):

    flock /tmp/chunkwise-heavy.lock python -m benchmarks.paper2code_quality \
        [--model SPEC] [--max-repairs 3] [--work DIR] [--only NAME ...]

`--work DIR` keeps checkpoints, the call cache and each paper's result JSON and code there,
so a rerun after a prompt change pays only for the calls whose prompt changed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from chunkwise.api.paper2code import ChunkedPyTorchGenerator

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# (name, file, the 1-based inclusive line ranges to keep, or () for the whole file)
PAPERS: tuple[tuple[str, Path, tuple[tuple[int, int], ...]], ...] = (
    ("gated_mixer (example)", REPO / "examples" / "gated_mixer_paper.md", ()),
    ("gated_residual_tabular", REPO / "examples" / "gated_residual_tabular_paper.md", ()),
    ("keyword_spotting", REPO / "examples" / "keyword_spotting_paper.md", ()),
    ("attention (../shared, excerpt)",
     SHARED / "papers" / "attention" / "Transformer_cleaned.tex", ((1, 19), (30, 147), (191, 218))),
    ("d2l_lstm (../shared, excerpt)", SHARED / "corpus" / "textbook" / "lstm.md", ((1, 237),)),
)


def excerpt(paper: Path, ranges: tuple[tuple[int, int], ...], work: Path) -> Path:
    """The paper itself, or its kept line ranges written beside the run's other files."""
    if not ranges:
        return paper
    lines = paper.read_text("utf-8").splitlines()
    kept = [line for first, last in ranges for line in lines[first - 1:last]]
    target = work / f"excerpt-{paper.name}"
    target.write_text("\n".join(kept) + "\n", "utf-8")
    return target


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else "yes" if flag else "no"


def run_paper(name: str, paper: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    slug = name.split()[0]
    started = time.monotonic()
    result = ChunkedPyTorchGenerator(
        num_chunks=args.num_chunks, chunk_model=args.model, code_model=args.model,
        checkpoint_db=str(work / "runs.sqlite"), validate=True, max_repairs=args.max_repairs,
        validate_timeout=args.validate_timeout, layout=args.layout,
    ).generate_code_for_paper(path=str(paper), run_id=f"{slug}-{int(time.time())}")
    seconds = time.monotonic() - started
    (work / f"{slug}.json").write_text(json.dumps(result, indent=2), "utf-8")
    if result.get("code"):
        (work / f"{slug}.py").write_text(result["code"], "utf-8")
    return {**result, "_seconds": seconds}


def row(name: str, result: dict[str, Any]) -> tuple[str, dict[str, bool | None]]:
    check = result.get("validation") or {}
    history = check.get("history") or [{}]
    first = history[0]
    facts = {
        "parses": first.get("compiles"),
        "static": first.get("static_passed"),
        "before": bool(first.get("smoke_ok")),
        "after": bool(check.get("passed")),
    }
    error = "" if check.get("passed") else (history[-1].get("error") or result.get("error") or "")
    fixes = sum(len(attempt.get("auto_fixes") or []) for attempt in history)
    line = (f"| {name} | {_yes(facts['parses'])} | {_yes(facts['static'])} | "
            f"{_yes(facts['before'])} | {_yes(facts['after'])} | {check.get('repairs', '-')} | "
            f"{fixes} | {result['_seconds'] / 60:.1f} min | {error[:90]} |")
    return line, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model spec for both roles (default: the defaults, "
                        "i.e. the local model without credentials)")
    parser.add_argument("--max-repairs", type=int, default=3)
    parser.add_argument("--validate-timeout", type=float, default=120.0)
    parser.add_argument("--num-chunks", type=int, default=5)
    parser.add_argument("--layout", choices=["file", "repo"], default="file")
    parser.add_argument("--work", help="keep runs, cache and outputs here (default: temporary)")
    parser.add_argument("--only", nargs="*", help="paper names (prefixes) to run")
    args = parser.parse_args()
    papers = [(n, p, r) for n, p, r in PAPERS if p.exists()
              and (not args.only or any(n.startswith(o) for o in args.only))]
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        print("| paper | parses | static check | smoke before repair | smoke after repair | "
              "repair rounds | fixes without a model call | time | last error |")
        print("|---|---|---|---|---|---|---|---|---|")
        totals = {"parses": 0, "static": 0, "before": 0, "after": 0}
        rounds, seconds = 0, 0.0
        for name, paper, ranges in papers:
            result = run_paper(name, excerpt(paper, ranges, work), work, args)
            line, facts = row(name, result)
            print(line, flush=True)
            for key, value in facts.items():
                totals[key] += bool(value)
            rounds += int((result.get("validation") or {}).get("repairs", 0))
            seconds += result["_seconds"]
        n = len(papers)
        print(f"| **total** | {totals['parses']}/{n} | {totals['static']}/{n} | "
              f"{totals['before']}/{n} | {totals['after']}/{n} | {rounds} | | "
              f"{seconds / 60:.1f} min | |")


if __name__ == "__main__":
    main()
