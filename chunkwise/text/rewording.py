"""Sentences that reuse wording the text already used, and the checks a reworded one must pass.

What is left of a small writer's repetition, once copied sentences are taken out
(`qc.drop_repeats`), is a few sentence frames said again with a new point each ("t-SNE can be
used to group ...", "t-SNE can be used to reduce ..."). Dropping those sentences would cost their
points; a sentence reworded by one short call keeps them, and the reply is kept only when it
repeats less and loses no number, name or citation. Offsets are kept so a reworded sentence
goes back in place and the rest of the text stays exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chunkwise.text import qc
from chunkwise.text.fidelity import ChunkSample, FidelityLimits, run_checks

__all__ = [
    "Repeat",
    "clean_reply",
    "repeat_share",
    "repeated_phrases",
    "repeated_sentences",
    "reworded",
    "splice",
    "used_ngrams",
]

NGRAM = 5  # the QC report's repetition measure: word 5-grams already used
KEPT_CHECKS = ("numbers", "entities", "citations")  # what a reworded sentence may not lose
LEAD_CHARS = 120  # enough text before a sentence for the 4 words a 5-gram can start with
MIN_RATIO, MAX_RATIO = 0.6, 1.6  # a reworded sentence's words against the original's
_STRICT = FidelityLimits(entity_min_ratio=1.0, entity_grace=0)  # one sentence: every name stays

_TOKEN = re.compile(r"[\u4e00-\u9fff]|[^\W_]+", re.UNICODE)  # as `qc.words_of` counts words
_SENTENCE = re.compile(r".+?(?:[.!?。！？][\"'”’)\]]*(?=\s|$)|$)")
# what stays before a sentence on its line: a list marker, a quote mark, a bold label
_LEAD = re.compile(r"^\s*(?:(?:[-*+]|\d+[.)])\s+|>\s*)?(?:\*\*[^*\n]{1,80}\*\*:?\s*)?")
_SKIPPED_LINE = re.compile(r"^\s*(?:#|\||```|~~~)")
_REPLY_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:new|reworded|rewritten|revised)?\s*(?:sentence|version)?\s*(?:\*\*)?:\s*",
    re.IGNORECASE)


@dataclass(frozen=True)
class Repeat:
    """A sentence whose word 5-grams were partly used before it: `start:end` is the sentence in
    the text (a list marker or bold label before it is not part of it), `phrases` are the
    repeated runs as written there, `before` is the sentence before it, for context."""

    start: int
    end: int
    sentence: str
    share: float
    phrases: tuple[str, ...]
    before: str = ""
    lead: tuple[str, ...] = ()  # the words just before it: 5-grams run across into it


def _grams(words: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)]


def used_ngrams(texts: Iterable[str]) -> set[tuple[str, ...]]:
    """Every word 5-gram of `texts`: what a reader has read by then."""
    return {gram for text in texts for gram in _grams(qc.words_of(text))}


def repeat_share(
    sentence: str, used: set[tuple[str, ...]], lead: Sequence[str] = ()
) -> float:
    """Share of the word 5-grams reaching into `sentence` (from the `lead` words before it)
    that are in `used` or earlier in it; 0 when too short."""
    flags = _repeated(lead, qc.words_of(sentence), set(used))
    return sum(flags) / len(flags) if flags else 0.0


def _lead(lead: Sequence[str]) -> list[str]:
    return list(lead)[-(NGRAM - 1):]  # a 5-gram reaching into a sentence starts at most 4 before


def _repeated(
    lead: Sequence[str], words: Sequence[str], seen: set[tuple[str, ...]]
) -> list[bool]:
    """For each word 5-gram reaching into `words` (it may start in `lead`, the words before
    them), whether `seen` already has it; `seen` gains them all."""
    flags = []
    for gram in _grams([*_lead(lead), *words] if words else []):
        flags.append(gram in seen)
        seen.add(gram)
    return flags


def _sentences(text: str) -> Iterable[tuple[int, int]]:
    """(start, end) of each sentence of the text's prose lines: headings, table rows and code
    are not prose, and a line's list marker or bold label stays outside the sentence."""
    offset = 0
    fenced = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and stripped and not _SKIPPED_LINE.match(line):
            # a small model may run list items together on one line: each may have a lead
            for match in _SENTENCE.finditer(line.rstrip()):
                lead = _LEAD.match(match.group())
                start = match.start() + (lead.end() if lead else 0)
                if start < match.end():
                    yield offset + start, offset + match.end()
        offset += len(line)


def _phrases(sentence: str, repeated: list[bool], lead: int) -> tuple[str, ...]:
    """The runs of repeated 5-grams in `sentence`, as written there (`repeated` counts from
    `lead` words before it)."""
    spans = [m.span() for m in _TOKEN.finditer(sentence)]
    runs: list[tuple[int, int]] = []  # word index ranges, end exclusive
    for i, hit in enumerate(repeated):
        if not hit:
            continue
        first = max(0, i - lead)
        if runs and first <= runs[-1][1]:
            runs[-1] = (runs[-1][0], i - lead + NGRAM)
        else:
            runs.append((first, i - lead + NGRAM))
    return tuple(sentence[spans[a][0] : spans[b - 1][1]] for a, b in runs)


def repeated_phrases(
    sentence: str, used: set[tuple[str, ...]], lead: Sequence[str] = ()
) -> tuple[str, ...]:
    """The runs of `sentence` whose word 5-grams are in `used` or earlier in it, as written."""
    flags = _repeated(lead, qc.words_of(sentence), set(used))
    return _phrases(sentence, flags, len(_lead(lead)))


def repeated_sentences(
    text: str, earlier: Sequence[str] = (), *, min_share: float
) -> list[Repeat]:
    """The sentences of `text` at least `min_share` of whose word 5-grams were already used, in
    the `earlier` texts or before them in `text`, in order."""
    used = used_ngrams(earlier)
    found: list[Repeat] = []
    last_end, before = 0, ""
    for start, end in _sentences(text):
        # what lies between sentences (a heading, a label) has been read too
        used |= used_ngrams([text[last_end:start]])
        sentence = text[start:end]
        # a label ("Clustering: t-SNE can be used ...") counts, as in the text's own measure
        lead = tuple(_lead(qc.words_of(text[max(0, start - LEAD_CHARS) : start])))
        repeated = _repeated(lead, qc.words_of(sentence), used)
        share = sum(repeated) / len(repeated) if repeated else 0.0
        if repeated and share >= min_share:
            found.append(Repeat(start, end, sentence, round(share, 3),
                                _phrases(sentence, repeated, len(lead)), before, lead))
        last_end, before = end, sentence
    return found


def splice(text: str, repeat: Repeat, sentence: str) -> str:
    """`text` with `repeat`'s sentence replaced by `sentence`; everything else as it was."""
    return text[: repeat.start] + sentence + text[repeat.end :]


def clean_reply(reply: str) -> str:
    """A reword reply's first line, without a "Reworded sentence:" label, quotes, a list
    marker or a bold label."""
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    new = _REPLY_LABEL.sub("", lines[0]).strip().strip('"“”').strip()
    return _LEAD.sub("", new, count=1).strip()


def reworded(
    repeat: Repeat, reply: str, used: set[tuple[str, ...]], keep: Sequence[str] = ()
) -> str | None:
    """The model's reworded sentence, cleaned, when it may replace `repeat.sentence`: one
    sentence of about the same length, repeating less of `used` (the 5-grams read before it)
    than the original did, keeping its numbers, names and citations and every `keep` term it
    named; else None."""
    new = clean_reply(reply)
    words, old_words = qc.count_words(new), qc.count_words(repeat.sentence)
    if not new or not MIN_RATIO * old_words <= words <= MAX_RATIO * old_words:
        return None
    if len(qc.sentences(new)) > 2 or new.lower() == repeat.sentence.lower():
        return None
    if repeat.sentence[-1:] in ".!?" and new[-1:] not in ".!?\"'”’)":
        return None
    if repeat_share(new, used, repeat.lead) >= repeat_share(repeat.sentence, used, repeat.lead):
        return None
    sample = ChunkSample(source=repeat.sentence, rewritten=new, limits=_STRICT)
    if not all(result.passed for result in run_checks(sample, KEPT_CHECKS)):
        return None
    if any(qc.contains_phrase(repeat.sentence, term) and not qc.contains_phrase(new, term)
           for term in keep):
        return None
    if repeat.sentence[:1].isupper() and new[:1].islower():
        new = new[0].upper() + new[1:]
    return new
