"""The README's embedding example runs: a host graph with rephrase as a node and called from a
host node, under the host's SQLite checkpointer; a second invoke of the finished thread makes
no model call."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from chunkwise.models.settings import ModelSettings
from chunkwise.state.rephrase import RephraseContext
from tests.rephrase.support import echo
from tests.rephrase.support import model as rewrite_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "host_graph.py"
TEXT = ("The committee met in Geneva in 1950 with 12 delegations. It agreed on three rules. "
        "Each rule was written by a different delegation.\n\n") * 4


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("host_graph_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its TypedDict's annotations resolve through it
    spec.loader.exec_module(module)
    return module


def test_the_host_graph_example_runs_and_resumes(tmp_path: Path) -> None:
    example = _example()
    model = rewrite_model(echo)
    db = str(tmp_path / "host.sqlite")
    host = example.build_host(example.saver(db))
    context = RephraseContext(rewriter_model=model, blob_store=db + ".blobs",
                              models=ModelSettings(cache=False), tokenizer="whitespace",
                              chunk_tokens=40, overlap_tokens=8)
    config: Any = {"configurable": {"thread_id": "t"}}
    out = host.invoke({"text": TEXT, "style": "simpler"}, config, context=context,
                      durability="sync")
    assert out["report"].endswith("flagged") and out["study_notes"].strip()
    assert out["result"]["success"]
    calls = len(model.calls)
    assert calls > 0
    again = example.build_host(example.saver(db)).invoke(None, config, context=context)
    assert again["study_notes"] == out["study_notes"] and len(model.calls) == calls
