"""Deterministic quality metrics for generated long text: no model, no LangChain.

Lengths are counted in words the way LongBench-Write counts them (`count_words`: each CJK
character and each run of Latin letters is one word), so a plan's target lengths, the QC
report and the benchmark's length score S_l all use one unit.

What is measured, per section and for the whole text:

- coverage: required entities (exact phrase, case-, hyphen- and plural-insensitive) and key
  points (most of their content words present, after light stemming);
- terminology: a discouraged variant used where the plan prefers another term;
- do-not-include: a forbidden item mentioned;
- narrative voice: first/second-person pronouns where the plan asks for another voice;
- premature conclusions: a section before the last one that wraps the text up;
- repetition: the share of word n-grams that repeat an earlier one, sentences that repeat an
  earlier sentence of the same section, and near-duplicate sentences across sections (Jaccard
  similarity of word trigrams), each quoted so a rewrite knows what to drop;
- length: the LongBench-Write length score S_l against the section's and the plan's target.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "Duplicate",
    "QCThresholds",
    "SectionCheck",
    "check_section",
    "conclusion_marker",
    "contains_phrase",
    "count_phrase",
    "count_words",
    "cut_to_length",
    "drop_repeats",
    "forbidden_mentions",
    "key_point_covered",
    "length_score",
    "names_any",
    "near_duplicates",
    "overused_phrases",
    "repeated_ngram_rate",
    "repeated_ngrams",
    "restates",
    "self_repeats",
    "sentences",
    "terminology_violations",
    "trim_unfinished",
    "voice_problem",
    "words_of",
]

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"\b[a-zA-Z]+\b")
_TOKEN = re.compile(r"[\u4e00-\u9fff]|[^\W_]+", re.UNICODE)


# --- length ---------------------------------------------------------------------------------


def count_words(text: str) -> int:
    """Words as LongBench-Write counts them: CJK characters plus runs of Latin letters."""
    return len(_CJK.findall(text)) + len(_LATIN_WORD.findall(text))


def length_score(required: int, actual: int) -> float:
    """LongBench-Write S_l in [0, 100]: 100 on target, falling faster when too short.

    With required length x and output length y: 100 * max(0, 1 - (y/x - 1)/3) if y > x,
    else 100 * max(0, 1 - (x/y - 1)/2). An empty output scores 0.
    """
    if required <= 0:
        raise ValueError("required length must be positive")
    if actual <= 0:
        return 0.0
    x, y = float(required), float(actual)
    if y > x:
        return 100.0 * max(0.0, 1.0 - (y / x - 1.0) / 3.0)
    return 100.0 * max(0.0, 1.0 - (x / y - 1.0) / 2.0)


# --- phrases --------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits; each CJK character alone)."""
    return [w.lower() for w in _TOKEN.findall(text)]


def _phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    parts = [re.escape(p) for p in _TOKEN.findall(phrase)]
    if not parts:
        return None
    body = r"[\s\-_/]+".join(parts)
    # a trailing plural or possessive still names the same thing
    return re.compile(rf"(?<![^\W_]){body}(?:s|es|'s|’s)?(?![^\W_])", re.IGNORECASE)


def count_phrase(text: str, phrase: str) -> int:
    """Whole-word, case-insensitive occurrences; spaces, hyphens and underscores match alike."""
    pattern = _phrase_pattern(phrase)
    return 0 if pattern is None else len(pattern.findall(text))


def contains_phrase(text: str, phrase: str) -> bool:
    return count_phrase(text, phrase) > 0


_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "might",
        "more",
        "most",
        "must",
        "not",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "under",
        "use",
        "used",
        "uses",
        "using",
        "via",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "within",
        "without",
        "would",
        "you",
        "your",
        "also",
        "each",
        "about",
        "after",
        "before",
        "between",
        "both",
        "during",
        "other",
        "over",
        "same",
        "some",
        "very",
        "well",
    ]
)


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content_stems(text: str) -> list[str]:
    return [_stem(w) for w in words_of(text) if w not in _STOPWORDS and (len(w) > 2 or w.isdigit())]


def key_point_covered(text: str, point: str, *, threshold: float = 0.6) -> bool:
    """True when most content words of `point` (stemmed) occur in `text`."""
    wanted = set(_content_stems(point))
    if not wanted:
        return contains_phrase(text, point)
    present = set(_content_stems(text))
    return len(wanted & present) / len(wanted) >= threshold


def restates(point: str, other: str, *, threshold: float = 0.75) -> bool:
    """True when two short phrases (key points) say the same thing: the Jaccard similarity of
    their content words (stemmed) is at least `threshold`, or they are the same words."""
    mine, theirs = set(_content_stems(point)), set(_content_stems(other))
    if not mine or not theirs:
        return words_of(point) == words_of(other)
    return len(mine & theirs) / len(mine | theirs) >= threshold


def names_any(text: str, phrase: str) -> bool:
    """True when `text` names `phrase`: the phrase itself, or every one of its content words
    (so a ban on "rate limiting" conflicts with a topic about "rate limits")."""
    if contains_phrase(text, phrase):
        return True
    wanted = set(_content_stems(phrase))
    return bool(wanted) and wanted <= set(_content_stems(text))


# --- plan rules -----------------------------------------------------------------------------


def terminology_violations(text: str, preferences: Mapping[str, str]) -> list[tuple[str, str, int]]:
    """(variant, preferred, count) for each discouraged variant found in `text`.

    `preferences` maps a variant to the term to use instead; identical pairs only declare a
    term and are never violations. Occurrences inside the preferred term itself (the variant
    "model" inside "language model") do not count.
    """
    found: list[tuple[str, str, int]] = []
    for variant, preferred in preferences.items():
        if words_of(variant) == words_of(preferred) or not words_of(variant):
            continue
        masked = text
        pattern = _phrase_pattern(preferred)
        if pattern is not None:
            masked = pattern.sub(" ", text)
        count = count_phrase(masked, variant)
        if count:
            found.append((variant, preferred, count))
    return found


def forbidden_mentions(text: str, items: Sequence[str]) -> list[tuple[str, int]]:
    """(item, count) for each do-not-include item mentioned in `text`."""
    return [(item, n) for item in items if (n := count_phrase(text, item))]


_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
_FIRST = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"})
_SECOND = frozenset({"you", "your", "yours", "yourself", "yourselves"})


def _declared_voice(voice: str) -> str | None:
    lowered = voice.lower()
    for name, marks in (
        ("first", ("first", "1st")),
        ("second", ("second", "2nd")),
        ("third", ("third", "3rd")),
    ):
        if any(mark in lowered for mark in marks):
            return name
    return None


def voice_problem(text: str, narrative_voice: str, *, min_rate: float = 0.01) -> str | None:
    """A one-line problem when the text drifts out of the plan's narrative voice.

    Quoted speech is ignored. Third person: first/second-person pronouns are off-voice;
    first person: second-person ones; second person: first-person ones. Flags when the
    off-voice pronouns are at least 3 and at least `min_rate` of the words.
    """
    declared = _declared_voice(narrative_voice)
    if declared is None:
        return None
    words = words_of(_QUOTED.sub(" ", text))
    if not words:
        return None
    off = {"third": _FIRST | _SECOND, "first": _SECOND, "second": _FIRST}[declared]
    hits = [w for w in words if w in off]
    if len(hits) >= 3 and len(hits) / len(words) >= min_rate:
        sample = ", ".join(sorted(set(hits))[:4])
        return f"{len(hits)} off-voice pronouns ({sample}) in a {declared}-person text"
    return None


_CONCLUDING = re.compile(
    r"\b(?:in conclusion|to conclude|in summary|to sum up|in closing|concluding remarks|"
    r"all in all)\b", re.IGNORECASE)


def conclusion_marker(text: str) -> str | None:
    """The first wrap-up phrase ("In conclusion", "To sum up", ...) in `text`, if any."""
    match = _CONCLUDING.search(text)
    return match.group(0) if match else None


# --- repetition -----------------------------------------------------------------------------


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = words_of(text)
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def repeated_ngram_rate(text: str, n: int = 5, before: Sequence[str] = ()) -> float:
    """Share of the word n-grams of `text` that already occurred: earlier in `text`, or in the
    `before` texts (what the reader has read by then). 0 when `text` is too short."""
    grams = _ngrams(text, n)
    if not grams:
        return 0.0
    seen = {gram for other in before for gram in _ngrams(other, n)}
    repeats = 0
    for gram in grams:
        if gram in seen:
            repeats += 1
        else:
            seen.add(gram)
    return repeats / len(grams)


def repeated_ngrams(
    text: str, n: int = 5, before: Sequence[str] = (), limit: int = 3
) -> list[str]:
    """The word n-grams of `text` that were already used (earlier in it or in `before`), the
    most repeated first: what a rewrite should say differently."""
    seen = {gram for other in before for gram in _ngrams(other, n)}
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for gram in _ngrams(text, n):
        if gram in seen:
            counts[gram] += 1
        seen.add(gram)
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [" ".join(gram) for gram, _ in ranked[:limit]]


def overused_phrases(
    texts: Sequence[str], n: int = 4, limit: int = 8, skip: Sequence[str] = ()
) -> list[str]:
    """The word `n`-grams the `texts` already use more than once, the most used first, none
    overlapping an occurrence of one listed before it, none that `skip` names (a topic's own
    terms must be written again): the frames a small model falls back on ("can lead to a
    lack of"), which the next section should word differently."""
    places: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
    for number, text in enumerate(texts):
        for position, gram in enumerate(_ngrams(text, n)):
            places[gram].append((number, position))
    taken: set[tuple[int, int]] = set()
    out: list[str] = []
    for gram, where in sorted(places.items(), key=lambda item: (-len(item[1]), item[1][0])):
        if len(where) < 2 or len(out) >= limit:
            break
        spans = {(number, position + k) for number, position in where for k in range(n)}
        phrase = " ".join(gram)
        if spans & taken or any(names_any(asked, phrase) for asked in skip):
            continue
        taken |= spans
        out.append(phrase)
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"'”’)]*\s+|\n\s*\n")


def sentences(text: str) -> list[str]:
    """Sentences and paragraph-level fragments, stripped, non-empty."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


@dataclass(frozen=True)
class Duplicate:
    """A sentence of `section` nearly repeating one of `other_section`."""

    section: int
    other_section: int
    sentence: str
    similarity: float


Shingled = tuple[tuple[str, frozenset[tuple[str, ...]]], ...]


@lru_cache(maxsize=256)
def _shingled_sentences(text: str, min_words: int) -> Shingled:
    """(sentence, word trigrams) for each long enough sentence; cached, since a section is
    compared against every later one."""
    out = []
    for sentence in sentences(text):
        words = words_of(sentence)
        if len(words) >= min_words:
            out.append((sentence, frozenset(zip(words, words[1:], words[2:], strict=False))))
    return tuple(out)


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    min_words: int = 6,
) -> list[Duplicate]:
    """Sentences of one text whose word-trigram Jaccard with a sentence of an earlier text is
    at least `threshold`; each later sentence is reported once, against its closest match."""
    indexed = [(number, sentence, shingles)
               for number, text in enumerate(texts)
               for sentence, shingles in _shingled_sentences(text, min_words)]
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    found: list[Duplicate] = []
    for position, (number, sentence, shingles) in enumerate(indexed):
        candidates: set[int] = set()
        for shingle in shingles:
            candidates.update(postings.get(shingle, ()))
        best: tuple[float, int] | None = None
        for other in candidates:
            other_number, _, other_shingles = indexed[other]
            if other_number == number:
                continue
            similarity = len(shingles & other_shingles) / len(shingles | other_shingles)
            if similarity >= threshold and (best is None or similarity > best[0]):
                best = (similarity, other_number)
        if best is not None:
            found.append(Duplicate(number, best[1], sentence, round(best[0], 3)))
        for shingle in shingles:
            postings[shingle].append(position)
    return found


def self_repeats(text: str, *, threshold: float = 0.8, min_words: int = 6) -> list[str]:
    """Sentences of `text` that nearly repeat an earlier sentence of the same text (word-trigram
    Jaccard at least `threshold`), in order: a small model looping over its own paragraph."""
    kept: list[frozenset[tuple[str, ...]]] = []
    found: list[str] = []
    for sentence, shingles in _shingled_sentences(text, min_words):
        if any(len(shingles & seen) / len(shingles | seen) >= threshold for seen in kept):
            found.append(sentence)
        else:
            kept.append(shingles)
    return found


def _shingles(sentence: str) -> frozenset[tuple[str, ...]]:
    words = words_of(sentence)
    return frozenset(zip(words, words[1:], words[2:], strict=False))


def drop_repeats(
    text: str,
    earlier: Sequence[str] = (),
    *,
    threshold: float = 0.8,
    min_words: int = 6,
    paragraph_share: float = 0.5,
    sentence_share: float = 0.5,
    n: int = 5,
) -> tuple[str, list[str]]:
    """`text` without the sentences that repeat `earlier` texts or itself, and the sentences
    dropped. A sentence goes when it nearly repeats an earlier sentence (word-trigram Jaccard
    at least `threshold`) or when at least `sentence_share` of its word `n`-grams were already
    used (a small model's template sentence: "X is a common bad habit in English reading. It
    can lead to a lack of understanding of the text."). A paragraph at least `paragraph_share`
    of whose `n`-grams were already used goes whole, its short sentences too (a copied
    paragraph's "It concerns X." is no sentence of its own). Paragraphs without a repeat are
    kept exactly as they were; a paragraph left empty goes."""
    seen = [shingles for other in earlier for _, shingles in _shingled_sentences(other, min_words)]
    used = {gram for other in earlier for gram in _ngrams(other, n)}
    dropped: list[str] = []
    paragraphs: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        parts = [s.strip() for s in _SENTENCE_END.split(paragraph) if s and s.strip()]
        grams = _ngrams(paragraph, n)
        if grams and sum(g in used for g in grams) >= paragraph_share * len(grams):
            dropped += parts
            continue
        kept: list[str] = []
        removed = False
        for sentence in parts:
            long_enough = len(words_of(sentence)) >= min_words
            shingles = _shingles(sentence)
            own = _ngrams(sentence, n)
            if long_enough and (
                any(len(shingles & other) / len(shingles | other) >= threshold
                    for other in seen)
                or (own and sum(g in used for g in own) >= sentence_share * len(own))
            ):
                dropped.append(sentence)
                removed = True
                continue
            if long_enough:
                seen.append(shingles)
            used.update(own)
            kept.append(sentence)
        if not removed:
            paragraphs.append(paragraph)
        elif kept:
            paragraphs.append(" ".join(kept))
    if not dropped:
        return text, []
    return "\n\n".join(paragraphs), dropped


def cut_to_length(text: str, max_words: int) -> str:
    """`text` cut after its last whole sentence within `max_words` words (paragraph breaks
    kept); unchanged when it is no longer, or when its first sentence alone is longer."""
    if count_words(text) <= max_words:
        return text
    paragraphs: list[str] = []
    used = 0
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        kept: list[str] = []
        for sentence in (s.strip() for s in _SENTENCE_END.split(paragraph) if s and s.strip()):
            words = count_words(sentence)
            if used + words > max_words:
                break
            kept.append(sentence)
            used += words
        else:
            paragraphs.append(paragraph)
            continue
        if kept:
            paragraphs.append(" ".join(kept))
        break
    return "\n\n".join(paragraphs) if paragraphs else text


_FINISHED = re.compile(r"[.!?。！？:;…][\"'”’)\]*]*\s*$")
_LAST_STOP = re.compile(r"[.!?。！？][\"'”’)\]*]*(?=\s)")


def trim_unfinished(text: str, *, keep: float = 0.6) -> str:
    """`text` without a last sentence cut off mid-way (a reply that hit its token cap), when
    at least `keep` of it remains; a text ending in a list item, heading or code is kept."""
    text = text.rstrip()
    last_line = text.rsplit("\n", 1)[-1].lstrip()
    if not text or _FINISHED.search(text) or re.match(r"(?:[-*+>#|`]|\d+[.)])", last_line):
        return text
    stops = list(_LAST_STOP.finditer(text))
    if not stops or stops[-1].end() < keep * len(text):
        return text
    return text[: stops[-1].end()].rstrip()


# --- one section ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QCThresholds:
    """When a section fails QC (and is rewritten, while retries remain)."""

    min_length_score: float = 60.0
    max_repeated_ngram_rate: float = 0.06  # of its 5-grams already used, earlier sections too
    ngram: int = 5
    duplicate_similarity: float = 0.8
    key_point_coverage: float = 0.6


@dataclass
class SectionCheck:
    """Deterministic QC of one section; `problems()` lists what a rewrite must fix, quoting the
    passages it must drop, and `penalty()` ranks attempts (lower is better)."""

    index: int
    title: str
    words: int
    target_words: int
    length_score: float
    missing_key_points: list[str] = field(default_factory=list)
    missing_entities: list[str] = field(default_factory=list)
    terminology: list[tuple[str, str, int]] = field(default_factory=list)
    forbidden: list[tuple[str, int]] = field(default_factory=list)
    voice: str | None = None
    concludes_early: str | None = None
    repeated_ngram_rate: float = 0.0
    ngram: int = 5
    duplicates: list[Duplicate] = field(default_factory=list)
    self_repeats: list[str] = field(default_factory=list)
    repeated_phrases: list[str] = field(default_factory=list)
    length_ok: bool = True
    repetition_ok: bool = True

    def problems(self) -> list[str]:
        out = [f"key point not covered: {p}" for p in self.missing_key_points]
        out += [f"required entity not named: {e}" for e in self.missing_entities]
        out += [f'uses "{v}" {n}x: write "{p}" instead' for v, p, n in self.terminology]
        out += [f'mentions "{item}" {n}x: it must not appear' for item, n in self.forbidden]
        if self.voice:
            out.append(f"narrative voice: {self.voice}")
        if self.concludes_early:
            out.append(f'concludes too early ("{self.concludes_early}"): more sections follow')
        out += self.repetition_problems()
        if not self.length_ok:
            out.append(
                f"length: {self.words} words for a target of {self.target_words} "
                f"(length score {self.length_score:.0f}/100)"
            )
        return out

    def repetition_problems(self) -> list[str]:
        """Repeated text, each repeated passage quoted (at most three of each kind)."""
        out = [
            f'repeats a sentence of section {dup.other_section + 1}: "{_clip(dup.sentence)}"'
            for dup in self.duplicates[:3]
        ]
        out += [f'repeats its own earlier sentence: "{_clip(s)}"' for s in self.self_repeats[:3]]
        if not self.repetition_ok:
            rate = f"{self.repeated_ngram_rate:.0%}"
            shown = ", ".join(f'"{p}"' for p in self.repeated_phrases)
            example = f" (say these differently: {shown})" if shown else ""
            out.append(f"repeats itself: {rate} of its word {self.ngram}-grams were already "
                       f"used{example}")
        return out

    def penalty(self) -> int:
        """How far the section is from passing: one per problem, every repeated sentence
        counted, and a length problem weighted by how far off the length is."""
        points = len(self.problems())
        points += max(0, len(self.duplicates) - 3) + max(0, len(self.self_repeats) - 3)
        if not self.length_ok:
            points += int((100 - self.length_score) // 25)
        return points

    @property
    def passed(self) -> bool:
        return not self.problems()


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_section(
    text: str,
    *,
    index: int,
    title: str,
    target_words: int,
    key_points: Sequence[str] = (),
    required_entities: Sequence[str] = (),
    terminology_preferences: Mapping[str, str] | None = None,
    do_not_include: Sequence[str] = (),
    narrative_voice: str = "",
    others: Sequence[str | None] = (),
    thresholds: QCThresholds | None = None,
    duplicates: Sequence[Duplicate] | None = None,
    is_last: bool = True,
) -> SectionCheck:
    """Check section `index` against its spec, the plan's rules and the other sections.

    `others` holds every section's text by index (None or "" where there is none yet, and the
    entry at `index` is ignored); near-duplicates are reported against any of them, and the
    repeated n-gram rate counts what the sections before `index` already used. Checking
    every section of a document, pass `duplicates=near_duplicates(texts)` computed once.
    A section that is not `is_last` must not wrap the text up.
    """
    limits = thresholds or QCThresholds()
    words = count_words(text)
    score = length_score(target_words, words)
    before = [t for t in others[:index] if t]
    rate = repeated_ngram_rate(text, limits.ngram, before)
    repetition_ok = rate <= limits.max_repeated_ngram_rate
    if duplicates is None:
        texts = [t or "" for t in others]
        while len(texts) <= index:
            texts.append("")
        texts[index] = text
        duplicates = near_duplicates(texts, threshold=limits.duplicate_similarity)
    # the later copy is the one at fault: report duplicates found in this section only
    own = [d for d in duplicates if d.section == index]
    return SectionCheck(
        index=index,
        title=title,
        words=words,
        target_words=target_words,
        length_score=round(score, 1),
        missing_key_points=[
            p
            for p in key_points
            if not key_point_covered(text, p, threshold=limits.key_point_coverage)
        ],
        missing_entities=[e for e in required_entities if not contains_phrase(text, e)],
        terminology=terminology_violations(text, terminology_preferences or {}),
        forbidden=forbidden_mentions(text, do_not_include),
        voice=voice_problem(text, narrative_voice) if narrative_voice else None,
        concludes_early=None if is_last else conclusion_marker(text),
        repeated_ngram_rate=round(rate, 4),
        ngram=limits.ngram,
        duplicates=own,
        self_repeats=self_repeats(text, threshold=limits.duplicate_similarity),
        repeated_phrases=[] if repetition_ok else repeated_ngrams(text, limits.ngram, before),
        length_ok=score >= limits.min_length_score,
        repetition_ok=repetition_ok,
    )
