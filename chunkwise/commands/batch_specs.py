"""The pipelines `chunkwise batch` runs, by name: each command module's `BATCH`."""

from __future__ import annotations

from chunkwise.commands import generate, paper2code, rephrase
from chunkwise.commands.batch_work import BatchSpec

SPECS: dict[str, BatchSpec] = {
    "rephrase": rephrase.BATCH,
    "generate": generate.BATCH,
    "paper2code": paper2code.BATCH,
}
