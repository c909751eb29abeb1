"""Scripted paper2code models shared by tests and the crash worker."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel

CODE = "```python\nimport torch\n\n\nif __name__ == '__main__':\n    print(torch.zeros(1))\n```"
PART = re.compile(r"This is part (\d+) of (\d+)")


def part_of(call: ScriptedCall) -> int:
    """The 1-based chunk number a summarize call is about."""
    match = PART.search(call.prompt)
    assert match, call.prompt[:200]
    return int(match.group(1))


def paper_model(**overrides: Callable[[ScriptedCall], Any]) -> ScriptedChatModel:
    responders: dict[str, Callable[[ScriptedCall], Any]] = {
        "summarize_chunk": lambda c: f"## Key ideas\nNotes on part {part_of(c)}.",
        "collapse_summaries": lambda c: "## Key ideas\nMerged notes.",
        "recommend_datasets": lambda c: {
            "task": "text classification",
            "recommended_dataset": "ag_news",
            "candidates": [{"name": "ag_news", "why": "used in the paper", "source": "hf"}],
        },
        "write_code": lambda c: CODE,
    }
    responders.update(overrides)
    return ScriptedChatModel(responders=responders)


class ConcurrencyProbe:
    """A slow summarize responder that records how many calls ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, call: ScriptedCall) -> str:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.seconds)
        with self._lock:
            self.active -= 1
        return "notes"
