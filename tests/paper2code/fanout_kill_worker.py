"""Run paper2code with the call cache off, in a child process the fan-out kill test kills.

Usage: python -m tests.paper2code.fanout_kill_worker PAPER DB LOG ANSWER
The summary calls come in at most 2 at once (`concurrency=2`). The first ANSWER of them are
answered ("answered N" in LOG, N the part); every later one writes "hung N" and blocks forever,
so the parent can kill the run with answered calls behind it and calls in flight. ANSWER -1:
answer every call ("asked N"), the resumed run.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.models.scripted import ScriptedCall
from chunkwise.models.settings import ModelSettings
from tests.paper2code.support import paper_model, part_of

CONCURRENCY = 2


def main(paper: str, db: str, log: str, answer: int) -> None:
    numbers = itertools.count(1)
    lock = threading.Lock()

    def note(line: str) -> None:
        with lock, open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def summarize(call: ScriptedCall) -> str:
        part = part_of(call)
        number = next(numbers)  # itertools.count: one number per call, across threads
        if answer < 0:
            note(f"asked {part}")
        elif number <= answer:
            note(f"answered {part}")
        else:
            note(f"hung {part}")
            while True:
                time.sleep(1)
        return f"Notes on part {part}."

    model = paper_model(summarize_chunk=summarize)
    generator = ChunkedPyTorchGenerator(
        num_chunks=5, chunk_model=model, code_model=model, concurrency=CONCURRENCY,
        checkpoint_db=db, model_settings=ModelSettings(cache=False),
    )
    result = generator.generate_code_for_paper(path=paper, run_id="fanout")
    print(json.dumps({k: result[k] for k in ("success", "successful_chunks", "num_chunks")}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
