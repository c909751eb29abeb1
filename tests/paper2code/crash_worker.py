"""Run paper2code in a child process that the resume test kills with SIGKILL.

Usage: python -m tests.paper2code.crash_worker PAPER DB LOG HANG_AT
Every summarize call appends its part number to LOG once answered; the HANG_AT-th call (0:
none) writes its part to LOG.hang and blocks forever, so the parent can kill mid-summaries.
Counted by calls, not parts: the branches wait together for the run's one call slot, and
which part gets it first is not fixed.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.models.scripted import ScriptedCall
from tests.paper2code.support import paper_model, part_of


def main(paper: str, db: str, log: str, hang_at: int) -> None:
    numbers = itertools.count(1)

    def summarize(call: ScriptedCall) -> str:
        part = part_of(call)
        number = next(numbers)  # itertools.count: one number per call, across threads
        if number == hang_at:
            Path(log + ".hang").write_text(str(part), "utf-8")
            while True:
                time.sleep(1)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{part}\n")
        return f"Notes on part {part}."

    model = paper_model(summarize_chunk=summarize)
    generator = ChunkedPyTorchGenerator(
        num_chunks=5, chunk_model=model, code_model=model, concurrency=1, checkpoint_db=db
    )
    result = generator.generate_code_for_paper(path=paper, run_id="crash")
    print(json.dumps({k: result[k] for k in ("success", "successful_chunks", "num_chunks")}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
