"""rephrase on the local default model: corpus slices under two styles.

Slices of about 850 words from `../shared/corpus` (read in place: the review's introduction,
with citations; a textbook chapter, with numbers, formulas and code; a State of the Union
address), each rewritten in two styles through the rephrase graph in this process. For each:
parts, parts flagged by the fidelity checks, parts the style left nearly unchanged, numbers and
citations of the source kept in the output, how much of the text changed (share of words),
retries, calls and seconds. Run it alone, serialized with other heavy jobs:

    flock /tmp/chunkwise-heavy.lock python -m benchmarks.rephrase_quality \
        [--model local:qwen2.5-coder-1.5b] [--styles simpler academic] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chunkwise.graphs.rephrase import PIPELINE
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.runner import run_pipeline
from chunkwise.state.rephrase import RephraseContext, RephraseReport
from chunkwise.text.decoding import decode_text
from chunkwise.text.fidelity import changed_share, citations_kept, numbers_kept

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
SLICES = (
    ("review intro", "review/02.intro.md"),
    ("textbook lstm", "textbook/lstm.md"),
    ("speech 1961", "speeches/1961-Kennedy.txt"),
)
WORDS = 850


def slice_of(path: Path, words: int = WORDS) -> str:
    """The first lines of a file holding at least `words` words (cut at a line end)."""
    text = decode_text(path.read_bytes(), str(path)).replace("\r\n", "\n")
    out, count = [], 0
    for line in text.splitlines(keepends=True):
        out.append(line)
        count += len(re.findall(r"\b[a-zA-Z]+\b", line))
        if count >= words and line.strip() and line.rstrip()[-1:] in ".!?":
            break
    return "".join(out).strip() + "\n"


@dataclass
class Row:
    text: str
    style: str
    words: int
    parts: int
    flagged: int
    unchanged: int
    numbers: tuple[int, int]
    citations: tuple[int, int]
    changed: float
    retries: int
    calls: int
    seconds: float


def run_one(
    number: int, name: str, text: str, style: str, args: argparse.Namespace, work: Path
) -> Row:
    context = RephraseContext(
        rewriter_model=args.model, judge_model=args.model,
        models=ModelSettings(cache=args.cache), blob_store=str(work / "blobs.sqlite"),
    )
    started = time.monotonic()
    outcome = run_pipeline(PIPELINE, input={"text": text, "style": style}, context=context,
                           checkpoint_db=str(work / "runs.sqlite"),
                           run_id=f"rephrase-quality-{number}-{int(time.time())}")
    seconds = time.monotonic() - started
    result = outcome.require_result()
    store = context.store()
    output = store.get(result.output_key)
    report = RephraseReport.load(store, result.report_key)
    slug = "".join(c if c.isalnum() else "_" for c in f"{name}-{style}")
    (work / f"{slug}.md").write_text(output, "utf-8")
    (work / f"{slug}.json").write_text(report.model_dump_json(indent=2), "utf-8")
    return Row(
        text=name, style=style, words=len(re.findall(r"\b[a-zA-Z]+\b", text)),
        parts=report.totals.chunks, flagged=report.totals.flagged,
        unchanged=report.totals.unchanged, numbers=numbers_kept(text, output),
        citations=citations_kept(text, output), changed=round(changed_share(text, output), 3),
        retries=report.totals.retries, calls=report.totals.calls, seconds=round(seconds, 1),
    )


HEADER = ("| text | style | parts | flagged | unchanged | numbers kept | citations kept | "
          "words changed | retries | calls | time |\n|---|---|---|---|---|---|---|---|---|---|---|")


def _share(kept: tuple[int, int]) -> str:
    return "-" if not kept[1] else f"{kept[0]}/{kept[1]}"


def line(row: Row) -> str:
    return (f"| {row.text} ({row.words} words) | {row.style} | {row.parts} | {row.flagged} | "
            f"{row.unchanged} | {_share(row.numbers)} | {_share(row.citations)} | "
            f"{row.changed:.0%} | {row.retries} | {row.calls} | {row.seconds:.0f} s |")


def total(rows: list[Row]) -> str:
    numbers = (sum(r.numbers[0] for r in rows), sum(r.numbers[1] for r in rows))
    cites = (sum(r.citations[0] for r in rows), sum(r.citations[1] for r in rows))
    return (f"| **all {len(rows)} runs** | | {sum(r.parts for r in rows)} | "
            f"{sum(r.flagged for r in rows)} | {sum(r.unchanged for r in rows)} | "
            f"{_share(numbers)} | {_share(cites)} | "
            f"{sum(r.changed for r in rows) / len(rows):.0%} (mean) | "
            f"{sum(r.retries for r in rows)} | {sum(r.calls for r in rows)} | "
            f"{sum(r.seconds for r in rows) / 60:.1f} min |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:default", help="spec for every role")
    parser.add_argument("--styles", nargs="+", default=["simpler", "academic"])
    parser.add_argument("--only", type=int, nargs="*", help="indexes of the slices to run")
    parser.add_argument("--work", help="keep checkpoints, outputs and reports here")
    parser.add_argument("--cache", action="store_true", help="reuse cached calls from --work")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"{CORPUS} is not present: the benchmark needs ../shared")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="rephrase-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    print(HEADER, flush=True)
    number = 0
    for index, (name, path) in enumerate(SLICES):
        if args.only is not None and index not in args.only:
            continue
        text = slice_of(CORPUS / path)
        for style in args.styles:
            number += 1
            try:
                rows.append(run_one(number, name, text, style, args, work))
            except Exception as exc:  # a run that fails is a result too
                print(f"| {name} | {style} | failed: {' '.join(str(exc).split())[:200]} |")
                continue
            print(line(rows[-1]), flush=True)
    if rows:
        print(total(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2), "utf-8")
    print(f"outputs and reports in {work}")


if __name__ == "__main__":
    main()
