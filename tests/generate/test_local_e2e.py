"""generate end to end on the real qwen2.5-coder-0.5b (llama.cpp, offline): a planned brief in
two sections fits the model's window everywhere and its text repeats no paragraph or sentence.

Slow (a few minutes on two cores): marked `local_model`, and run serialized with other heavy
jobs (`flock /tmp/chunkwise-heavy.lock pytest -m local_model ...`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.graphs.generate import PIPELINE
from chunkwise.runtime.runner import run_pipeline
from chunkwise.state.generate import GenerateContext
from chunkwise.text import qc
from tests.local_model import skip_unless_small_local_model

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(1800)]

skip_unless_small_local_model()


def test_generate_on_the_small_local_model_fits_and_does_not_repeat(tmp_path: Path) -> None:
    context = GenerateContext(
        planner_model="local:qwen2.5-coder-0.5b", writer_model="local:qwen2.5-coder-0.5b",
        judge_model="local:qwen2.5-coder-0.5b", blob_store=str(tmp_path / "blobs.sqlite"),
    )
    brief = {"topic": "How lighthouses warned ships at night",
             "objective": "explain to children how a lighthouse works",
             "audience": "children", "tone": "friendly", "target_words": 500}
    outcome = run_pipeline(PIPELINE, input=brief, context=context,
                           checkpoint_db=str(tmp_path / "runs.sqlite"), run_id="local-e2e")
    result = outcome.require_result()
    report = result.qc_report
    text = context.store().get(result.final_text_key)

    assert result.success and qc.count_words(text) > 100
    # every prompt fitted: none refused for its length, the largest within the window
    assert not [w for w in report.section_warnings if "context" in w.lower()]
    assert 0 < report.largest_prompt_tokens < report.context_window == 8192
    # no paragraph twice, and no sentence nearly repeating another
    paragraphs = [" ".join(p.split()).lower() for p in text.split("\n\n") if p.strip()]
    assert len(paragraphs) == len(set(paragraphs))
    assert qc.self_repeats(text) == []
    assert report.calls == result.usage.calls > 0 and report.seconds_per_1000_words > 0
