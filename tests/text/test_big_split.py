"""An 18M-character book-sized input: the budget rule holds exactly at that size.

How long it takes is a benchmark, not a test: `python -m benchmarks --only overhead` times the
split (and the whole pipeline) on the same input, built by `benchmarks.inputs.big_paper`.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from benchmarks.inputs import BIG_CHARS, big_paper
from chunkwise.text.headings import Heading, markdown_headings
from chunkwise.text.paper_split import split_paper
from chunkwise.text.tokens import TiktokenTokenizer, default_tokenizer
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


@pytest.mark.parametrize("case", ["pipeline", "auto", "tex", "review"])
def test_token_starts_made_where_read_give_the_spans_of_the_full_list(
    big: tuple[str, list[Heading], int], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The splitter reads tiktoken's token starts block by block (`TokenStarts`); on real
    texts it must cut exactly where it cut with the whole list of `offsets`."""
    if case == "pipeline":  # paper2code's budget for a 200k-context chunk model: 25 spans
        text, heads = big[0], big[1]
        kwargs: dict[str, Any] = {"num_chunks": 5, "max_tokens": 175_773}
    elif case == "auto":
        text = big[0][:4_000_000]
        heads = [h for h in big[1] if h.offset < len(text)]
        kwargs = {"num_chunks": "auto", "max_tokens": 16_000}
    else:  # LaTeX (Latin-1, CRLF lines) and Markdown with math, in small spans
        name, encoding = (("books/whitehead_introduction_to_mathematics.tex", "latin-1")
                          if case == "tex" else ("review/04.study.md", "utf-8"))
        text = (SHARED / "corpus" / name).read_bytes().decode(encoding)
        heads = []
        kwargs = {"num_chunks": 40, "max_tokens": 1_500}
    lazy = split_paper(text, headings=heads, **kwargs)
    monkeypatch.setattr(TiktokenTokenizer, "token_starts", TiktokenTokenizer.offsets)
    assert split_paper(text, headings=heads, **kwargs) == lazy
