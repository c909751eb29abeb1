"""4. Rephrase: tokens sent per input token, against the minimum, by chunk and prefix window.

Every part of a rephrase run is sent with the end of the rewrite so far (the prefix window), the
already-covered overlap and the prompt's own rules. The least any chunk-wise rewrite can send is
the input once, plus each part's prefix window, plus the prompt template once per call; the
overlap and any retry are on top. The rewriter here returns each part unchanged (every check
passes, nothing is retried), and counts the tokens of every prompt it receives with cl100k, so
the numbers are measured at the model, not taken from chunkwise's own report (which is shown
next to them as a cross-check).
"""

from __future__ import annotations

import threading
from itertools import product
from pathlib import Path
from typing import Any

from benchmarks.registry import RunContext, benchmark
from benchmarks.report import Section, Table, Target

NAME = "rephrase"
TITLE = "4. Rephrase: tokens sent per input token"
CHUNKS, PREFIXES, OVERLAP = (256, 512, 1024, 2048), (256, 1024, 4096), 64
QUICK_CHUNKS, QUICK_PREFIXES = (256, 1024), (256, 1024)
TEXT, QUICK_TEXT = "corpus/review/04.study.md", "corpus/review/02.intro.md"


class _Counter:
    """Tokens of every prompt the rewriter receives (thread-safe)."""

    def __init__(self) -> None:
        from chunkwise.text.tokens import count_tokens

        self.count = count_tokens
        self.sent = 0
        self.calls = 0
        self.lock = threading.Lock()

    def add(self, messages: Any) -> None:
        tokens = sum(self.count(str(m.content)) for m in messages)
        with self.lock:
            self.sent += tokens
            self.calls += 1


def _echo_model(counter: _Counter) -> Any:
    from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
    from chunkwise.prompts.rephrase import parse_rewrite_messages

    def rewrite(call: ScriptedCall) -> str:
        counter.add(call.messages)
        return parse_rewrite_messages(call.messages).current_chunk

    return ScriptedChatModel(responders={"rewrite": rewrite})


def template_tokens() -> int:
    """Tokens of a rewrite prompt with every variable part empty (rules, labels, style)."""
    from chunkwise.prompts.rephrase import STYLES, RewriteRequest, rewrite_messages
    from chunkwise.text.tokens import count_tokens

    request = RewriteRequest(style_instruction=STYLES["faithful"].instruction, current_chunk="",
                             rewritten_prefix="", overlap_text="", chunk_index=1,
                             total_chunks=2)
    return sum(count_tokens(str(m.content)) for m in rewrite_messages(request))


def _one(text: str, folder: Path, chunk: int, prefix: int) -> dict[str, Any]:
    from chunkwise.api.rephrase import ChunkWiseRephrasePipeline, PipelineConfig
    from chunkwise.models.settings import ModelSettings

    counter = _Counter()
    pipeline = ChunkWiseRephrasePipeline(
        model=_echo_model(counter),
        config=PipelineConfig(chunk_tokens=chunk, overlap_tokens=OVERLAP,
                              prefix_window_tokens=prefix),
        style="faithful",
        model_settings=ModelSettings(cache=False),
        checkpoint_db=str(folder / f"c{chunk}-p{prefix}.sqlite"),
    )
    result = pipeline.run_with_report(text)
    if result.text != text:
        raise RuntimeError("an unchanged rewrite did not give the input back")
    report = result.report
    totals = report.totals
    prefixes = sum(c.prefix_tokens for c in report.chunks)
    overlap = sum(c.context_tokens for c in report.chunks)
    template = template_tokens()
    minimum = totals.input_tokens + prefixes + counter.calls * template
    return {
        "chunk_tokens": chunk, "prefix_window": prefix, "parts": totals.chunks,
        "calls": counter.calls, "retries": totals.retries, "input_tokens": totals.input_tokens,
        "sent": counter.sent, "reported_sent": totals.tokens_sent, "prefix_tokens": prefixes,
        "overlap_tokens": overlap, "template_tokens": template, "minimum": minimum,
    }


@benchmark(NAME, TITLE, order=40)
def run(ctx: RunContext) -> Section:
    section = Section(NAME, TITLE, about=__doc__.split("\n\n", 1)[1].strip())
    if ctx.shared is None:
        section.skipped = "../shared is not present (the input is one of its texts)"
        return section
    source = QUICK_TEXT if ctx.quick else TEXT
    text = (ctx.shared / source).read_text("utf-8")
    grid = list(product(QUICK_CHUNKS if ctx.quick else CHUNKS,
                        QUICK_PREFIXES if ctx.quick else PREFIXES))
    rows = []
    with ctx.workdir() as folder:
        for chunk, prefix in grid:
            ctx.log(f"  chunk {chunk}, prefix {prefix}")
            rows.append(_one(text, folder, chunk, prefix))
    inp = rows[0]["input_tokens"]
    section.tables.append(Table(
        ["chunk tokens", "prefix window", "parts", "sent / input", "minimum / input",
         "sent / minimum", "overlap / input", "template / input", "chunkwise's own count"],
        [[str(r["chunk_tokens"]), str(r["prefix_window"]), str(r["parts"]),
          f"{r['sent'] / inp:.2f}", f"{r['minimum'] / inp:.2f}", f"{r['sent'] / r['minimum']:.2f}",
          f"{r['overlap_tokens'] / inp:.2f}", f"{r['calls'] * r['template_tokens'] / inp:.2f}",
          f"{r['reported_sent'] / inp:.2f}"] for r in rows],
        caption=f"**{source}**, {inp:,} tokens, overlap {OVERLAP} tokens, style `faithful`, "
                f"prompt template {rows[0]['template_tokens']} tokens per call.",
    ))
    worst = max(r["sent"] / r["minimum"] for r in rows)
    section.targets.append(Target(
        "tokens sent vs the minimum", "report (no number set)",
        f"{min(r['sent'] / r['minimum'] for r in rows):.2f}-{worst:.2f}x", None))
    section.notes += [
        "sent / minimum above 1 is the overlap (the already-covered text each part is shown) "
        "plus the per-message framing; retries would add more (none here: the rewrite is the "
        "part itself).",
        "chunkwise's own count (the report's `sent_per_input_token`) counts message contents "
        "only; the model-side count uses the same tokenizer on the same messages.",
    ]
    section.commands.append(
        f"# ChunkWiseRephrasePipeline(model=<echo>, config=PipelineConfig(chunk_tokens=C, "
        f"overlap_tokens={OVERLAP}, prefix_window_tokens=P), style='faithful')"
        f".run_with_report(open('../shared/{source}').read()) for C, P in the table")
    section.data = {"rows": rows, "text": source}
    section.plots.append(_plot(ctx, rows, inp))
    return section


def _plot(ctx: RunContext, rows: list[dict[str, Any]], inp: int) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for prefix in sorted({r["prefix_window"] for r in rows}):
        group = [r for r in rows if r["prefix_window"] == prefix]
        xs = [r["chunk_tokens"] for r in group]
        line = ax.plot(xs, [r["sent"] / inp for r in group], "o-",
                       label=f"sent, prefix {prefix}")[0]
        ax.plot(xs, [r["minimum"] / inp for r in group], "--", color=line.get_color(),
                label=f"minimum, prefix {prefix}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("chunk tokens")
    ax.set_ylabel("tokens sent per input token")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return ctx.plot(fig, "rephrase_tokens.png",
                    "Tokens sent per input token (solid) against the minimum (dashed).")
