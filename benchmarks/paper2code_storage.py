"""paper2code on a synthetic 18M-character paper: chunk count, wall time and storage.

The summaries come from a scripted model, so the numbers measure chunkwise itself (loading,
splitting, fan-out, checkpointing, blob storage), not a provider. Run:

    python -m benchmarks.paper2code_storage [--chars 18000000] [--chunk-window 200000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.models.settings import ModelSettings

SECTION = (
    "## Section {n}\n\n"
    + "We study attention with $O(n^2)$ cost and propose a linear variant. " * 40
    + "\n\n$$\nE = mc^2 + \\sum_i x_i\n$$\n\n"
)


def _paper(path: Path, chars: int) -> Path:
    parts, size, n = ["# A very long paper\n\n"], 0, 0
    while size < chars:
        block = SECTION.format(n=n)
        parts.append(block)
        size += len(block)
        n += 1
    path.write_text("".join(parts), "utf-8")
    return path


def _model() -> ScriptedChatModel:
    part = re.compile(r"This is part (\d+) of")

    def summarize(call: ScriptedCall) -> str:
        match = part.search(call.prompt)
        return f"Notes on part {match.group(1) if match else '?'}: linear attention, E = mc^2."

    return ScriptedChatModel(responders={
        "summarize_chunk": summarize,
        "collapse_summaries": lambda c: "Merged notes.",
        "recommend_datasets": lambda c: {"task": "lm", "recommended_dataset": "wikitext-103"},
        "write_code": lambda c: "```python\nimport torch\n```",
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=18_000_000)
    parser.add_argument("--chunk-window", type=int, default=200_000,
                        help="context window of the chunk model (200k: Claude 3 Haiku)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paper = _paper(root / "paper.md", args.chars)
        model = _model()
        started = time.perf_counter()
        result = ChunkedPyTorchGenerator(
            chunk_model=model, code_model=model, checkpoint_db=str(root / "runs.sqlite"),
            model_settings=ModelSettings(context_window=args.chunk_window),
        ).generate_code_for_paper(path=str(paper))
        elapsed = time.perf_counter() - started
        checkpoints = sum(p.stat().st_size for p in root.glob("runs.sqlite*"))
        blobs = sum(p.stat().st_size for p in root.glob("runs.blobs.sqlite*"))
        size = paper.stat().st_size
    print(f"| input | {size / 1e6:.1f} MB |")
    print(f"| chunks | {result['num_chunks']} (success: {result['success']}) |")
    print(f"| wall time | {elapsed:.1f} s |")
    print(f"| checkpoint DB | {checkpoints / 1e6:.2f} MB ({checkpoints / size:.3f} x input) |")
    print(f"| blob store | {blobs / 1e6:.2f} MB ({blobs / size:.3f} x input) |")


if __name__ == "__main__":
    main()
