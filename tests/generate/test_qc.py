"""Deterministic QC metrics (chunkwise.text.qc): each detector on planted defects and on clean,
real prose."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.text import qc
from tests.generate.support import filler


def test_words_are_counted_as_longbench_write_counts_them() -> None:
    assert qc.count_words("Hello, world! 你好") == 4
    assert qc.count_words("It's 2024: state-of-the-art.") == 6  # letters only, split at marks
    assert qc.count_words("") == 0


@pytest.mark.parametrize(
    ("required", "actual", "score"),
    [(100, 100, 100.0), (100, 200, 100 * (1 - 1 / 3)), (100, 400, 0.0), (100, 50, 50.0),
     (100, 80, 100 * (1 - 0.25 / 2)), (100, 25, 0.0), (100, 0, 0.0),
     (300, 330, 100 * (1 - 0.1 / 3))],
)
def test_length_score_is_the_longbench_write_formula(
    required: int, actual: int, score: float
) -> None:
    assert qc.length_score(required, actual) == pytest.approx(score)


def test_length_score_needs_a_positive_requirement() -> None:
    with pytest.raises(ValueError):
        qc.length_score(0, 10)


def test_phrases_match_whole_words_across_case_hyphens_and_plurals() -> None:
    text = "Two Fresnel lenses and a fresnel-lens. Fresnel lensing is not one."
    assert qc.count_phrase(text, "Fresnel lens") == 2
    assert qc.contains_phrase("The Keeper's log", "keeper")
    assert not qc.contains_phrase("Skerry Lighthouse", "Skerry Light")
    assert not qc.contains_phrase("anything", "")


def test_terminology_flags_variants_but_not_the_preferred_term() -> None:
    text = "The language model answered. Then the model failed. A light house stood."
    found = qc.terminology_violations(text, {"model": "language model", "light house":
                                             "lighthouse", "beacon": "beacon"})
    assert found == [("model", "language model", 1), ("light house", "lighthouse", 1)]
    assert qc.terminology_violations("The language model answered.",
                                     {"model": "language model"}) == []


def test_forbidden_items_are_counted() -> None:
    assert qc.forbidden_mentions("Smuggling, smugglers and smuggling.", ["smuggling", "ghosts"]) \
        == [("smuggling", 2)]


def test_key_points_are_covered_by_their_content_words() -> None:
    text = "Here the global anchor controlled how the structure of the text developed."
    assert qc.key_point_covered(text, "global anchor controls structure")
    assert not qc.key_point_covered(text, "local windows limit memory")
    assert qc.key_point_covered("We use it.", "use it")  # only stopwords: phrase match


def test_repeated_ngram_rate_sees_a_repeated_paragraph() -> None:
    paragraph = filler(80, "p")
    assert qc.repeated_ngram_rate(paragraph) < 0.02
    assert qc.repeated_ngram_rate(paragraph + "\n\n" + paragraph) > 0.45
    assert qc.repeated_ngram_rate("too short") == 0.0


def test_near_duplicate_sentences_across_sections() -> None:
    first = "The keeper climbed the spiral staircase at dusk to light the great lamp. It rained."
    second = ("The keeper climbed the spiral staircase at dusk to light the big lamp. "
              "Boats passed.")
    (dup,) = qc.near_duplicates([first, second, filler(50, "x")], threshold=0.6)
    assert (dup.section, dup.other_section) == (1, 0)
    assert dup.sentence.startswith("The keeper climbed") and 0.6 <= dup.similarity < 1
    assert qc.near_duplicates([first, second]) == []  # below the default 0.8
    assert qc.near_duplicates([first, first]) != []
    assert qc.near_duplicates(["Same sentence here in one text. " * 2]) == []  # within one


def test_voice_drift_is_flagged_outside_quotes() -> None:
    third = filler(60, "v")
    assert qc.voice_problem(third, "third-person") is None
    drifted = third + " We think our readers will see why we care. I agree with us."
    problem = qc.voice_problem(drifted, "third-person")
    assert problem is not None and "third-person" in problem
    quoted = third + ' "We think our readers will see why we care," she said. "I agree."'
    assert qc.voice_problem(quoted, "third person") is None
    assert qc.voice_problem(drifted, "first-person plural") is None
    assert qc.voice_problem(drifted, "whatever") is None


def _section(text: str, others: list[str] | None = None, target: int = 120) -> qc.SectionCheck:
    return qc.check_section(
        text, index=len(others or []), title="Part", target_words=target,
        key_points=["rotating prism"], required_entities=["Skerry Light"],
        terminology_preferences={"light house": "lighthouse"}, do_not_include=["smuggling"],
        narrative_voice="third-person", others=[*(others or []), ""],
    )


def _clean(words: int = 120, seed: str = "c") -> str:
    return "The rotating prism of Skerry Light turned. " + filler(words - 7, seed)


def test_check_section_passes_a_clean_section() -> None:
    check = _section(_clean(), [filler(120, "earlier")])
    assert check.passed and check.problems() == []
    assert check.words == 120 and check.length_score == 100.0


def test_check_section_finds_each_planted_defect() -> None:
    earlier = filler(120, "earlier")
    missing = _section(_clean().replace("Skerry Light", "the light"), [earlier])
    assert missing.problems() == ["required entity not named: Skerry Light"]

    copied = _clean(80) + " " + earlier.split(". ", 1)[1]
    repeated = _section(copied, [earlier], target=len(copied.split()))
    assert any(p.startswith("repeats a sentence of section 1") for p in repeated.problems())

    looped = _clean(60) + "\n\n" + _clean(60)
    assert any(p.startswith("repeats itself") for p in _section(looped).problems())

    forbidden = _section(_clean(110) + " Smuggling thrived near the light house.")
    assert forbidden.problems() == ['uses "light house" 1x: write "lighthouse" instead',
                                    'mentions "smuggling" 1x: it must not appear']

    short = _section(_clean(50))
    assert short.problems() == ["length: 50 words for a target of 120 (length score 30/100)"]
    assert _section(_clean(400)).problems()[0].startswith("length: 400 words")


def test_real_prose_is_not_flagged_for_repetition_or_voice(shared: Path) -> None:
    """Calibration: State of the Union addresses cut into sections pass the repetition
    checks (they are first person, which the voice check rightly reports)."""
    raw = (shared / "corpus/speeches/1961-Kennedy.txt").read_text(encoding="latin-1")
    words = raw.split()
    sections = [" ".join(words[i: i + 400]) for i in range(0, 2000, 400)]
    for index, text in enumerate(sections):
        check = qc.check_section(text, index=index, title="", target_words=400,
                                 others=sections, narrative_voice="first-person")
        assert check.repetition_ok and not check.duplicates and check.voice is None
        assert check.problems() == []


def test_wrap_up_phrases_are_premature_before_the_last_section() -> None:
    assert qc.conclusion_marker("It rained. In conclusion, the sea won.") == "In conclusion"
    assert qc.conclusion_marker("Conclusions were drawn later.") is None
    text = _clean(110) + " To sum up, the prism turned."
    assert _section(text).problems() == []  # the last section may conclude
    middle = qc.check_section(text, index=0, title="", target_words=len(text.split()),
                              is_last=False)
    assert middle.problems() == ['concludes too early ("To sum up"): more sections follow']


def test_repeated_wording_counts_what_earlier_sections_already_used() -> None:
    earlier = ("The bucket holds a fixed number of tokens at any time. Each request spends one "
               "token from the bucket before it is sent.")
    later = ("A client waits when the bucket holds a fixed number of tokens at any time and "
             "each request spends one token from the bucket before it is sent. " + filler(40, "r"))
    assert qc.repeated_ngram_rate(later) < 0.02  # nothing repeats within the section itself
    assert qc.repeated_ngram_rate(later, before=[earlier]) > 0.2
    assert qc.repeated_ngrams(later, before=[earlier], limit=2) == [
        "the bucket holds a fixed", "bucket holds a fixed number"]
    check = qc.check_section(later, index=1, title="", target_words=qc.count_words(later),
                             others=[earlier, ""])
    (problem,) = check.problems()
    assert problem.startswith("repeats itself: ") and "were already used (say these " \
        'differently: "the bucket holds a fixed"' in problem


def test_drop_repeats_takes_out_a_copied_paragraph_with_its_short_sentences() -> None:
    earlier = "Prism one. It turns. " + filler(60, "e")
    text = earlier + "\n\n" + filler(50, "new")
    cleaned, dropped = qc.drop_repeats(text, [earlier])
    assert cleaned == filler(50, "new")  # the short "Prism one." and "It turns." went too
    assert dropped[:2] == ["Prism one.", "It turns."]


def test_drop_repeats_takes_out_template_sentences_but_keeps_new_ones() -> None:
    earlier = "Skimming is a common bad habit in English reading and it leads to poor recall."
    # not a near-duplicate (trigram Jaccard 0.56), but most of its 5-grams are used already
    template = ("Rereading each page is a common bad habit in English reading and it leads to "
                "slow progress.")
    new = "Rereading every line twice slows a reader down without helping memory at all."
    cleaned, dropped = qc.drop_repeats(f"{template} {new}", [earlier])
    assert dropped == [template] and cleaned == new
    # the same sentence inside the text itself
    cleaned, dropped = qc.drop_repeats(f"{earlier} {new} {template}")
    assert dropped == [template] and cleaned == f"{earlier} {new}"


def test_drop_repeats_leaves_real_prose_almost_whole(shared: Path) -> None:
    """Calibration: State of the Union addresses cut into sections lose (almost) nothing."""
    raw = (shared / "corpus/speeches/1961-Kennedy.txt").read_text(encoding="latin-1")
    words = raw.split()
    sections = [" ".join(words[i: i + 400]) for i in range(0, 2000, 400)]
    for index, text in enumerate(sections):
        cleaned, _ = qc.drop_repeats(text, sections[:index])
        assert qc.count_words(cleaned) >= 0.97 * qc.count_words(text)


def test_cut_to_length_keeps_whole_sentences_and_paragraphs() -> None:
    text = "One two three four. Five six seven.\n\nEight nine ten eleven. Twelve thirteen."
    assert qc.cut_to_length(text, 100) == text
    assert qc.cut_to_length(text, 9) == "One two three four. Five six seven."
    assert qc.cut_to_length(text, 12) == ("One two three four. Five six seven.\n\n"
                                          "Eight nine ten eleven.")
    assert qc.cut_to_length(text, 2) == text  # not even one sentence fits: left as it is


def test_overused_phrases_lists_frames_used_twice_not_topic_terms_nor_their_overlaps() -> None:
    earlier = ("Skipping words can lead to a lack of focus. Reading fast can lead to a lack of "
               "sleep. The rotating prism turns. The rotating prism shines.")
    later = "Guessing can lead to a loss of meaning. A single mention of the harbour wall."
    phrases = qc.overused_phrases([earlier, later], skip=["how a rotating prism works"])
    assert phrases[0] == "can lead to a"  # three times, the most used first
    # used twice: listed; overlapping occurrences of a listed phrase are not listed again
    assert "lead to a lack" not in phrases and "to a lack of" not in phrases
    assert not any("rotating prism" in p for p in phrases)  # the topic's own term stays usable
    assert not any("harbour" in p for p in phrases)  # used once: no frame
    assert qc.overused_phrases([earlier], limit=1) == ["can lead to a"]
