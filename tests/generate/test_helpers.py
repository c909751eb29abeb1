"""Small helpers of the generate nodes: answer cleaning, the prefix window, plan lengths."""

from __future__ import annotations

from chunkwise.nodes.generate.common import clean_section
from chunkwise.nodes.generate.plan import suggested_sections
from chunkwise.state.generate import GenerationPlan, words_for_tokens
from chunkwise.state.plan_check import fit_lengths
from chunkwise.text.overlap import tail_tokens
from chunkwise.text.tokens import TiktokenTokenizer, WhitespaceTokenizer
from tests.generate.support import manual_plan


def test_answers_lose_fences_and_a_repeated_title() -> None:
    assert clean_section("```markdown\n## Part 1\nBody text.\n```", "Part 1") == "Body text."
    assert clean_section("**Part 1**\n\nBody.", "Part 1") == "Body."
    assert clean_section("Section 2: Part 1\nBody.", "Part 1") == "Body."
    assert clean_section("# Another heading\nBody.", "Part 1") == "Body."
    assert clean_section("The first line is prose.\nMore.", "Part 1") == (
        "The first line is prose.\nMore.")
    assert clean_section("Part 1", "Part 1") == "Part 1"  # nothing else: keep it
    assert clean_section("Sure! Here is the section:\nBody text.\n\n(Word count: 212)",
                         "Part 1") == "Body text."
    assert clean_section("Here is why it matters: a lot.", "Part 1") == (
        "Here is why it matters: a lot.")  # prose, not a preface
    # the prompt's quote markers, echoed on lines of their own
    assert clean_section("<<<\nBody text.\n\nMore text.\n>>>", "Part 1") == (
        "Body text.\n\nMore text.")
    assert clean_section("Bits >>> shifts stay.", "Part 1") == "Bits >>> shifts stay."


def test_tail_tokens_is_a_slice_holding_at_most_the_last_tokens() -> None:
    text = "Alpha beta gamma. Delta epsilon zeta eta theta."
    bpe = TiktokenTokenizer()
    tail = tail_tokens(text, bpe, 5)
    assert text.endswith(tail) and 3 <= bpe.count(tail) <= 5
    assert tail_tokens(text, bpe, 10_000) == text
    assert tail_tokens(text, WhitespaceTokenizer(), 3) == "zeta eta theta."
    assert tail_tokens(text, bpe, 0) == ""

    class EncodeDecodeOnly:  # the original Tokenizer protocol: no offsets
        def encode(self, text: str) -> list[str]:
            return text.split()

        def decode(self, ids: list[str]) -> str:
            return " ".join(ids)

    assert tail_tokens(text, EncodeDecodeOnly(), 2) == "eta theta."


def test_section_lengths_are_fitted_to_the_total() -> None:
    plan = GenerationPlan.model_validate(manual_plan(3, 100, target_total_length=1000))
    fitted, notes = fit_lengths(plan)
    assert [s.target_length for s in fitted.sections] == [334, 333, 333]
    assert notes == ["section target lengths added up to 300 words; scaled to the plan's 1000"]
    same, none = fit_lengths(fitted)
    assert same is fitted and none == []


def test_token_targets_and_section_counts() -> None:
    assert words_for_tokens(1800) == 1350
    assert words_for_tokens(1800, "whitespace") == 1800
    assert [suggested_sections(n) for n in (100, 1000, 4000, 100_000)] == [1, 2, 10, 40]
