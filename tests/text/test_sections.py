"""Boundary detection: protected blocks, candidate cuts, headings found in raw text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chunkwise.text import sections
from chunkwise.text.headings import Heading, detect_headings, latex_headings
from chunkwise.text.sections import (
    LINE,
    PARAGRAPH,
    SENTENCE,
    WORD,
    CandidateFinder,
    ProtectedRanges,
    heading_quality,
    protected_ranges,
)


def _blocks(text: str) -> list[str]:
    return [text[a:b] for a, b in protected_ranges(text)]


def test_latex_math_and_algorithm_environments() -> None:
    text = (
        "Intro.\n\\begin{equation}\na = b\n\\end{equation}\nMid.\n"
        "\\begin{align*}\nx &= 1 \\\\[2pt]\ny &= 2\n\\end{align*}\n"
        "\\begin{algorithm}\n\\begin{algorithmic}\n\\STATE x\n\\end{algorithmic}\n"
        "\\end{algorithm}\nEnd."
    )
    assert _blocks(text) == [
        "\\begin{equation}\na = b\n\\end{equation}",
        "\\begin{align*}\nx &= 1 \\\\[2pt]\ny &= 2\n\\end{align*}",
        "\\begin{algorithm}\n\\begin{algorithmic}\n\\STATE x\n\\end{algorithmic}\n\\end{algorithm}",
    ]


def test_display_math_delimiters() -> None:
    text = "A $$x^2$$ and\n$$\ny\n$$\nthen \\[ z \\] and a line break \\\\[3pt] here."
    assert _blocks(text) == ["$$x^2$$", "$$\ny\n$$", "\\[ z \\]"]


def test_unclosed_blocks_protect_nothing() -> None:
    assert protected_ranges("\\begin{equation}\nx\nno end\n") == []
    assert protected_ranges("```\ncode without a closing fence\n") == []
    assert protected_ranges("price $$ only once") == []


def test_fenced_code_and_dollars_inside_code() -> None:
    text = "Text\n```sh\necho $$\n# comment\n```\nAfter $$a$$.\n~~~\nx\n~~~\n"
    blocks = _blocks(text)
    assert blocks == ["```sh\necho $$\n# comment\n```\n", "$$a$$", "~~~\nx\n~~~\n"]


@given(st.text(alphabet="$\\[]a \n", max_size=16), st.integers(0, 16))
def test_delimiters_match_where_a_leading_lookbehind_would(text: str, start: int) -> None:
    """The delimiters check "not after a backslash" behind their literal (so re finds them by
    fast substring search); they must match exactly where `(?<!\\)` in front matched."""
    for fast, plain in ((sections._DOUBLE_DOLLAR, r"(?<!\\)\$\$"),
                        (sections._OPEN_BRACKET, r"(?<!\\)\\\["),
                        (sections._CLOSE_BRACKET, r"(?<!\\)\\\]")):
        reference = re.compile(plain)
        assert [m.span() for m in fast.finditer(text)] == [
            m.span() for m in reference.finditer(text)]
        found, expected = fast.search(text, start), reference.search(text, start)
        assert (found and found.span()) == (expected and expected.span())


def test_protected_membership_edges() -> None:
    text = "ab\\[cd\\]ef"
    ranges = ProtectedRanges(protected_ranges(text))
    start, end = protected_ranges(text)[0]
    assert not ranges.cuts_inside(start) and not ranges.cuts_inside(end)
    assert all(ranges.cuts_inside(p) for p in range(start + 1, end))
    assert not ranges.cuts_inside(0) and not ranges.cuts_inside(len(text))


def test_candidate_classes() -> None:
    text = "# Top\n\nFirst sentence. Second one!\nNext line\n\n## Sub\nword word"
    heads = [Heading(1, "Top", 0), Heading(2, "Sub", text.index("## Sub"))]
    finder = CandidateFinder(text, heads)
    found: dict[int, int] = {}
    for upper in finder.classes():
        for pos, quality in finder.of_class(upper, 0, len(text)):
            found[pos] = max(found.get(pos, -1), quality)
    assert 0 not in found  # cutting at 0 makes an empty span
    assert found[text.index("## Sub")] == heading_quality(2)
    assert found[text.index("First")] == PARAGRAPH
    assert found[text.index("Next")] == LINE
    assert found[text.index("Second")] == SENTENCE
    assert found[text.rindex("word")] == WORD
    assert heading_quality(1) > heading_quality(2) > heading_quality(4) > PARAGRAPH > LINE
    assert LINE > SENTENCE > WORD


def test_detect_headings_in_raw_text() -> None:
    latex = "\\section{Intro}\ntext\n\\subsection*{Part \\textbf{A}}\n"
    assert [(h.level, h.title) for h in detect_headings(latex)] == [(1, "Intro"), (2, "Part A")]
    md = "# T\n\n```\n# code\n```\n## S\n"
    assert [h.title for h in detect_headings(md)] == ["T", "S"]
    assert detect_headings("plain words only") == []


def test_latex_macro_definitions_are_not_headings() -> None:
    text = "\\newcommand{\\Sec}[1]{\\section*{#1}}\n\\section{Real}\n\\sectionmark{x}\n"
    assert [h.title for h in latex_headings(text)] == ["Real"]
