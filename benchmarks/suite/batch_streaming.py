"""7. Batch streaming: peak memory of `chunkwise batch rephrase` as its input grows tenfold.

Runs `benchmarks.batch_streaming` (see its docstring) at two input sizes: a seeded JSON Lines
file of 200 KB documents, rephrased by `chunkwise batch rephrase --concurrency 4` in a child
process whose model echoes each part instantly. Memory is flat when the child's peak RSS does
not grow with the input.
"""

from __future__ import annotations

from benchmarks.batch_streaming import measure
from benchmarks.registry import RunContext, benchmark
from benchmarks.report import Section, Table, Target

NAME = "batch"
TITLE = "7. Batch streaming: memory against input size"
SIZES, QUICK_SIZES = (20, 200), (5, 50)  # MB
DOC_KB, CONCURRENCY = 200, 4
FLAT_MB = 100  # growth of the peak RSS over a tenfold input still called flat


@benchmark(NAME, TITLE, order=70)
def run(ctx: RunContext) -> Section:
    section = Section(NAME, TITLE, about=__doc__.split("\n\n", 1)[1].strip())
    rows = []
    for mb in QUICK_SIZES if ctx.quick else SIZES:
        ctx.log(f"  {mb} MB")
        rows.append(measure(mb, DOC_KB, CONCURRENCY))
    section.tables.append(Table(
        ["input", "documents", "rows out", "exit", "wall time", "docs/min", "peak RSS"],
        [[f"{r.input_mb:.0f} MB jsonl", f"{r.documents} x {DOC_KB} KB", str(r.rows),
          str(r.returncode), f"{r.seconds:.0f} s", f"{60 * r.documents / r.seconds:.0f}",
          f"{r.peak_rss_mb:.0f} MB"] for r in rows],
    ))
    growth = rows[-1].peak_rss_mb - rows[0].peak_rss_mb
    ok = all(r.returncode == 0 and r.rows == r.documents for r in rows)
    section.targets.append(Target(
        "peak RSS over a tenfold input (issue 10: flat)", f"< +{FLAT_MB} MB", f"+{growth:.0f} MB",
        None if ctx.quick or not ok else growth < FLAT_MB))
    section.commands += [
        f"python -m benchmarks.batch_streaming --mb {r.input_mb:.0f} --doc-kb {DOC_KB} "
        f"--concurrency {CONCURRENCY}" for r in rows]
    section.data = {"rows": [r.__dict__ for r in rows]}
    return section
