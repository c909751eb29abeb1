"""`chunkwise batch` in a child process that the speeches test kills with SIGKILL.

Usage: python -m tests.batch.kill_worker LOG HANG_AFTER MODEL_NAME -- ARGV...
Every answered rewrite call appends its identity (a hash of its prompt) to LOG. With
HANG_AFTER > 0, every call after that many blocks for good and the first to block writes
LOG.hang, so the parent kills the batch while documents are in flight.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from chunkwise import cli
from chunkwise.commands import common
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from tests.batch.support import identity
from tests.rephrase.support import echo


def main(log: str, hang_after: int, name: str, argv: list[str]) -> int:
    lock = threading.Lock()
    answered = [0]

    def rewrite(call: ScriptedCall) -> str:
        with lock:
            answered[0] += 1
            hang = 0 < hang_after < answered[0]
        if hang:
            Path(log + ".hang").touch()
            while True:
                time.sleep(1)
        text = echo(call)
        with lock, open(log, "a", encoding="utf-8") as handle:
            handle.write(identity(call) + "\n")
        return text

    common.MODEL_OVERRIDE = ScriptedChatModel(responders={"rewrite": rewrite}, model_name=name)
    return cli.main(argv)


if __name__ == "__main__":
    split = sys.argv.index("--")
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[split + 1 :]))
