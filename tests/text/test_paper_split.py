"""split_paper: coverage, budget, span counts, and where the cuts land."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkwise.text.headings import Heading, markdown_headings
from chunkwise.text.loaders import LoadedDocument, load_document
from chunkwise.text.paper_split import MIN_SPAN_TOKENS, Span, split_paper
from chunkwise.text.sections import ProtectedRanges, protected_ranges
from chunkwise.text.tokens import Tokenizer, WhitespaceTokenizer, default_tokenizer

TOK = default_tokenizer()


def _check(text: str, spans: list[Span], max_tokens: int, tok: Tokenizer = TOK) -> None:
    """The contract every split keeps."""
    assert "".join(text[s.start : s.end] for s in spans) == text
    if not text:
        assert spans == []
        return
    assert spans[0].start == 0 and spans[-1].end == len(text)
    for left, right in itertools.pairwise(spans):
        assert left.end == right.start
    for s in spans:
        assert s.start < s.end
        assert s.tokens == tok.count(text[s.start : s.end])
        assert s.tokens <= max_tokens


def _cuts_inside_blocks(text: str, spans: list[Span]) -> list[int]:
    protected = ProtectedRanges(protected_ranges(text))
    return [s.start for s in spans[1:] if protected.cuts_inside(s.start)]


# --- properties -----------------------------------------------------------------------------

_PIECES = st.one_of(
    st.text(alphabet="abcdefghij XYZ,.", min_size=1, max_size=30),
    st.sampled_from(
        [
            " ",
            "\n",
            "\n\n",
            ". ",
            "# Heading\n",
            "\n## Sub heading\n",
            "\\begin{equation}\nE = mc^2 \\\\\nx = y\n\\end{equation}\n",
            "```python\n# comment\nx = 1\n```\n",
            "$$a+b$$",
            "😀🎉👨‍👩‍👧",
            "中文字符日本語",
            "ééééé",
            "\t",
            "<|endoftext|>",
        ]
    ),
    st.text(max_size=12),
)
_TEXTS = st.lists(_PIECES, min_size=1, max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.one_of(_PIECES, st.sampled_from(["\r\n", "/", "'s", "1234", "\n/x", "\n'll"])),
                  min_size=1, max_size=40).map("".join),
    data=st.data(),
)
def test_a_slice_between_line_starts_tokenizes_as_the_whole_text_does(
    text: str, data: st.DataObject
) -> None:
    """What lets split_paper count such spans from the whole text's offsets: a line break
    followed by a non-space character is never inside a cl100k pre-token."""
    starts = [0, len(text)] + [
        i for i in range(1, len(text)) if text[i - 1] in "\r\n" and not text[i].isspace()
    ]
    a, b = sorted(data.draw(st.lists(st.sampled_from(starts), min_size=2, max_size=2)))
    offsets = TOK.offsets(text)
    inside = sum(1 for o in offsets if a <= o < b)
    assert TOK.count(text[a:b]) == inside


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_TEXTS,
    max_tokens=st.integers(4, 300),
    num_chunks=st.one_of(st.integers(1, 12), st.just("auto")),
)
def test_spans_cover_the_text_within_budget(text: str, max_tokens: int, num_chunks) -> None:  # type: ignore[no-untyped-def]
    spans = split_paper(text, num_chunks=num_chunks, max_tokens=max_tokens)
    _check(text, spans, max_tokens)
    total = TOK.count(text)
    if num_chunks != "auto" and total <= max_tokens and total >= MIN_SPAN_TOKENS * num_chunks:
        assert len(spans) >= num_chunks  # only the protected-block rule may add spans


@settings(max_examples=80, deadline=None)
@given(text=_TEXTS, max_tokens=st.integers(1, 40), num_chunks=st.integers(1, 6))
def test_whitespace_tokenizer_spans(text: str, max_tokens: int, num_chunks: int) -> None:
    tok = WhitespaceTokenizer()
    spans = split_paper(text, num_chunks=num_chunks, max_tokens=max_tokens, tokenizer=tok)
    _check(text, spans, max_tokens, tok)


def test_empty_and_tiny_texts() -> None:
    assert split_paper("", max_tokens=10) == []
    text = "A short note of about ten tokens, no more."
    spans = split_paper(text, num_chunks=5, max_tokens=100)
    assert len(spans) == 1  # too short to cut five ways
    _check(text, spans, 100)
    text = " ".join(f"Sentence number {i} is here." for i in range(15))  # ~100 tokens
    spans = split_paper(text, num_chunks=5, max_tokens=1000)
    assert len(spans) == TOK.count(text) // MIN_SPAN_TOKENS == 3  # at most one per 32 tokens


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        split_paper("text", max_tokens=0)
    with pytest.raises(ValueError, match="num_chunks"):
        split_paper("text", num_chunks=0, max_tokens=10)
    wide = next(c for c in "🤯🧬🫠𝔸𓀀" if TOK.count(c) > 1)
    with pytest.raises(ValueError, match="too small"):
        split_paper(wide * 3, max_tokens=1)


def test_text_without_any_whitespace() -> None:
    text = "x" * 3000 + "中文字符日本語" * 200
    spans = split_paper(text, num_chunks="auto", max_tokens=50)
    _check(text, spans, 50)


# --- real papers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attention_tex() -> LoadedDocument:
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "papers/attention"
    if not path.is_dir():
        pytest.skip("../shared is not present")
    return load_document(path / "Transformer_cleaned.tex")


@pytest.fixture(scope="module")
def attention_pdf() -> LoadedDocument:
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "papers/attention"
    if not path.is_dir():
        pytest.skip("../shared is not present")
    return load_document(path / "Transformer.pdf")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_exactly_n_similar_spans(attention_tex: LoadedDocument, n: int) -> None:
    doc = attention_tex
    spans = split_paper(doc.text, headings=doc.headings, num_chunks=n, max_tokens=100_000)
    _check(doc.text, spans, 100_000)
    assert len(spans) == n
    ideal = TOK.count(doc.text) / n
    for s in spans:
        assert 0.6 * ideal <= s.tokens <= 1.4 * ideal, [s.tokens for s in spans]


def test_count_grows_to_the_smallest_that_fits(attention_pdf: LoadedDocument) -> None:
    doc = attention_pdf
    total = TOK.count(doc.text)
    for max_tokens in (1000, 2000, 3000):
        spans = split_paper(doc.text, headings=doc.headings, num_chunks=2, max_tokens=max_tokens)
        _check(doc.text, spans, max_tokens)
        assert len(spans) == math.ceil(total / max_tokens)


@pytest.mark.parametrize("max_tokens", [700, 1500, 4000, 6000, 20_000])
def test_auto_count(attention_pdf: LoadedDocument, max_tokens: int) -> None:
    doc = attention_pdf
    spans = split_paper(doc.text, headings=doc.headings, num_chunks="auto", max_tokens=max_tokens)
    _check(doc.text, spans, max_tokens)
    assert len(spans) == math.ceil(TOK.count(doc.text) / max_tokens)


def test_auto_grows_rather_than_cut_code(shared: Path) -> None:
    doc = load_document(shared / "corpus/textbook/transformer.md")
    spans = split_paper(doc.text, headings=doc.headings, num_chunks="auto", max_tokens=1000)
    _check(doc.text, spans, 1000)
    assert len(spans) > math.ceil(TOK.count(doc.text) / 1000)
    assert _cuts_inside_blocks(doc.text, spans) == []


def test_cuts_land_on_section_starts(attention_tex: LoadedDocument) -> None:
    doc = attention_tex
    starts = {h.offset for h in doc.headings}
    for n in (3, 4, 5, 6):
        spans = split_paper(doc.text, headings=doc.headings, num_chunks=n, max_tokens=100_000)
        assert all(s.start in starts for s in spans[1:]), n
        for s in spans[1:]:
            assert s.title == next(h.title for h in doc.headings if h.offset == s.start)


def test_pdf_cuts_prefer_headings(attention_pdf: LoadedDocument) -> None:
    doc = attention_pdf
    starts = {h.offset for h in doc.headings}
    spans = split_paper(doc.text, headings=doc.headings, num_chunks=5, max_tokens=100_000)
    on_heading = sum(s.start in starts for s in spans[1:])
    assert on_heading >= 3  # the fourth ideal point falls in the references


def test_synthetic_section_preference_and_fallbacks() -> None:
    para = "This sentence is filler text for the test. " * 12  # ~100 tokens
    sections = []
    for i in range(4):
        body = "\n\n".join([para] * (5 if i % 2 else 4))  # sections of unequal size
        sections.append(f"## Section {i}\n\n{body}\n\n")
    text = "".join(sections)
    heads = markdown_headings(text)
    spans = split_paper(text, headings=heads, num_chunks=4, max_tokens=100_000)
    assert [s.start for s in spans] == [h.offset for h in heads]
    assert [s.title for s in spans] == [f"Section {i}" for i in range(4)]
    # Without headings the same cuts fall on paragraph breaks instead.
    spans = split_paper(text, headings=[Heading(1, "x", 10**9)], num_chunks=7, max_tokens=10**5)
    assert all(text[s.start - 2 : s.start] == "\n\n" for s in spans[1:])
    assert all(s.title == "" for s in spans)  # headings outside the text are ignored


def test_headings_detected_when_not_given(attention_tex: LoadedDocument) -> None:
    doc = attention_tex
    spans = split_paper(doc.text, num_chunks=4, max_tokens=100_000)
    assert all(doc.text[s.start :].lstrip().startswith("\\") for s in spans[1:])
    assert all(s.title for s in spans[1:])


def test_a_heading_far_from_the_ideal_point_is_not_used() -> None:
    para = "Words of a sentence that goes on. " * 10
    text = "# Start\n\n" + "\n\n".join([para] * 20)
    heads = [*markdown_headings(text), Heading(1, "Early", text.index(para, 50) + 0)]
    spans = split_paper(text, headings=heads, num_chunks=2, max_tokens=100_000)
    assert len(spans) == 2
    assert abs(spans[0].tokens - spans[1].tokens) < 0.3 * spans[0].tokens


@pytest.mark.parametrize(
    "name", ["textbook/transformer.md", "textbook/batch-norm.md", "textbook/lstm.md"]
)
def test_no_cut_inside_code_or_math_when_avoidable(shared: Path, name: str) -> None:
    doc = load_document(shared / "corpus" / name)
    for n in range(2, 12):
        spans = split_paper(doc.text, headings=doc.headings, num_chunks=n, max_tokens=100_000)
        assert len(spans) == n
        assert _cuts_inside_blocks(doc.text, spans) == [], n


def test_no_cut_inside_latex_math(attention_tex: LoadedDocument) -> None:
    doc = attention_tex
    for max_tokens in (400, 800, 1500):
        spans = split_paper(doc.text, num_chunks="auto", max_tokens=max_tokens)
        _check(doc.text, spans, max_tokens)
        assert _cuts_inside_blocks(doc.text, spans) == []


def test_equation_at_the_ideal_point_is_kept_whole() -> None:
    before = "Some words here. " * 60
    equation = "\\begin{align}\n" + "".join(f"x_{i} &= y_{i} + z_{i} \\\\\n" for i in range(40))
    equation += "\\end{align}\n"
    text = before + "\n" + equation + "Then more words. " * 60
    spans = split_paper(text, num_chunks=2, max_tokens=100_000)
    assert len(spans) == 2
    assert _cuts_inside_blocks(text, spans) == []


def test_oversized_block_is_cut_at_line_ends() -> None:
    code = "```\n" + "".join(f"value_{i} = compute({i}) + offset\n" for i in range(300)) + "```\n"
    text = "Intro paragraph.\n\n" + code + "\nOutro paragraph.\n"
    spans = split_paper(text, num_chunks="auto", max_tokens=400)
    _check(text, spans, 400)
    inside = _cuts_inside_blocks(text, spans)
    assert inside  # the block alone exceeds the budget
    assert all(text[p - 1] == "\n" for p in inside)  # ... so it is cut at line ends only
