"""Overlap split and exact stitching (pure functions, real texts and hypothesis)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkwise.errors import ConfigError
from chunkwise.text.fences import fenced_code_ranges
from chunkwise.text.overlap import (
    Part,
    check_sizes,
    math_spans,
    protected_spans,
    restore_edges,
    split_edges,
    split_with_overlap,
    strip_chatter,
    tail_tokens,
    trim_repeated_lead,
)
from chunkwise.text.tokens import TiktokenTokenizer, WhitespaceTokenizer, default_tokenizer
from tests.rephrase.support import read_text

WS = WhitespaceTokenizer()

# Text with the awkward parts: CRLF, lone CR, BOMs, empty lines, Unicode, math and fences.
PIECES = st.sampled_from(
    [
        "\r\n",
        "\n",
        "\n\n",
        "\r",
        "\ufeff",
        " ",
        "  ",
        "\t",
        ". ",
        "$x^2$",
        "```",
        "\\[a\\]",
        "é",
        "漢字",
        "🙂",
        "Mr. ",
        "1,000",
        "e\u0301",
    ]
)
TEXTS = st.lists(st.one_of(st.text(max_size=12), PIECES), max_size=60).map("".join)


def regions(text: str, parts: list[Part]) -> list[str]:
    return [text[p.start : p.end] for p in parts]


def assert_valid_plan(text: str, parts: list[Part]) -> None:
    assert "".join(regions(text, parts)) == text
    position = 0
    for i, part in enumerate(parts):
        assert part.index == i
        assert part.start == position < part.end
        assert 0 <= part.context_start <= part.start
        position = part.end
    assert position == len(text)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, chunk=st.integers(2, 40), overlap_share=st.floats(0, 0.99))
def test_regions_partition_any_text(text: str, chunk: int, overlap_share: float) -> None:
    overlap = min(chunk - 1, int(chunk * overlap_share))
    parts = split_with_overlap(text, WS, chunk_tokens=chunk, overlap_tokens=overlap)
    assert_valid_plan(text, parts)


@settings(max_examples=150, deadline=None)
@given(text=TEXTS, chunk=st.integers(2, 30))
def test_partition_with_tiktoken(text: str, chunk: int) -> None:
    parts = split_with_overlap(
        text, default_tokenizer(), chunk_tokens=chunk, overlap_tokens=chunk // 3
    )
    assert_valid_plan(text, parts)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_echo_of_the_core_restores_any_region(text: str) -> None:
    lead, core, trail = split_edges(text)
    assert lead + core + trail == text
    assert split_edges(core)[1] == core
    assert restore_edges(text, core) == text
    # what a chatty or trimming pass sees for an echo changes nothing
    assert strip_chatter(core, text) == core
    assert trim_repeated_lead(core, [text, core[:30]], text, min_chars=4) == core


def test_small_models_edge_whitespace_is_repaired() -> None:
    region = "\r\n\r\nA paragraph.\r\n\r\n"
    assert restore_edges(region, "  A rewritten paragraph.\n") == (
        "\r\n\r\nA rewritten paragraph.\r\n\r\n"
    )


def test_empty_and_whitespace_only_text() -> None:
    assert split_with_overlap("", WS, chunk_tokens=8, overlap_tokens=2) == []
    parts = split_with_overlap(" \r\n\n ", WS, chunk_tokens=8, overlap_tokens=2)
    assert parts == [Part(0, 0, 5, 0)]


def test_text_shorter_than_one_chunk_is_one_part() -> None:
    text = "\ufeffOne short line.\r\n"
    parts = split_with_overlap(text, default_tokenizer(), chunk_tokens=256, overlap_tokens=64)
    assert parts == [Part(0, 0, len(text), 0)]


def test_sizes_are_validated() -> None:
    with pytest.raises(ConfigError, match="smaller than chunk tokens"):
        check_sizes(64, 64, 10)
    with pytest.raises(ConfigError, match="prefix window"):
        check_sizes(256, 64, 0)
    with pytest.raises(ConfigError, match="negative"):
        check_sizes(256, -1, 10)


def test_budgets_overlap_and_snapping_on_a_novel(shared: Path) -> None:
    text = read_text(shared / "corpus/books/pride_and_prejudice.txt")[:120_000]
    tok = default_tokenizer()
    parts = split_with_overlap(text, tok, chunk_tokens=256, overlap_tokens=64)
    assert_valid_plan(text, parts)
    sizes = [tok.count(t) for t in regions(text, parts)]
    assert sizes[0] <= 256 and max(sizes[1:]) <= 192 + 2  # budget: chunk - overlap
    assert min(sizes[:-1]) >= 192 - 64 - 2  # snapping moves a cut back by a small window only
    # every part after the first shows up to `overlap` tokens of source it has already covered
    shown = [tok.count(text[p.context_start : p.start]) for p in parts[1:]]
    assert all(0 < n <= 64 + 1 for n in shown)
    # cuts land after a paragraph or a sentence when one lies within the snap window (48
    # tokens here); Austen's long sentences leave the rest at a line end
    assert at_sentence_or_paragraph(text, parts) > 0.85
    wider = split_with_overlap(text, tok, chunk_tokens=256, overlap_tokens=64, snap_tokens=96)
    assert at_sentence_or_paragraph(text, wider) > 0.97


def at_sentence_or_paragraph(text: str, parts: list[Part]) -> float:
    good = sum(
        bool(re.search(r"\n[ \t]*\n\s*$", text[: p.end]))
        or bool(re.search(r"[.!?][\"'”’_)]*\s+$", text[: p.end]))
        for p in parts[:-1]
    )
    return good / (len(parts) - 1)


@pytest.mark.parametrize(
    "name",
    [
        "corpus/textbook/transformer.md",
        "corpus/textbook/batch-norm.md",
        "corpus/books/whitehead_introduction_to_mathematics.tex",
    ],
)
def test_math_and_code_blocks_are_not_cut_when_avoidable(shared: Path, name: str) -> None:
    text = read_text(shared / name)
    tok = default_tokenizer()
    parts = split_with_overlap(text, tok, chunk_tokens=256, overlap_tokens=64)
    assert_valid_plan(text, parts)
    blocks = protected_spans(text)
    assert blocks
    for part in parts:
        for start, end in blocks:
            if start < part.start < end:  # only a block too long for two budgets is cut
                assert tok.count(text[start:end]) > 192 * 2 - 40, text[start:end][:80]


def test_block_detection() -> None:
    text = (
        "Cost $5 and $10.\n"
        "Inline $a+b$ and display $$\\sum_i x_i$$ and \\[ y \\] and \\\\[2pt] break.\n"
        "\\begin{align*}\na &= b\n\\end{align*}\n"
        "```python\nprice = '$x$'\n```\n"
        "~~~\nunclosed"
    )
    maths = [text[s:e] for s, e in math_spans(text)]
    assert maths == [
        "$a+b$",
        "$$\\sum_i x_i$$",
        "\\[ y \\]",
        "\\begin{align*}\na &= b\n\\end{align*}",
    ]
    # one fence detector for the splitter and the loaders: an unclosed fence protects nothing
    codes = [text[s:e] for s, e in fenced_code_ranges(text)]
    assert codes == ["```python\nprice = '$x$'\n```\n"]


def test_a_block_starts_the_next_part_rather_than_being_cut() -> None:
    words = " ".join(f"w{i}" for i in range(30))
    text = f"{words}.\n\n$$ {' + '.join('x' for _ in range(12))} $$\n\nAfter."
    parts = split_with_overlap(text, WS, chunk_tokens=40, overlap_tokens=10, snap_tokens=4)
    starts = [p.start for p in parts]
    block = text.index("$$")
    assert all(not (block < s < text.index("$$", block + 2) + 2) for s in starts)


def test_trim_repeated_lead() -> None:
    covered = "The ball was on Tuesday, and everyone went."
    source = "Mr. Bingley danced twice."
    repeated = f"{covered}\nMr. Bingley danced two times."
    assert trim_repeated_lead(repeated, [covered], source) == "Mr. Bingley danced two times."
    # a region that really begins with the covered text keeps it
    assert trim_repeated_lead(repeated, [covered], repeated) == repeated
    # too short to be a repeat
    assert trim_repeated_lead("and everyone went. Then", [covered], "x", min_chars=24) == (
        "and everyone went. Then"
    )


def test_strip_chatter() -> None:
    source = "The ball was on Tuesday."
    assert strip_chatter("Here is the rewritten text:\nA ball on Tuesday.", source) == (
        "A ball on Tuesday."
    )
    assert strip_chatter("<text_to_rewrite>\nA ball.\n</text_to_rewrite>", source) == "A ball."
    assert strip_chatter("```\nA ball.\n```", source) == "A ball."
    fenced = "```\ncode\n```"
    assert strip_chatter(fenced, fenced) == fenced
    assert strip_chatter("Okay, so the ball was on Tuesday.", source) == (
        "Okay, so the ball was on Tuesday."
    )
    figures = "Here are the figures for 1946:\n- 12 ships"
    assert strip_chatter(figures, "The figures for 1946 are: 12 ships.") == figures
    assert strip_chatter("Sure! Here's a simpler version:\n\nA ball.", source) == "A ball."


def test_tail_tokens() -> None:
    text = "one two three four five six"
    assert tail_tokens(text, WS, 2) == "five six"
    assert tail_tokens(text, WS, 100) == text
    assert tail_tokens(text, WS, 0) == ""
    assert tail_tokens("alpha beta gamma delta", TiktokenTokenizer(), 2) == "gamma delta"
