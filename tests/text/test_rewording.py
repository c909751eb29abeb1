"""Finding the sentences that reuse wording already read, and which reworded ones may replace
them: one sentence, repeating less, losing no number, name, citation or kept term."""

from __future__ import annotations

from chunkwise.text.rewording import (
    Repeat,
    repeat_share,
    repeated_phrases,
    repeated_sentences,
    reworded,
    splice,
    used_ngrams,
)

EARLIER = "Keepers can be used to watch the coast at night. They lit the lamp at dusk."
TEXT = ("## Uses\n\n"
        "- **Weather**: keepers can be used to watch the coast in a storm. Ships saw the beam.\n"
        "- **Rescue**: keepers can be used to watch the coast for wrecks near Skerry in 1852.\n"
        "\n```\nkeepers can be used to watch the coast\n```\n")


def _find(text: str = TEXT, earlier: tuple[str, ...] = (EARLIER,)) -> list[Repeat]:
    return repeated_sentences(text, list(earlier), min_share=0.2)


def test_sentences_reusing_earlier_wording_are_found_without_their_list_marker_or_label() -> None:
    found = _find()
    assert [r.sentence for r in found] == [
        "keepers can be used to watch the coast in a storm.",
        "keepers can be used to watch the coast for wrecks near Skerry in 1852.",
    ]
    first, second = found
    assert first.phrases == ("keepers can be used to watch the coast",)
    assert first.share == 0.444  # 4 of the 9 word 5-grams reaching into it ("uses weather ...")
    assert second.before == "Ships saw the beam."
    assert TEXT[first.start:first.end] == first.sentence
    # code is not prose: its line is never a candidate, whatever it repeats
    assert all("```" not in TEXT[r.start - 4:r.start] for r in found)


def test_the_first_use_of_a_frame_is_not_a_repeat_and_a_heading_is_never_a_candidate() -> None:
    assert _find(earlier=()) == [_find(earlier=())[0]]
    (only,) = _find(earlier=())
    assert only.sentence.endswith("near Skerry in 1852.")
    assert _find("# keepers can be used to watch the coast at night\n") == []


def test_run_together_list_items_are_each_found_without_their_label() -> None:
    text = ("- **A**: keepers can be used to watch the coast in a storm. - **B**: keepers can be "
            "used to watch the coast for wrecks.")
    assert [r.sentence for r in _find(text)] == [
        "keepers can be used to watch the coast in a storm.",
        "keepers can be used to watch the coast for wrecks.",
    ]


def test_a_repeated_label_counts_with_the_sentence_it_leads_into() -> None:
    earlier = ["Clustering: t-SNE can be used to group points."]
    (found,) = repeated_sentences("- **Clustering**: t-SNE can be applied to parts.", earlier,
                                  min_share=0.2)
    assert (found.sentence, found.share, found.phrases) == (
        "t-SNE can be applied to parts.", 0.25, ("t-SNE can be",))
    assert repeated_sentences("- **Grouping**: t-SNE can be applied to parts.", earlier,
                              min_share=0.2) == []


def test_a_splice_changes_the_sentence_and_nothing_else() -> None:
    first = _find()[0]
    new = "In a storm the keepers kept an eye on the shore."
    spliced = splice(TEXT, first, new)
    assert spliced == TEXT.replace(first.sentence, new, 1)
    assert spliced.startswith("## Uses\n\n- **Weather**: In a storm")


def _check(reply: str, keep: tuple[str, ...] = ()) -> str | None:
    second = _find()[1]
    used = used_ngrams([EARLIER, TEXT[:second.start]])
    return reworded(second, reply, used, keep)


def test_a_reworded_sentence_that_repeats_less_and_keeps_its_facts_is_taken_cleaned() -> None:
    reply = 'Reworded sentence: "in 1852 the keepers looked out for wrecks close to Skerry."'
    assert _check(reply) == "in 1852 the keepers looked out for wrecks close to Skerry."
    assert _check("- **Rescue**: In 1852 the crews searched for wrecks near Skerry.\n\nNote: "
                  "this keeps the meaning.") == "In 1852 the crews searched for wrecks near Skerry."


def test_a_reworded_sentence_starts_with_a_capital_where_the_original_did() -> None:
    text = "They watched. Keepers can be used to watch the coast for wrecks near Skerry in 1852."
    (repeat,) = repeated_sentences(text, [EARLIER], min_share=0.2)
    new = reworded(repeat, "in 1852 the crews searched for wrecks near Skerry.",
                   used_ngrams([EARLIER, "They watched."]))
    assert new == "In 1852 the crews searched for wrecks near Skerry."


def test_a_reworded_sentence_is_refused_when_it_repeats_as_much_or_loses_anything() -> None:
    refused = {
        "the same frame": "Keepers can be used to watch the coast for ships near Skerry in 1852.",
        "a number lost": "The keepers looked out for wrecks close to Skerry.",
        "a name lost": "In 1852 the keepers looked out for wrecks close to the island.",
        "far shorter": "Wrecks near Skerry, 1852.",
        "far longer": "In 1852 the keepers, who were many and brave and tired, looked out for "
                      "wrecks and for storms and for lost boats close to Skerry every night.",
        "no full stop": "In 1852 the keepers looked out for wrecks close to Skerry",
        "several sentences": "In 1852 they looked. Wrecks came. Skerry was near. Keepers ran.",
        "empty": "  \n ",
    }
    for why, reply in refused.items():
        assert _check(reply) is None, why
    assert _check("In 1852 the crews searched for wrecks near Skerry.", keep=("keepers",)) is None


def test_repeat_share_counts_repeats_inside_the_sentence_too() -> None:
    assert repeat_share("one two three four five one two three four five", set()) == 1 / 6
    assert repeat_share("too short", set()) == 0.0


def test_repeated_phrases_are_quoted_as_written_from_the_lead_on() -> None:
    used = used_ngrams([EARLIER])
    assert repeated_phrases("Keepers can be used to watch the Coast, they said.", used) == (
        "Keepers can be used to watch the Coast",)
    assert repeated_phrases("be used to watch the sea.", used, ("keepers", "can")) == (
        "be used to watch the",)
    assert repeated_phrases("Nothing here is old.", used) == ()
