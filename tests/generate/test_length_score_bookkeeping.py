"""The length score S_l's bookkeeping through the whole pipeline, on LongBench-Write prompts.

Not a LongBench-Write evaluation: the scripted writer produces 97% of each section's target by
construction, so these tests measure no model. They check that the plan's lengths add up to
the prompt's, that the report counts the words of the final text, that every S_l in the report
(per section and overall) is the benchmark's formula on those counts, and that sections too
short are rewritten to length. The prompts come from ../shared/eval/longbench-write (read in
place, never copied); the tests skip when that folder is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chunkwise.models.scripted import ScriptedCall
from chunkwise.text.qc import count_words
from tests.generate.conftest import Runner, text_of
from tests.generate.support import section_text, writer_model

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BENCH = SHARED / "eval" / "longbench-write"
LENGTHS = (100, 400, 1200, 3000, 6000, 12000)  # one English prompt each, plus a 20k ruler one


def s_l(required: int, actual: int) -> float:
    """The benchmark's length score, written out independently of chunkwise.text.qc."""
    if actual > required:
        return 100 * max(0.0, 1 - (actual / required - 1) / 3)
    return 100 * max(0.0, 1 - (required / actual - 1) / 2)


def prompts() -> list[dict[str, Any]]:
    if not BENCH.is_dir():
        pytest.skip("../shared/eval/longbench-write is not present")
    rows = [json.loads(line) for line in (BENCH / "longbench_write_en.jsonl").read_text(
        "utf-8").splitlines() if line.strip()]
    picked = {}
    for row in rows:
        picked.setdefault(row["length"], row)
    chosen = [picked[n] for n in LENGTHS]
    ruler = [json.loads(line) for line in (BENCH / "longwrite_ruler.jsonl").read_text(
        "utf-8").splitlines() if line.strip()]
    chosen.append(next(r for r in ruler if r["length"] == 20000 and r["prompt"].isascii()))
    return chosen


def planner(call: ScriptedCall) -> dict[str, Any]:
    """Follows the plan prompt; its lengths are uneven on purpose (the graph fits them)."""
    total = int(re.search(r"Total length: (\d+) words", call.prompt).group(1))
    count = int(re.search(r"About (\d+) section", call.prompt).group(1))
    sections = [{"title": f"Part {i + 1}", "key_points": [f"aspect number {i + 1}"],
                 "target_length": total // count + (7 if i == 0 else 0)} for i in range(count)]
    return {"sections": sections, "narrative_voice": "third-person"}


def brief(row: dict[str, Any]) -> dict[str, Any]:
    return {"topic": row["prompt"], "objective": "Answer the request as written",
            "target_words": row["length"]}


def test_report_length_scores_are_the_benchmark_formula_on_the_words_written(
    run_generate: Runner, tmp_path: Path
) -> None:
    for number, row in enumerate(prompts()):
        model = writer_model(plan=planner, write=lambda c: section_text(c, ratio=0.97))
        result = run_generate(brief(row), model, run_id=f"lb-{number}").values["result"]
        report = result["qc_report"]
        final = text_of(tmp_path, result["final_text_key"])

        assert row["prompt"].strip() in model.calls_for("plan_generation")[0].prompt
        assert sum(s["target_length"] for s in result["plan"]["sections"]) == row["length"]
        assert report["words"] == count_words(final)
        assert report["length_score"] == pytest.approx(s_l(row["length"], report["words"]),
                                                       abs=0.05)
        assert report["length_score"] >= 95, (row["length"], report["words"])
        for section in report["sections"]:
            assert section["length_score"] == pytest.approx(
                s_l(section["target_words"], section["words"]), abs=0.05)
        assert report["passed"], (row["length"], report)
        assert len(model.calls_for("qc_rewrite")) == 0


def test_short_sections_are_continued_to_length(run_generate: Runner) -> None:
    row = next(r for r in prompts() if r["length"] == 3000)

    def short_first(call: ScriptedCall) -> str:
        return section_text(call, ratio=0.45)

    model = writer_model(plan=planner, write=short_first)
    result = run_generate(brief(row), model, run_id="short-0", max_retries=0).values["result"]
    report = result["qc_report"]
    sections = len(result["plan"]["sections"])
    assert len(report["length_issues"]) == sections and not report["passed"]
    assert report["length_score"] == pytest.approx(s_l(3000, report["words"]), abs=0.05)
    assert report["length_score"] < 45

    model = writer_model(plan=planner, write=short_first, rewrite=section_text)
    result = run_generate(brief(row), model, run_id="short-1").values["result"]
    report = result["qc_report"]
    # a short section that breaks no rule is continued (one call adding what it lacks), not
    # written again
    assert not model.calls_for("qc_rewrite")
    assert len(model.calls_for("qc_continue")) == sections
    asked = re.search(r"Write about (\d+) more words", model.calls_for("qc_continue")[0].prompt)
    target = result["plan"]["sections"][0]["target_length"]
    kept = count_words(short_first(model.calls_for("section_generation")[0]))
    assert asked is not None and int(asked.group(1)) == target - kept
    assert report["passed"] and report["length_score"] >= 95
