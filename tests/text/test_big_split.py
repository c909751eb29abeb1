"""An 18M-character book-sized input: the budget rule holds exactly at that size.

How long it takes is a benchmark, not a test: `python -m benchmarks --only overhead` times the
split (and the whole pipeline) on the same input, built by `benchmarks.inputs.big_paper`.
"""

from __future__ import annotations

import math

import pytest

from benchmarks.inputs import BIG_CHARS, big_paper
from chunkwise.text.headings import Heading, markdown_headings
from chunkwise.text.paper_split import split_paper
from chunkwise.text.tokens import default_tokenizer
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def big() -> tuple[str, list[Heading], int]:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    text = big_paper(SHARED)
    return text, markdown_headings(text), default_tokenizer().count(text)


def _check_exact(text: str, spans: list, max_tokens: int) -> None:  # type: ignore[type-arg]
    tok = default_tokenizer()
    assert "".join(text[s.start : s.end] for s in spans) == text
    counts = tok.encoding.encode_ordinary_batch([text[s.start : s.end] for s in spans])
    assert [len(c) for c in counts] == [s.tokens for s in spans]
    assert max(s.tokens for s in spans) <= max_tokens


def test_eighteen_million_chars_five_requested(big: tuple[str, list[Heading], int]) -> None:
    text, heads, total = big
    assert len(text) >= BIG_CHARS
    spans = split_paper(text, headings=heads, num_chunks=5, max_tokens=100_000)
    _check_exact(text, spans, 100_000)
    assert len(spans) == math.ceil(total / 100_000)  # 5 would overflow: the smallest that fits


def test_auto_on_a_four_million_char_slice(big: tuple[str, list[Heading], int]) -> None:
    text, heads, _ = big
    text = text[:4_000_000]
    heads = [h for h in heads if h.offset < len(text)]
    total = default_tokenizer().count(text)
    spans = split_paper(text, headings=heads, num_chunks="auto", max_tokens=16_000)
    _check_exact(text, spans, 16_000)
    needed = math.ceil(total / 16_000)
    assert needed <= len(spans) <= needed * 1.02
