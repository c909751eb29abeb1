"""An 18M-character book-sized input: the budget rule and the time it takes."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from chunkwise.text.headings import Heading, markdown_headings
from chunkwise.text.loaders import load_document
from chunkwise.text.paper_split import split_paper
from chunkwise.text.tokens import default_tokenizer

TARGET_CHARS = 18_000_000


@pytest.fixture(scope="module")
def big() -> tuple[str, list[Heading], int]:
    shared = Path(__file__).resolve().parents[2] / ".." / "shared"
    if not shared.is_dir():
        pytest.skip("../shared is not present")
    sources = [
        shared / "corpus/books/pride_and_prejudice.txt",
        shared / "papers/attention/Transformer_cleaned.tex",
        shared / "corpus/textbook/transformer.md",
        shared / "corpus/review/04.study.md",
    ]
    texts = [load_document(p).text for p in sources]
    parts, size, i = [], 0, 0
    while size < TARGET_CHARS:
        part = f"# Part {i}\n\n{texts[i % len(texts)]}\n\n"
        parts.append(part)
        size += len(part)
        i += 1
    text = "".join(parts)
    return text, markdown_headings(text), default_tokenizer().count(text)


def _check_exact(text: str, spans: list, max_tokens: int) -> None:  # type: ignore[type-arg]
    tok = default_tokenizer()
    assert "".join(text[s.start : s.end] for s in spans) == text
    counts = tok.encoding.encode_ordinary_batch([text[s.start : s.end] for s in spans])
    assert [len(c) for c in counts] == [s.tokens for s in spans]
    assert max(s.tokens for s in spans) <= max_tokens


def test_eighteen_million_chars_five_requested(big: tuple[str, list[Heading], int]) -> None:
    text, heads, total = big
    assert len(text) >= TARGET_CHARS
    start = time.perf_counter()
    spans = split_paper(text, headings=heads, num_chunks=5, max_tokens=100_000)
    elapsed = time.perf_counter() - start
    assert elapsed < 50, f"split took {elapsed:.1f}s"
    _check_exact(text, spans, 100_000)
    assert len(spans) == math.ceil(total / 100_000)  # 5 would overflow: the smallest that fits


def test_auto_on_a_four_million_char_slice(big: tuple[str, list[Heading], int]) -> None:
    text, heads, _ = big
    text = text[:4_000_000]
    heads = [h for h in heads if h.offset < len(text)]
    total = default_tokenizer().count(text)
    start = time.perf_counter()
    spans = split_paper(text, headings=heads, num_chunks="auto", max_tokens=16_000)
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"split took {elapsed:.1f}s"
    _check_exact(text, spans, 16_000)
    needed = math.ceil(total / 16_000)
    assert needed <= len(spans) <= needed * 1.02
