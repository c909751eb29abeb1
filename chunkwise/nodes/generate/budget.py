"""Every generate prompt fits its model: the prompt plus the reply it may write stay within the
model's context window, and a reply never asks for more than the model's output cap.

A prompt is built with everything first; while it does not fit, the least useful parts shrink
first: the state table's older rows (fewer entities, terms and threads, only the latest facts),
then the prefix window (the end of the text so far), then the outline. What was left out is
returned so the report can say so. A prompt that still does not fit gets the reply room that is
left, when that is enough for a useful reply; no call is skipped for overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from langchain_core.messages import BaseMessage

from chunkwise.errors import RunFailed
from chunkwise.models.client import ModelClient
from chunkwise.models.retry import ModelCallError
from chunkwise.prompts.generate import SHOWN, Shown
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.text.overlap import tail_tokens
from chunkwise.text.tokens import TokenCodec, Tokenizer

# Prompts are counted with cl100k; the model's own tokenizer and chat template differ a little.
PROMPT_MARGIN = 1.08
TEMPLATE_TOKENS = 48
# A prose reply's tokens for its words (Qwen and cl100k both take about 1.3 per English word),
# with headroom so a reply a little over its length is not cut off.
TOKENS_PER_WORD = 1.4
REPLY_HEADROOM = 1.5
MIN_REPLY_SHARE = 0.6  # a reply squeezed below this share of what it needs is not worth a call
STRUCTURED_REPLY = 700  # JSON answers: a state update, a verdict, a grade
REFIT_SHARE = 0.75  # of what a prompt the model refused although it was fitted had taken

_TABLE_STEPS = (
    SHOWN,
    Shown(entities=12, facts=10, terms=10, threads=4),
    Shown(entities=6, facts=5, terms=5, threads=2),
    Shown(entities=0, facts=0, terms=0, threads=0),
)


def reply_tokens(words: int, cap: int) -> int:
    """The reply room for a prose answer of about `words` words, within the model's cap."""
    return min(cap, math.ceil(words * TOKENS_PER_WORD * REPLY_HEADROOM) + 32)


@dataclass(frozen=True)
class Fitted:
    """A prompt that fits: its messages, their size, the reply cap and what was left out."""

    messages: list[BaseMessage]
    prompt_tokens: int
    max_tokens: int
    trims: tuple[str, ...] = ()
    window: int = 0  # the whole context window it was fitted against


Build = Callable[[Shown, str], list[BaseMessage]]


def _measure(messages: Sequence[BaseMessage]) -> int:
    return math.ceil(prompt_tokens(messages) * PROMPT_MARGIN) + TEMPLATE_TOKENS


def _count(text: str, tokenizer: Tokenizer | TokenCodec) -> int:
    counter = getattr(tokenizer, "count", None)
    return int(counter(text)) if callable(counter) else len(tokenizer.encode(text))


def _trims(shown: Shown, prefix: int, full_prefix: int) -> tuple[str, ...]:
    out = []
    if shown != SHOWN:
        out.append(f"state table shortened (at most {shown.entities} entities, "
                   f"the latest {shown.facts} facts)")
    if prefix < full_prefix:
        out.append(f"prefix window cut from {full_prefix} to {prefix} tokens")
    if shown.outline < SHOWN.outline:
        out.append("outline left out")
    return tuple(out)


def fit_prompt(
    build: Build,
    *,
    client: ModelClient,
    reply: int,
    recent: str = "",
    tokenizer: Tokenizer | TokenCodec | None = None,
    what: str = "a prompt",
    share: float = 1.0,
) -> Fitted:
    """The first of ever smaller versions of a prompt that fits `share` of `client`'s window
    with `reply` tokens of reply room; `build(shown, recent_text)` makes one version. `recent`
    (the prefix window, cut in `tokenizer`'s tokens) shrinks after the table's older rows."""
    window = int(client.context_window * share)
    reply = max(1, min(reply, client.max_output_tokens))
    cut = bool(recent) and tokenizer is not None
    full = _count(recent, tokenizer) if tokenizer is not None and recent else 0
    half, quarter, none = (full // 2, full // 4, 0) if cut else (full, full, full)
    t0, t1, t2, t3 = _TABLE_STEPS
    ladder = list(dict.fromkeys([
        (t0, full), (t1, full), (t1, half), (t2, half), (t2, quarter), (t3, quarter), (t3, none),
        (Shown(0, 0, 0, 0, outline=0), none),
    ]))
    size = 0
    for number, (shown, prefix) in enumerate(ladder, 1):
        text = recent
        if prefix < full and tokenizer is not None:
            text = tail_tokens(recent, tokenizer, prefix) if prefix > 0 else ""
        messages = build(shown, text)
        size = _measure(messages)
        trims = _trims(shown, prefix, full)
        if size + reply <= window:
            return Fitted(messages, size, reply, trims, client.context_window)
        if number == len(ladder) and size + MIN_REPLY_SHARE * reply <= window:
            return Fitted(messages, size, window - size,
                          (*trims, f"reply cut to {window - size} tokens"), client.context_window)
    raise RunFailed(
        f"{what} needs about {size} tokens even with the state table and prefix window left "
        f"out, plus {reply} for the reply, but {client.name} has {window}: raise "
        "--context-window or shorten the plan's sections"
    )


T = TypeVar("T")


def call_fitted(fit: Callable[[float], Fitted], send: Callable[[Fitted], T]) -> tuple[T, Fitted]:
    """`send` the prompt `fit(1.0)` made; if the model still refuses it for its length (its own
    tokenizer counts more than cl100k does), fit it into `REFIT_SHARE` of the tokens it took
    (prompt and reply room) and send it once more, so no call is skipped for overflow."""
    fitted = fit(1.0)
    try:
        return send(fitted), fitted
    except ModelCallError as exc:
        if exc.kind != "context_length":
            raise
    taken = fitted.prompt_tokens + fitted.max_tokens
    refitted = fit(REFIT_SHARE * taken / max(fitted.window, taken))
    note = (f"refitted into {REFIT_SHARE:.0%} of its {taken} tokens after the model refused "
            "its length")
    refitted = replace(refitted, trims=(*refitted.trims, note))
    return send(refitted), refitted
