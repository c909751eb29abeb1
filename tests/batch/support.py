"""Running `chunkwise batch` in tests: in-process with a scripted model, and reading rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from chunkwise import cli
from chunkwise.commands import common
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from tests.rephrase.support import echo


def identity(call: ScriptedCall) -> str:
    """One model call, as what was asked: the same prompt twice is the same call paid twice."""
    return hashlib.sha256(call.prompt.encode("utf-8")).hexdigest()[:16]


def echo_model(name: str = "scripted") -> ScriptedChatModel:
    """Rewrites each part as itself; `name` keeps its cached calls apart from other tests'."""
    return ScriptedChatModel(responders={"rewrite": echo}, model_name=name)


def run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], model: Any = None) -> int:
    """`chunkwise ARGV` in this process, every role answered by `model`."""
    monkeypatch.setattr(common, "MODEL_OVERRIDE", model)
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code or 0)


def rows(path: Path) -> dict[str, dict[str, Any]]:
    """Output rows by run id; each line must be one whole row."""
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text("utf-8").splitlines():
        row = json.loads(line)
        assert row["run_id"] not in found, f"two rows for {row['run_id']}"
        found[row["run_id"]] = row
    return found


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), "utf-8")
    return path


def docs(count: int, words: int = 300, prefix: str = "") -> list[dict[str, Any]]:
    """Documents of distinct sentences, long enough for several parts at 256 tokens."""
    return [
        {"id": f"d{i}", "text": " ".join(
            f"{prefix}Sentence {j} of document {i} says something plain." for j in range(words // 8)
        )}
        for i in range(count)
    ]
