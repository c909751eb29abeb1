"""Join the rewritten parts into the output and write the report."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from chunkwise.errors import RunFailed
from chunkwise.models.usage import Usage
from chunkwise.nodes.rephrase.common import load_text, records_back
from chunkwise.state.rephrase import (
    PartReport,
    RephraseContext,
    RephraseReport,
    RephraseResult,
    RephraseState,
    ReportTotals,
)
from chunkwise.text.tokens import resolve_tokenizer, tokenizer_name


def stitch_output(state: RephraseState, runtime: Runtime[RephraseContext]) -> dict[str, Any]:
    """Regions partition the input, so the output is their rewrites joined in order."""
    ctx = runtime.context
    store = ctx.store()
    records = list(records_back(store, state["head"]))[::-1]
    if [r.index for r in records] != list(range(state["total"])):
        raise RunFailed(f"{len(records)} of {state['total']} parts are recorded; resume the run")
    output = "".join(store.get(r.piece_key) for r in records)
    tokenizer = resolve_tokenizer(ctx.tokenizer)
    input_tokens = tokenizer.count(load_text(store, state["text_key"]))
    chunks = [
        PartReport.model_validate(r.model_dump(exclude={"piece_key", "prev"})) for r in records
    ]
    sent = sum(c.tokens_sent for c in chunks)
    flagged = [c.index for c in chunks if c.flagged]
    unchanged = [c.index for c in chunks if c.unchanged]
    weight = sum(c.tokens_in for c in chunks)
    changed = sum(c.changed * c.tokens_in for c in chunks) / weight if weight else 0.0
    report = RephraseReport(
        style=state["style_name"],
        style_instruction=state["instruction"],
        chunk_tokens=ctx.chunk_tokens,
        overlap_tokens=ctx.overlap_tokens,
        prefix_window_tokens=ctx.prefix_window_tokens,
        tokenizer=tokenizer_name(tokenizer),
        rewriter_model=state["rewriter_name"],
        judge_model=state["judge_name"],
        success=True,
        flagged=flagged,
        unchanged=unchanged,
        chunks=chunks,
        totals=ReportTotals(
            chunks=len(chunks),
            flagged=len(flagged),
            unchanged=len(unchanged),
            changed=round(changed, 3),
            retries=sum(c.retries for c in chunks),
            calls=sum(c.calls for c in chunks),
            input_tokens=input_tokens,
            output_tokens=tokenizer.count(output),
            tokens_sent=sent,
            judge_tokens_sent=sum(c.judge_tokens_sent for c in chunks),
            sent_per_input_token=round(sent / input_tokens, 3) if input_tokens else 0.0,
            input_tokens_billed=sum(c.input_tokens_billed for c in chunks),
            output_tokens_billed=sum(c.output_tokens_billed for c in chunks),
            seconds=round(sum(c.seconds for c in chunks), 3),
        ),
    )
    usage = Usage(
        input_tokens=report.totals.input_tokens_billed,
        output_tokens=report.totals.output_tokens_billed,
        calls=report.totals.calls,
        retries=report.totals.retries,
    )
    # the per-part records grow with the document: the report goes to the blob store too
    result = RephraseResult(
        success=True,
        usage=usage,
        output_key=store.put(output),
        report_key=store.put(report.model_dump_json()),
        summary=report.model_dump(mode="json", exclude={"chunks"}),
    )
    return {"result": result.to_dict()}
