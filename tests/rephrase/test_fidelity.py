"""Deterministic fidelity checks: each catches its fault, and a faithful copy passes them all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkwise.errors import ConfigError
from chunkwise.text.fidelity import (
    BUILTIN_CHECKS,
    CheckResult,
    ChunkSample,
    FidelityLimits,
    changed_share,
    check_style_change,
    citations_kept,
    numbers_kept,
    resolve_checks,
    run_checks,
)
from tests.rephrase.support import read_text

SOURCE = (
    "In 1813, Elizabeth Bennet met Mr. Darcy at Netherfield, where 1,500 guests danced [12]. "
    "The NHS study [@doi:10.1038/nature14539] and \\cite{vaswani2017} agree (Smith et al., 2020). "
    "The loss is $L = \\sum_i x_i^2$ and it converges."
)


def failed(source: str, rewritten: str, **kw: Any) -> dict[str, CheckResult]:
    results = run_checks(ChunkSample(source, rewritten, **kw))
    return {r.name: r for r in results if not r.passed}


def test_faithful_copy_passes_everything() -> None:
    assert failed(SOURCE, SOURCE) == {}


def test_paraphrase_keeping_the_facts_passes() -> None:
    rewrite = (
        "Elizabeth Bennet encountered Mr. Darcy at Netherfield in 1813; 1500 guests were "
        "dancing there [12]. According to the NHS study [@doi:10.1038/nature14539] and "
        "\\cite{vaswani2017}, Smith and colleagues (2020) concur. The loss $L = \\sum_i x_i^2$ "
        "converges."
    )
    assert failed(SOURCE, rewrite) == {}


@pytest.mark.parametrize(
    ("change", "check", "needle"),
    [
        (lambda s: s.replace("1813", "eighteen-thirteen"), "numbers", "1813"),
        (
            lambda s: s.replace("Netherfield", "the estate").replace("Elizabeth", "she"),
            "entities",
            "Netherfield",
        ),
        (lambda s: s.replace("[12]", ""), "citations", "[12]"),
        (lambda s: s.replace("[@doi:10.1038/nature14539]", ""), "citations", "@doi:10.1038"),
        (lambda s: s.replace("\\cite{vaswani2017}", "Vaswani"), "citations", "vaswani2017"),
        (lambda s: s.replace("x_i^2", "x_i"), "math", "$L"),
        (lambda s: s[: len(s) // 3], "length_ratio", "too short"),
        (
            lambda s: s + " " + " ".join(["An invented claim about something else."] * 12),
            "length_ratio",
            "too long",
        ),
    ],
)
def test_each_check_catches_its_fault(
    change: Callable[[str], str], check: str, needle: str
) -> None:
    bad = failed(SOURCE, change(SOURCE))
    assert check in bad
    assert needle in " ".join(bad[check].reasons)


def test_repetition_inside_a_rewrite() -> None:
    bad = failed(SOURCE, SOURCE + "\n\n" + SOURCE)
    assert "repetition" in bad and "repeats itself" in bad["repetition"].reasons[0]
    refrain = "We shall fight on the beaches, we shall fight on the landing grounds. " * 3
    assert "repetition" not in failed(refrain, refrain)  # repeated in the source too


def test_seam_repetition() -> None:
    previous = "She walked to Meryton in the rain and arrived with muddy petticoats."
    source = "Everyone at Netherfield stared at her."
    rewrite = "She walked to Meryton in the rain and arrived muddy. Everyone at Netherfield stared."
    bad = failed(source, rewrite, previous=previous)
    assert "seam_repetition" in bad
    assert "already written" in bad["seam_repetition"].reasons[0]
    # not flagged when the source region itself repeats the words
    assert "seam_repetition" not in failed(rewrite, rewrite, previous=previous)


def test_limits_are_configurable() -> None:
    short = SOURCE[: len(SOURCE) // 2]
    loose = FidelityLimits(min_length_ratio=0.1)
    result = run_checks(ChunkSample(SOURCE, short, limits=loose), ["length_ratio"])
    assert result[0].passed


def test_selection_and_extra_checks() -> None:
    assert resolve_checks(None) == tuple(BUILTIN_CHECKS)
    assert resolve_checks(["numbers", " math "]) == ("numbers", "math")
    with pytest.raises(ConfigError, match="unknown fidelity check 'spelling'"):
        resolve_checks(["spelling"])

    def no_exclamations(sample: ChunkSample) -> CheckResult:
        return CheckResult("no_exclamations", "!" not in sample.rewritten, ("no '!' please",))

    results = run_checks(ChunkSample("Hi.", "Hi!"), ["numbers"], [no_exclamations])
    assert [(r.name, r.passed) for r in results] == [("numbers", True), ("no_exclamations", False)]


@settings(max_examples=200, deadline=None)
@given(
    source=st.text(max_size=400),
    previous=st.text(max_size=200),
    covered=st.text(max_size=200),
)
def test_an_unchanged_rewrite_passes_every_builtin_check(
    source: str, previous: str, covered: str
) -> None:
    results = run_checks(ChunkSample(source, source, previous, covered))
    assert all(r.passed for r in results), [r for r in results if not r.passed]


@pytest.mark.parametrize(
    "name",
    [
        "corpus/textbook/transformer.md",
        "corpus/review/04.study.md",
        "corpus/books/whitehead_introduction_to_mathematics.tex",
        "corpus/speeches/1954-Eisenhower.txt",
    ],
)
def test_real_texts_pass_against_themselves_and_fail_without_numbers(
    shared: Path, name: str
) -> None:
    text = read_text(shared / name)[:20_000]
    assert failed(text, text) == {}
    without = "".join(c for c in text if not c.isdigit())
    assert "numbers" in failed(text, without)


def test_how_much_a_rewrite_changed_is_measured_on_its_words() -> None:
    source = ("Biology and medicine are rapidly becoming data-intensive, and genomics alone may "
              "soon equal other fields [@doi:10.1371/x] by 2025.")
    assert changed_share(source, source) == 0.0
    assert changed_share(source, "") == 1.0
    light = source.replace("rapidly", "quickly")
    assert 0 < changed_share(source, light) < 0.1
    plain = "Biology and medicine now make huge amounts of data [@doi:10.1371/x]."
    assert changed_share(source, plain) > 0.5
    assert numbers_kept(source, plain) == (1, 2)  # the DOI's number, not 2025
    assert citations_kept(source, plain) == (1, 1)
    assert citations_kept(source, "no citation") == (0, 1)


def test_a_style_that_asks_for_change_fails_a_near_copy() -> None:
    source = " ".join(f"Keeper {i} lit the lamp at dusk and logged the weather." for i in range(4))
    asks = FidelityLimits(min_change=0.15)
    copy = check_style_change(ChunkSample(source, source.replace("dusk", "sunset"), limits=asks))
    assert not copy.passed and copy.score is not None and copy.score < 0.15
    assert "the style was not applied" in copy.reasons[0]
    rewritten = source.replace("lit the lamp at dusk and logged", "lights its lamp when night "
                               "comes and writes down")
    assert check_style_change(ChunkSample(source, rewritten, limits=asks)).passed
    assert check_style_change(ChunkSample(source, source)).passed  # faithful: a copy is fine
    short = ChunkSample("Keeper 1 lit it.", "Keeper 1 lit it.", limits=asks)
    assert check_style_change(short).passed  # too short to have to change
    # a copy still passes every fidelity check: the style is a separate question
    assert all(r.passed for r in run_checks(ChunkSample(source, source, limits=asks)))
