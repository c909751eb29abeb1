"""rephrase end to end on the real qwen2.5-coder-0.5b (llama.cpp, offline): a slice of the
deep-review corpus in the "simpler" style fits the model's window and the rewrite repeats no
paragraph; the report says how much each part changed.

Slow (a few minutes on two cores): marked `local_model`, and run serialized with other heavy
jobs (`flock /tmp/chunkwise-heavy.lock pytest -m local_model ...`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.graphs.rephrase import PIPELINE
from chunkwise.runtime.runner import run_pipeline
from chunkwise.state.rephrase import RephraseContext, RephraseReport
from tests.local_model import skip_unless_small_local_model

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(1800)]

skip_unless_small_local_model()


def test_rephrase_on_the_small_local_model_fits_and_does_not_repeat(
    tmp_path: Path, shared: Path
) -> None:
    lines = (shared / "corpus/review/02.intro.md").read_text("utf-8").splitlines()
    text = "\n".join(lines[:12]).strip() + "\n"
    context = RephraseContext(rewriter_model="local:qwen2.5-coder-0.5b",
                              blob_store=str(tmp_path / "blobs.sqlite"), max_retries=1)
    outcome = run_pipeline(PIPELINE, input={"text": text, "style": "simpler"}, context=context,
                           checkpoint_db=str(tmp_path / "runs.sqlite"), run_id="local-e2e")
    result = outcome.require_result()  # a prompt over the window would have failed the run
    store = context.store()
    output = store.get(result.output_key)
    report = RephraseReport.load(store, result.report_key)

    assert result.success and report.totals.chunks >= 2 and output.strip()
    paragraphs = [" ".join(p.split()).lower() for p in output.split("\n\n") if p.strip()]
    assert len(paragraphs) == len(set(paragraphs))
    assert all(0.0 <= part.changed <= 1.0 for part in report.chunks)
    assert report.totals.changed > 0  # the style changed something
