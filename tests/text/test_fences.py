"""Code fences: one scanner, one rule for an unclosed fence, shared by every reader of fences."""

from __future__ import annotations

from chunkwise.nodes.generate.common import clean_section
from chunkwise.nodes.paper2code.code import extract_code
from chunkwise.text.fences import fenced_blocks, fenced_code_ranges, longest_code, unwrap_fence
from chunkwise.text.headings import markdown_headings
from chunkwise.text.overlap import math_spans, protected_spans, split_with_overlap, strip_chatter
from chunkwise.text.sections import protected_ranges
from chunkwise.text.tokens import WhitespaceTokenizer

CLOSED = "```python\nx = 1\n```\n"


def test_closed_blocks_with_either_fence_and_their_bodies() -> None:
    text = f"Intro\n{CLOSED}Between\n~~~~ text\n```\nnot a closer\n~~~~\nEnd"
    blocks = fenced_blocks(text)
    assert [text[b.start : b.end] for b in blocks] == [
        CLOSED,
        "~~~~ text\n```\nnot a closer\n~~~~\n",
    ]
    assert [text[b.body_start : b.body_end] for b in blocks] == ["x = 1", "```\nnot a closer"]
    assert [b.info for b in blocks] == ["python", "text"]
    assert "``` a`b" not in [text[s:e] for s, e in fenced_code_ranges("``` a`b\nx\n```\n")]


def test_an_unclosed_fence_protects_nothing_and_scanning_goes_on_after_it() -> None:
    text = "Intro\n```\nstray fence, never closed\n\n~~~\ncode\n~~~\nAfter"
    assert fenced_code_ranges(text) == [(text.index("~~~"), text.index("After"))]
    assert fenced_code_ranges("```\ncode without a closing fence\n") == []


def test_every_reader_of_a_document_agrees_about_fences() -> None:
    # a bare ``` later on would close the stray fence (CommonMark): this one stays unclosed
    stray = "Para.\n\n~~~\nnever closed\n\n# A heading after it\n\n" + CLOSED + "So $$a$$.\n"
    fences = fenced_code_ranges(stray)
    assert fences == [(stray.index(CLOSED), stray.index("So $$"))]
    assert protected_ranges(stray)[0] == fences[0]  # the paper splitter
    assert protected_spans(stray)[0] == fences[0]  # the rephrase splitter
    assert [h.title for h in markdown_headings(stray)] == ["A heading after it"]
    assert math_spans(stray) == [(stray.index("$$a$$"), stray.index("$$a$$") + 5)]


def test_one_stray_fence_does_not_unprotect_the_math_after_it() -> None:
    # when the stray fence ran to the end, everything after it was "code", where a dollar sign
    # is not math: 23 of the 28 cuts below fell inside a display formula
    terms = "a_{i} + b_{i} + c_{i} + d_{i} + e_{i} + f_{i}"
    formulas = " and ".join(f"$$ {terms.format(i=i)} $$" for i in range(40))
    text = "Intro.\n\n~~~\n\n" + formulas
    spans = math_spans(text)
    assert len(spans) == 40
    parts = split_with_overlap(text, WhitespaceTokenizer(), chunk_tokens=24, overlap_tokens=4)
    assert len(parts) > 10
    assert not [p.start for p in parts if any(s < p.start < e for s, e in spans)]


def test_an_answer_wrapped_in_one_fence_is_unwrapped() -> None:
    assert unwrap_fence("  ```markdown\nBody.\n\nMore.\n```\n") == "Body.\n\nMore."
    assert unwrap_fence("~~~\nBody.\n~~~") == "Body."
    assert unwrap_fence("Text before\n```\nBody.\n```") is None
    assert unwrap_fence("```\nA\n```\n\n```\nB\n```") is None
    assert unwrap_fence("```\nnever closed") is None
    # the two cleaners of model answers share it
    assert clean_section("~~~\nBody text.\n~~~", "Title") == "Body text."
    assert strip_chatter("~~~md\nA ball.\n~~~", "The ball.") == "A ball."


def test_code_is_the_longest_python_block_even_when_cut_off() -> None:
    answer = "Install:\n```bash\npip install torch\n```\nThen:\n```python\nimport torch\n```\n"
    assert longest_code(answer, ["python"]) == "import torch"
    assert extract_code(answer) == "import torch\n"
    # an answer cut off by the token cap: the last block runs to the end
    assert extract_code("Here:\n```python\nimport torch\nx = 1") == "import torch\nx = 1\n"
    assert extract_code("import torch\n") == "import torch\n"  # bare code
    assert longest_code("```bash\nls\n```", ["python"]) is None
