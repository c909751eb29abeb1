"""`python -m benchmarks`: run the benchmark suite and write benchmarks/RESULTS.md.

    python -m benchmarks                 # every benchmark, full size (about 30 min)
    python -m benchmarks --quick         # a short run of each (marked as quick in RESULTS.md)
    python -m benchmarks --only throughput --only resume
    python -m benchmarks --list

Run it under `flock /tmp/chunkwise-heavy.lock ...` on a shared machine: the numbers are times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from benchmarks import machine
from benchmarks.registry import REPO, RunContext, discover
from benchmarks.report import Section, render

HERE = Path(__file__).resolve().parent


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    suite = discover()
    names = [b.name for b in suite]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run chunkwise's benchmarks and write benchmarks/RESULTS.md with plots.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run of each benchmark")
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(names)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results", type=Path, default=HERE / "results",
                        help="folder for sections and plots (default benchmarks/results)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md",
                        help="the Markdown report (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    if args.list:
        for bench in suite:
            print(f"{bench.name:12} {bench.title}")
        return 0

    args.results.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(quick=args.quick, results=args.results, log=_log)
    selected = [b for b in suite if not args.only or b.name in args.only]
    failed = []
    for bench in selected:
        _log(f"{bench.name}: start{' (quick)' if args.quick else ''}")
        load = machine.load_average()
        measured = machine.commit(REPO)  # the code as it was when the benchmark started
        started = time.perf_counter()
        try:
            section = bench.run(ctx)
        except Exception as exc:
            traceback.print_exc()
            failed.append(bench.name)
            section = Section(bench.name, bench.title,
                              skipped=f"failed: {type(exc).__name__}: {exc}")
        section.order = bench.order
        section.quick = args.quick
        section.ran_at = time.strftime("%Y-%m-%d %H:%M")
        section.commit = measured
        section.load_average = load
        section.seconds = time.perf_counter() - started
        section.save(args.results)
        _log(f"{bench.name}: done in {section.seconds:.0f} s")

    described = machine.describe()
    (args.results / "machine.json").write_text(json.dumps(described, indent=1) + "\n", "utf-8")
    sections = [Section.load(p) for p in sorted(args.results.glob("*.json"))
                if p.name != "machine.json"]
    relative = Path(args.results).resolve().relative_to(args.out.resolve().parent)
    args.out.write_text(render(sections, described, relative.as_posix()), "utf-8")
    _log(f"wrote {args.out}")
    if failed:
        _log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
