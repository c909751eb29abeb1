"""Peak memory of `chunkwise batch rephrase` streaming a large generated JSON Lines file.

`python -m benchmarks.batch_streaming [--mb 200] [--doc-kb 200]` writes a file of generated
documents (seeded, so every run is the same), then runs `chunkwise batch rephrase` over it in
a child process whose model answers instantly (a scripted echo), and prints a Markdown table:
input size, documents, wall time, documents per minute and the child's peak RSS (its own, from
`wait4`). Memory is flat when the peak RSS does not grow with the input: run it with two sizes
to see. `python -m benchmarks --only batch` runs both sizes into RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.proc import python, run_child

VOCABULARY = (
    "harbor keeper signal coast storm beacon tower stone glass rotation night ship route "
    "weather lamp oil wick lens prism mile cliff tide fog horn logbook relief station supply "
    "winter summer island reef channel pilot chart compass current wave gale calm"
)
WORDS = VOCABULARY.split()


def write_input(path: Path, megabytes: int, doc_kb: int) -> int:
    """Documents of about `doc_kb` KB each until the file holds `megabytes` MB; the count."""
    rng = random.Random(7)
    target, written, count = megabytes * 1_000_000, 0, 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            sentences, size = [], 0
            while size < doc_kb * 1000:
                sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18)))
                sentence = sentence.capitalize() + ". "
                sentences.append(sentence)
                size += len(sentence)
            line = json.dumps({"id": f"doc-{count}", "text": "".join(sentences)}) + "\n"
            out.write(line)
            written += len(line)
            count += 1
    return count


def child(argv: list[str]) -> int:
    """The batch, in this process, with a model that returns each part as it is."""
    from chunkwise import cli
    from chunkwise.commands import common
    from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
    from chunkwise.prompts.rephrase import parse_rewrite_messages

    class Echo(ScriptedChatModel):
        """Answers like a scripted model but keeps no record of its calls: a record of every
        prompt would itself grow with the input and hide what the batch holds."""

        def _answer(self, call: ScriptedCall) -> Any:
            return parse_rewrite_messages(call.messages).current_chunk

    common.MODEL_OVERRIDE = Echo()
    return cli.main(argv)


@dataclass(frozen=True)
class BatchRun:
    input_mb: float
    documents: int
    rows: int
    returncode: int
    seconds: float
    peak_rss_mb: float


def measure(megabytes: int, doc_kb: int = 200, concurrency: int = 4) -> BatchRun:
    """Write the input, run the batch in a child process, and measure it."""
    with tempfile.TemporaryDirectory(prefix="chunkwise-batch-bench-") as tmp:
        work = Path(tmp)
        source = work / "docs.jsonl"
        docs = write_input(source, megabytes, doc_kb)
        argv = ["batch", "rephrase", "--input", str(source), "--output", str(work / "out.jsonl"),
                "--checkpoint-db", str(work / "runs.sqlite"), "--concurrency",
                str(concurrency), "--quiet",
                # one part per document: the benchmark is about the batch, not the splitter
                "--tokenizer", "whitespace", "--chunk-tokens", "40000", "--max-new-tokens",
                "50000", "--context-window", "200000"]
        child_run = run_child(python("-m", "benchmarks.batch_streaming", "--child", *argv),
                              timeout=3600)
        out = work / "out.jsonl"
        rows = sum(1 for _ in out.open("rb")) if out.exists() else 0
        return BatchRun(source.stat().st_size / 1e6, docs, rows, child_run.returncode,
                        child_run.seconds, child_run.max_rss_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="input size in MB (default 200)")
    parser.add_argument("--doc-kb", type=int, default=200, help="document size in KB")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        sys.exit(child(args.child))
    run = measure(args.mb, args.doc_kb, args.concurrency)
    print("| input | documents | rows | exit | wall time | docs/min | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {run.input_mb:.0f} MB jsonl | {run.documents} x {args.doc_kb} KB | {run.rows} | "
          f"{run.returncode} | {run.seconds:.0f} s | {60 * run.documents / run.seconds:.0f} | "
          f"{run.peak_rss_mb:.0f} MB |")


if __name__ == "__main__":
    main()
