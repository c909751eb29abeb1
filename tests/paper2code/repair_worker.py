"""Run paper2code in a child process that the repair-resume test kills with SIGKILL.

Usage: python -m tests.paper2code.repair_worker PAPER DB LOG HANG_AT
The code model writes a file with an undefined name; repair round n returns a file with
another undefined name, so every round fails and the loop runs to its bound (3). Every
answered write_code / repair_code call appends a line to LOG; repair round HANG_AT (0: none)
writes LOG.hang and blocks forever. The call cache is off, so a repeated call would show.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from chunkwise.api.paper2code import ChunkedPyTorchGenerator
from chunkwise.models.scripted import ScriptedCall
from chunkwise.models.settings import ModelSettings
from tests.paper2code.support import fenced, paper_model

ROUND = re.compile(r"undefined name 'undefined_(\d+)'")


def code(n: int) -> str:
    return f"if __name__ == '__main__':\n    print('loss', undefined_{n})\n"


def main(paper: str, db: str, log: str, hang_at: int) -> None:
    def record(line: str) -> None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def write(call: ScriptedCall) -> str:
        record("write")
        return fenced(code(0))

    def repair(call: ScriptedCall) -> str:
        match = ROUND.search(call.last)
        assert match, call.last
        number = int(match.group(1)) + 1
        if number == hang_at:
            Path(log + ".hang").write_text("hanging", "utf-8")
            while True:
                time.sleep(1)
        record(f"repair {number}")
        return fenced(code(number))

    def summarize(call: ScriptedCall) -> str:
        record("summarize")
        return "## Key ideas\nNotes."

    model = paper_model(write_code=write, repair_code=repair, summarize_chunk=summarize)
    generator = ChunkedPyTorchGenerator(
        num_chunks=2, chunk_model=model, code_model=model, concurrency=1, checkpoint_db=db,
        model_settings=ModelSettings(cache=False), max_repairs=3,
    )
    result = generator.generate_code_for_paper(path=paper, run_id="repair-crash")
    print(json.dumps({"success": result["success"], "validation": result.get("validation")}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
