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


def fenced(code: str) -> str:
    return f"Here is the code:\n```python\n{code}```\n"


def coder(
    first: str, *repairs: str, **overrides: Callable[[ScriptedCall], Any]
) -> ScriptedChatModel:
    """A paper model whose code is `first` and whose repair rounds return `repairs` in turn
    (the last one again when rounds outnumber them)."""
    replies = list(repairs) or [first]

    def repair(call: ScriptedCall) -> str:
        done = sum(1 for c in model.calls if c.task == "repair_code") - 1
        return fenced(replies[min(done, len(replies) - 1)])

    model = paper_model(write_code=lambda c: fenced(first), repair_code=repair, **overrides)
    return model


# A file that passes the static check and the smoke run without torch (quick to run).
GOOD = '''\
import math


def train_step(step: int) -> float:
    return math.exp(-step)


if __name__ == "__main__":
    for step in range(3):
        print(f"step {step}: loss {train_step(step):.4f}")
'''


WRITE_PATH = re.compile(r"^Write (\S+): ", re.MULTILINE)

# A small repository that runs without torch: model, data, train, then the entry point.
REPO_FILES = {
    "model.py": '''\
import math

from config import Config


class Model:
    def __init__(self, config: Config) -> None:
        self.scale = config.d_model

    def loss(self, step: int) -> float:
        return math.exp(-step) * self.scale
''',
    "data.py": '''\
def batch(step: int) -> int:
    return step
''',
    "train.py": '''\
from data import batch
from model import Model


def train_step(model: Model, step: int) -> float:
    return model.loss(batch(step))
''',
    "main.py": '''\
from config import load_config
from model import Model
from train import train_step

if __name__ == "__main__":
    config = load_config(d_model=2)
    model = Model(config)
    for step in range(3):
        print(f"step {step}: loss {train_step(model, step):.4f}")
''',
}
REPO_PLAN = {
    "files": [
        {"path": "model.py", "purpose": "The gated mixer.", "kind": "model"},
        {"path": "data.py", "purpose": "Random batches.", "kind": "data"},
        {"path": "train.py", "purpose": "One training step.", "kind": "train"},
        {"path": "main.py", "purpose": "A tiny end-to-end run.", "kind": "entry"},
    ],
    "hyperparameters": [
        {"name": "d_model", "value": "256", "description": "model width (Section 3)"},
        {"name": "Learning rate", "value": "3e-4", "description": "Adam"},
        {"name": "dropout", "value": "0.1", "description": ""},
    ],
}


def repo_model(files: dict[str, str] | None = None,
               **overrides: Callable[[ScriptedCall], Any]) -> ScriptedChatModel:
    """A paper model that plans REPO_PLAN and writes `files` (default REPO_FILES)."""
    texts = files or REPO_FILES

    def write(call: ScriptedCall) -> str:
        if str(call.messages[0].content).startswith("You write the README"):
            return "```markdown\n# Gated mixer\n\nRun `python main.py`.\n```"
        match = WRITE_PATH.search(call.last)
        assert match, call.last[-300:]
        return fenced(texts[match.group(1)])

    responders: dict[str, Callable[[ScriptedCall], Any]] = {
        "plan_repo": lambda c: REPO_PLAN, "write_file": write,
    }
    responders.update(overrides)
    return paper_model(**responders)
