"""The QC report (deterministic metrics, plus the optional judge) and the run's result."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from chunkwise.errors import RunFailed
from chunkwise.models.client import ModelClient, Structured
from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.generate.budget import STRUCTURED_REPLY, Fitted, call_fitted, fit_prompt
from chunkwise.nodes.generate.common import (
    can_fall_back,
    check_section,
    ordered,
    plan_of,
    thresholds,
)
from chunkwise.prompts.generate import judge_messages
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import (
    GenerateContext,
    GenerateResult,
    GenerateState,
    GenerationPlan,
    QCReport,
    SectionGrade,
    SectionQC,
    SectionRecord,
)
from chunkwise.text import qc


def _label(check: qc.SectionCheck) -> str:
    return f'section {check.index + 1} "{check.title}"'


def build_report(
    plan: GenerationPlan,
    records: list[SectionRecord],
    texts: list[str],
    ctx: GenerateContext,
) -> QCReport:
    """Every deterministic metric, per section and for the joined text."""
    limits = thresholds(ctx)
    duplicates = qc.near_duplicates(texts, threshold=limits.duplicate_similarity)
    checks = [check_section(plan, r.index, texts[i], texts, ctx, duplicates)
              for i, r in enumerate(records)]
    report = QCReport(ngram=limits.ngram, target_words=plan.target_total_length,
                      consistency_pass_applied=ctx.consistency_pass)
    for check, record in zip(checks, records, strict=True):
        where = _label(check)
        report.coverage_missing += [f"{where}: key point: {p}" for p in check.missing_key_points]
        report.coverage_missing += [f"{where}: entity: {e}" for e in check.missing_entities]
        report.entity_missing += [f"{where}: {e}" for e in check.missing_entities]
        report.terminology_issues += [f'{where}: "{v}" used {n}x instead of "{p}"'
                                      for v, p, n in check.terminology]
        report.do_not_include_violations += [f'{where}: "{item}" mentioned {n}x'
                                             for item, n in check.forbidden]
        if check.voice:
            report.voice_issues.append(f"{where}: {check.voice}")
        if check.concludes_early:
            report.premature_conclusions.append(f'{where}: "{check.concludes_early}"')
        if not check.repetition_ok:
            report.repetition_issues.append(
                f"{where}: {check.repeated_ngram_rate:.1%} of its word {limits.ngram}-grams were "
                "already used"
            )
        report.repetition_issues += [
            f'{where}: near-duplicate of a sentence in section {d.other_section + 1} '
            f'({d.similarity:.2f}): "{d.sentence[:100]}"' for d in check.duplicates
        ]
        report.repetition_issues += [f'{where}: repeats its own sentence: "{s[:100]}"'
                                     for s in check.self_repeats]
        report.discarded_rewrites += [f"{where}: {n}" for n in record.notes
                                      if "discarded" in n]
        report.removed_repeats += [f"{where}: {n}" for n in record.notes if n.startswith(
            ("removed", "left out"))]
        report.length_cuts += [f"{where}: {n}" for n in record.notes if n.startswith("cut from")]
        report.reworded_sentences += [f"{where}: {n}" for n in record.notes
                                      if n.startswith("reworded")]
        report.prompt_trims += [f"{where}: {t}" for t in record.prompt_trims]
        if not check.length_ok:
            report.length_issues.append(
                f"{where}: {check.words} words for {check.target_words} "
                f"(S_l {check.length_score:.0f})"
            )
        if record.revision_note:
            report.section_warnings.append(f"{where}: {record.revision_note}")
        report.sections.append(SectionQC(
            index=check.index, title=check.title, words=check.words,
            target_words=check.target_words, length_score=check.length_score,
            missing_key_points=check.missing_key_points,
            missing_entities=check.missing_entities,
            terminology_violations=[f"{v} -> {p} ({n}x)" for v, p, n in check.terminology],
            do_not_include_violations=[f"{item} ({n}x)" for item, n in check.forbidden],
            voice_issue=check.voice, concludes_early=check.concludes_early,
            repeated_ngram_rate=check.repeated_ngram_rate,
            near_duplicates=[f"section {d.other_section + 1}: {d.sentence[:100]}"
                             for d in check.duplicates],
            passed=check.passed, attempts=record.attempts, revised=record.revised,
        ))
    joined = "\n\n".join(t for t in texts if t.strip())  # a section left out adds no gap
    report.words = qc.count_words(joined)
    report.length_score = round(qc.length_score(plan.target_total_length, report.words), 1)
    report.repeated_ngram_rate = round(qc.repeated_ngram_rate(joined, limits.ngram), 4)
    report.near_duplicate_count = sum(len(c.duplicates) for c in checks)
    if checks:
        report.mean_section_length_score = round(
            sum(c.length_score for c in checks) / len(checks), 1)
    report.revised_sections = [r.index + 1 for r in records if r.revised]
    report.rejected_revisions = [f"section {r.index + 1}: {r.revision_note}" for r in records
                                 if "rejected" in r.revision_note]
    report.passed = all(c.passed for c in checks)
    report.largest_prompt_tokens = max((r.prompt_tokens for r in records), default=0)
    return report


def add_costs(report: QCReport, usage: Usage, seconds: float) -> None:
    """Calls and seconds, in all and per 1,000 words written."""
    report.calls, report.seconds = usage.calls, round(seconds, 3)
    if report.words:
        report.calls_per_1000_words = round(1000 * usage.calls / report.words, 1)
        report.seconds_per_1000_words = round(1000 * seconds / report.words, 3)


def _grade(
    client: ModelClient, plan: GenerationPlan, index: int, text: str
) -> Structured[SectionGrade]:
    """The judge's grade of one section, its prompt fitted like every other."""
    messages = judge_messages(plan, index, text)

    def fit(share: float) -> Fitted:
        return fit_prompt(lambda *_: messages, client=client, reply=STRUCTURED_REPLY,
                          share=share, what=f"the QC judge of section {index + 1}")

    def send(fitted: Fitted) -> Structured[SectionGrade]:
        return client.structured(fitted.messages, SectionGrade, task="qc_judge", item=index)

    return call_fitted(fit, send)[0]


def _judge(
    plan: GenerationPlan, texts: list[str], report: QCReport, ctx: GenerateContext
) -> tuple[Usage, list[str]]:
    usage, warnings = Usage(), list[str]()
    client = ctx.client("judge", ctx.judge_model)
    scores = []
    for section, text in zip(report.sections, texts, strict=True):
        if not text.strip():  # left out: nothing to grade
            continue
        try:  # optional: a judge that cannot take the section leaves a warning, not a failure
            reply = _grade(client, plan, section.index, text)
        except ModelCallError as exc:
            if not can_fall_back(exc):
                raise
            warnings.append(f"section {section.index + 1}: no judge score ({exc.kind})")
            continue
        except RunFailed as exc:
            warnings.append(f"section {section.index + 1}: no judge score ({exc})")
            continue
        usage = usage + reply.usage
        section.judge_score, section.judge_notes = reply.value.score, reply.value.notes
        scores.append(reply.value.score)
    if scores:
        report.judge_mean_score = round(sum(scores) / len(scores), 2)
    return usage, warnings


def check_quality(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    plan = plan_of(state["plan_key"], ctx)
    announce_stage("qc", 1)
    started = time.monotonic()
    records = ordered(state["sections"])
    texts = [store.get(r.text_key) for r in records]
    report = build_report(plan, records, texts, ctx)
    usage, warnings = Usage(), list[str]()
    if ctx.qc_judge:
        usage, warnings = _judge(plan, texts, report, ctx)
    report.section_warnings = [*state["warnings"], *warnings, *report.section_warnings]
    report.context_window = ctx.client("writer", ctx.writer_model).context_window
    final_text = "\n\n".join(t for t in texts if t.strip())
    table = state["table"]
    total_usage = state["usage"] + usage
    add_costs(report, total_usage, state["seconds"] + time.monotonic() - started)
    result = GenerateResult(
        success=True,
        usage=total_usage,
        final_text_key=store.put(final_text),
        words=report.words,
        target_words=plan.target_total_length,
        length_score=report.length_score,
        plan=plan,
        state_table=table,
        qc_report=report,
        sections=records,
        qc_seconds=round(time.monotonic() - started, 3),
    )
    unit_done("qc", ok=report.passed, tokens=usage.total_tokens)
    return {"result": result.to_dict(), "usage": usage, "warnings": warnings}
