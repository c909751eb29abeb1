"""The drop-in `ChunkWiseGenerationPipeline`: the original README example, `generate(LLMRequest)`
models adapted to the seam, token-to-word conversion, resume by run id."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chunkwise.api.generate import (
    ChunkWiseGenerationPipeline,
    GenerationConfig,
    GenerationPlan,
    LLMRequest,
    SectionSpec,
    WhitespaceTokenizer,
    extract_json,
)
from chunkwise.errors import InputError
from chunkwise.models.settings import ModelSettings
from tests.generate.support import filler, manual_plan, writer_model

ORIGINAL_TASKS = {"plan_generation", "section_generation", "consistency_pass"}
NEW_TASKS = {"state_update", "qc_rewrite", "qc_continue", "consistency_check", "qc_judge", "reword"}


class StubLLM:
    """The README's stub, verbatim: it knows only the original section tasks."""

    def generate(self, request: LLMRequest) -> str:
        if request.task == "section_generation":
            return "Section body with required entities and key points."
        if request.task == "consistency_pass":
            return "Section body with required entities and key points."
        raise ValueError("manual plan run should not call plan_generation")


def readme_plan() -> GenerationPlan:
    return GenerationPlan(
        topic="Chunk-wise generation",
        objective="Teach the method",
        audience="ML engineers",
        tone="neutral technical",
        target_total_length=120,
        sections=[
            SectionSpec(
                title="Intro",
                key_points=["global anchor controls structure"],
                required_entities=["global anchor"],
                constraints=[],
                target_length=120,
            )
        ],
        terminology_preferences={"global anchor": "global anchor"},
        narrative_voice="third-person",
        do_not_include=[],
    )


def test_the_readme_example_runs_and_reports_coverage(tmp_path: Path) -> None:
    pipeline = ChunkWiseGenerationPipeline(
        model=StubLLM(),
        tokenizer=WhitespaceTokenizer(),
        config=GenerationConfig(prefix_window_tokens=800),
    )
    result = pipeline.run(manual_plan=readme_plan())

    assert result.final_text == "Section body with required entities and key points."
    assert result.qc_report.coverage_missing == [
        'section 1 "Intro": key point: global anchor controls structure',
        'section 1 "Intro": entity: global anchor',
    ]
    assert result.section_outputs == [result.final_text]
    assert result.plan.sections[0].target_length == 120
    warnings = " | ".join(result.qc_report.section_warnings)
    # the section is short and breaks no rule: the stub is asked to continue it, and cannot;
    # the only section is the last one, whose state update is derived without a call
    assert "no QC continuation" in warnings and "state table updated" not in warnings
    assert result.final_state.sections_done == 1
    assert result.report["sections"][0]["attempts"] == 1  # the one rewrite asked for failed
    assert result.run_id.startswith("generate-")


class JsonLLM:
    """A `generate(LLMRequest)` model that answers every task, JSON where a schema is asked."""

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    def generate(self, request: LLMRequest) -> str:
        self.requests.append(request)
        if request.task == "plan_generation":
            total = int(re.search(r"Total length: (\d+) words", request.prompt).group(1))
            plan = {"sections": [{"title": f"S{i}", "key_points": [f"point {i}"],
                                  "target_length": total // 2} for i in (1, 2)]}
            return "Here is the plan:\n```json\n" + json.dumps(plan) + "\n```"
        if request.task == "state_update":
            return json.dumps({"new_entities": [{"name": "Ada", "note": "engineer"}],
                               "facts": ["one fact"], "summary": "so far"})
        if request.task == "consistency_check":
            return '{"consistent": true, "problems": []}'
        target = int(re.search(r"Length: about (\d+) words", request.prompt).group(1))
        point = re.search(r"Key points to cover:\n- (.*)", request.prompt).group(1)
        return f"This covers {point}. " + filler(target - 3 - len(point.split()), point)


def test_a_generate_model_answers_every_task_through_the_seam() -> None:
    llm = JsonLLM()
    pipeline = ChunkWiseGenerationPipeline(model=llm, tokenizer=WhitespaceTokenizer())
    result = pipeline.run(topic="Bridges", objective="Explain arches", target_tokens=600,
                          audience="students", tone="plain")

    assert result.plan.target_total_length == 600  # whitespace tokens are words
    assert [s.target_length for s in result.plan.sections] == [300, 300]
    assert {r.task for r in llm.requests} <= ORIGINAL_TASKS | NEW_TASKS
    plan_request = next(r for r in llm.requests if r.task == "plan_generation")
    assert "JSON schema" in plan_request.prompt and '"sections"' in plan_request.prompt
    assert result.final_state.entities[0].name == "Ada"
    assert result.qc_report.passed and result.qc_report.length_score > 95
    assert len(result.section_outputs) == 2


def test_token_targets_become_words_with_the_bpe_ratio() -> None:
    llm = JsonLLM()
    result = ChunkWiseGenerationPipeline(model=llm).run(
        topic="Bridges", objective="Explain arches", target_tokens=800)
    assert result.plan.target_total_length == 600  # 0.75 words per cl100k token


def test_invalid_json_is_sent_back_with_its_errors() -> None:
    answers = iter(["no plan, sorry", '{"sections": [{"title": "A", "key_points": ["a"], '
                    '"target_length": 100}]}'])

    class Flaky(JsonLLM):
        def generate(self, request: LLMRequest) -> str:
            if request.task == "plan_generation":
                self.requests.append(request)
                return next(answers)
            return super().generate(request)

    llm = Flaky()
    result = ChunkWiseGenerationPipeline(model=llm).run(
        topic="T", objective="O", target_words=100)
    _, second = [r for r in llm.requests if r.task == "plan_generation"]
    assert "no plan, sorry" in second.prompt and "does not match the required schema" in (
        second.prompt)
    assert result.plan.sections[0].target_length == 100


def test_a_chat_model_is_used_as_is_and_a_run_id_returns_the_stored_run(tmp_path: Path) -> None:
    model = writer_model()
    config = GenerationConfig(checkpoint_db=str(tmp_path / "runs.sqlite"),
                              model_settings=ModelSettings(cache=False))
    pipeline = ChunkWiseGenerationPipeline(model=model, config=config)
    first = pipeline.run(manual_plan=json.dumps(manual_plan(2)), run_id="same")
    calls = len(model.calls)
    again = pipeline.run(manual_plan=manual_plan(2), run_id="same")
    assert len(model.calls) == calls
    assert again.final_text == first.final_text and again.run_id == "same"
    assert (tmp_path / "runs.blobs.sqlite").exists()


@pytest.mark.parametrize(
    ("plan", "message"),
    [("{not json", "manual plan: not JSON"),
     ({"topic": "t", "objective": "o", "target_total_length": 10, "sections": []},
      "manual plan: sections: List should have at least 1 item"),
     ([1, 2], "must be a JSON object"),
     (readme_plan().model_copy(update={"target_total_length": 300}),
      "manual plan: section target_length values add up to 120 words, not the plan's 300")],
)
def test_bad_manual_plans_fail_before_any_call(plan: Any, message: str) -> None:
    model = writer_model()
    with pytest.raises(InputError, match=re.escape(message)):
        ChunkWiseGenerationPipeline(model=model).run(manual_plan=plan)
    assert model.calls == []


def test_a_brief_needs_topic_and_objective() -> None:
    with pytest.raises(InputError, match="topic and objective are required"):
        ChunkWiseGenerationPipeline(model=writer_model()).run(topic="only a topic")


def test_plan_types_keep_the_original_helpers() -> None:
    plan = GenerationPlan.from_dict(manual_plan(2))
    assert GenerationPlan.from_json(json.dumps(plan.to_dict())) == plan
    assert plan.sections[0].to_dict()["target_length"] == 120
    assert extract_json('Sure! {"a": {"b": 1}} done') == {"a": {"b": 1}}
    with pytest.raises(ValueError):
        extract_json("[1, 2] and no object")
