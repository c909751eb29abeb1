"""Deterministic fidelity checks for one rewritten region: pure functions, no model.

Each check looks at a `ChunkSample` (the source region, its rewrite, and what the reader has
already seen before it) and returns a `CheckResult` whose reasons are written to be sent back
to the model on a retry. The built-in checks are:

- ``numbers``: every number of the source is in the rewrite (``1,000`` and ``1000`` match);
- ``entities``: capitalised names and acronyms of the source survive (case-insensitive);
- ``citations``: ``[12]``, ``[@key]``, ``\\cite{key}`` and ``(Author, 2020)`` keys survive;
- ``math``: every LaTeX math span is kept (whitespace aside);
- ``length_ratio``: rewrite length / source length within bounds;
- ``seam_repetition``: the rewrite does not open with text the reader has just read;
- ``repetition``: the rewrite does not repeat passages more often than the source does.

Every check compares the rewrite with its own source, so a rewrite equal to the source passes
all of them, whatever the text. Whether the style was applied is a separate question, measured
by `changed_share` and asked by `check_style_change` (a part nearly unchanged under a style that
asks for change fails it); the rephrase pipeline retries such a part once and reports it, but a
faithful copy is never a fidelity failure.

Checks are pluggable: any callable ``(ChunkSample) -> CheckResult`` (with an optional ``name``
attribute) can run beside the built-ins; `run_checks` runs a selection of both.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Protocol

from chunkwise.errors import ConfigError
from chunkwise.text.overlap import math_spans

__all__ = [
    "BUILTIN_CHECKS",
    "CheckResult",
    "ChunkSample",
    "FidelityCheck",
    "FidelityLimits",
    "changed_share",
    "check_name",
    "check_style_change",
    "citations_kept",
    "numbers_kept",
    "resolve_checks",
    "run_checks",
]


@dataclass(frozen=True)
class FidelityLimits:
    """Thresholds of the built-in checks; styles set their own length bounds."""

    min_length_ratio: float = 0.5
    max_length_ratio: float = 2.0
    min_chars_for_ratio: int = 200  # shorter regions vary too much to judge by length
    entity_min_ratio: float = 0.8
    entity_grace: int = 1  # this many missing names are always tolerated
    seam_ngram: int = 5
    seam_min_shared: int = 3  # shared 5-grams: 3 means a run of about 7 repeated words
    seam_words: int = 80
    repeat_ngram: int = 8
    repeat_min_excess: int = 3
    min_change: float = 0.0  # share of words the style asks to change (0: a copy is fine)
    min_words_for_change: int = 12  # shorter regions may have nothing to change


@dataclass(frozen=True)
class ChunkSample:
    """What a fidelity check sees of one attempt at a part: the region's source core, its
    rewrite, and what precedes it (texts, where a `text.overlap.Part` holds only offsets and
    `state.rephrase.PartRecord` what became of the part). Public: custom checks take it."""

    source: str
    rewritten: str
    previous: str = ""  # the end of the rewritten text so far
    covered: str = ""  # the source overlap shown to the model as already covered
    style: str = "faithful"
    limits: FidelityLimits = field(default_factory=FidelityLimits)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    reasons: tuple[str, ...] = ()
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "score": self.score,
        }


class FidelityCheck(Protocol):
    def __call__(self, sample: ChunkSample) -> CheckResult: ...


def check_name(check: Callable[..., Any]) -> str:
    return str(getattr(check, "name", None) or getattr(check, "__name__", type(check).__name__))


def _listing(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# --- numbers --------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def _numbers(text: str) -> list[str]:
    return [m.group().replace(",", "") for m in _NUMBER.finditer(text)]


def check_numbers(sample: ChunkSample) -> CheckResult:
    kept = set(_numbers(sample.rewritten))
    missing = list(dict.fromkeys(n for n in _numbers(sample.source) if n not in kept))
    if not missing:
        return CheckResult("numbers", True)
    return CheckResult(
        "numbers",
        False,
        (f"numbers missing from the rewrite: {_listing(missing)}; keep every number exactly",),
    )


# --- named entities -------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?…:;]['\"’”)\]]*\s+|\n\s*(?:[#>*+-]+\s*|\d+\.\s+)?)$")
# fmt: off
_NOT_NAMES = frozenset((
    "i", "a", "an", "the", "this", "that", "these", "those", "it", "its", "he", "she",
    "we", "they", "you", "my", "our", "your", "his", "her", "their", "but", "and", "or",
    "so", "if", "in", "on", "at", "of", "to", "for", "by", "with", "as", "from", "mr",
    "mrs", "ms", "miss", "dr", "sir",
))
# fmt: on


def _entities(text: str) -> list[str]:
    found: dict[str, None] = {}
    for m in _WORD.finditer(text):
        word = m.group().rstrip("'’-")
        if len(word) < 2 or not word[0].isupper() or word.lower() in _NOT_NAMES:
            continue
        acronym = sum(1 for c in word if c.isupper()) >= 2
        if not acronym and _SENTENCE_START.search(text, max(0, m.start() - 8), m.start()):
            continue  # a capital after a full stop proves nothing
        found.setdefault(word, None)
    return list(found)


def check_entities(sample: ChunkSample) -> CheckResult:
    names = _entities(sample.source)
    if not names:
        return CheckResult("entities", True, score=1.0)
    words = {w.lower().rstrip("'’-") for w in _WORD.findall(sample.rewritten)}
    missing = [n for n in names if n.lower() not in words]
    ratio = 1 - len(missing) / len(names)
    limits = sample.limits
    if len(missing) <= limits.entity_grace or ratio >= limits.entity_min_ratio:
        return CheckResult("entities", True, score=round(ratio, 3))
    return CheckResult(
        "entities",
        False,
        (f"names missing from the rewrite: {_listing(missing)}; keep every name",),
        score=round(ratio, 3),
    )


# --- citations ------------------------------------------------------------------------------

_PANDOC = re.compile(r"\[([^\[\]\n]*@[^\[\]\n]+)\]")
_PANDOC_KEY = re.compile(r"@([\w:./#$%&+?<>~-]*\w)")
_CITE = re.compile(r"\\(?:[a-zA-Z]*cite[a-zA-Z]*)\*?(?:\[[^\]]*\]){0,2}\{([^}]*)\}")
_NUMERIC = re.compile(r"\[(\d+(?:\s*[-–,]\s*\d+)*)\]")
_AUTHOR_YEAR = re.compile(
    r"\(([A-Z][\w'’-]+)(?: et al\.?|,? (?:and|&) [A-Z][\w'’-]+)?,? ((?:1[5-9]|20)\d\d[a-z]?)\)"
)


def _citations(text: str) -> list[tuple[str, str]]:
    """(label, what must appear) pairs: a citation key, or a bracket's numbers."""
    found: list[tuple[str, str]] = []
    for m in _PANDOC.finditer(text):
        found += [("@" + k, "@" + k) for k in _PANDOC_KEY.findall(m.group(1))]
    for m in _CITE.finditer(text):
        found += [(k.strip(), k.strip()) for k in m.group(1).split(",") if k.strip()]
    for m in _NUMERIC.finditer(text):
        found.append((m.group(), re.sub(r"\s+", "", m.group())))
    for m in _AUTHOR_YEAR.finditer(text):
        found.append((f"{m.group(1)} {m.group(2)}", m.group(1)))
        found.append((f"{m.group(1)} {m.group(2)}", m.group(2)))
    return list(dict.fromkeys(found))


def check_citations(sample: ChunkSample) -> CheckResult:
    cites = _citations(sample.source)
    if not cites:
        return CheckResult("citations", True)
    out = sample.rewritten
    squeezed = re.sub(r"\s+", "", out)
    missing = list(
        dict.fromkeys(
            label for label, needle in cites if needle not in out and needle not in squeezed
        )
    )
    if not missing:
        return CheckResult("citations", True)
    return CheckResult(
        "citations",
        False,
        (f"citations missing from the rewrite: {_listing(missing)}; keep every citation as is",),
    )


# --- math -----------------------------------------------------------------------------------


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_math(sample: ChunkSample) -> CheckResult:
    source = sample.source
    spans = [source[s:e] for s, e in math_spans(source)]
    if not spans:
        return CheckResult("math", True)
    out = _squeeze(sample.rewritten)
    missing = [m for m in dict.fromkeys(spans) if _squeeze(m) not in out]
    if not missing:
        return CheckResult("math", True)
    shown = [m if len(m) <= 60 else m[:57] + "..." for m in missing]
    return CheckResult(
        "math",
        False,
        (f"formulas changed or missing: {_listing(shown, 4)}; copy every formula unchanged",),
    )


# --- length ---------------------------------------------------------------------------------


def check_length_ratio(sample: ChunkSample) -> CheckResult:
    source, out = sample.source.strip(), sample.rewritten.strip()
    limits = sample.limits
    if not source:
        return CheckResult("length_ratio", True)
    if not out:
        return CheckResult("length_ratio", False, ("the rewrite is empty; rewrite the text",), 0.0)
    ratio = len(out) / len(source)
    if len(source) < limits.min_chars_for_ratio:
        return CheckResult("length_ratio", True, score=round(ratio, 3))
    if ratio < limits.min_length_ratio:
        why = (
            f"the rewrite is too short ({ratio:.2f} of the source length, at least "
            f"{limits.min_length_ratio:.2f} expected); rewrite all of the text, skip nothing"
        )
    elif ratio > limits.max_length_ratio:
        why = (
            f"the rewrite is too long ({ratio:.2f} of the source length, at most "
            f"{limits.max_length_ratio:.2f} expected); add nothing that is not in the text"
        )
    else:
        return CheckResult("length_ratio", True, score=round(ratio, 3))
    return CheckResult("length_ratio", False, (why,), score=round(ratio, 3))


# --- repetition -----------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _TOKEN.findall(text)]


def _ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def check_seam_repetition(sample: ChunkSample) -> CheckResult:
    """The opening of the rewrite must not repeat what the reader has just read, unless the
    source region itself contains that text."""
    limits = sample.limits
    n = limits.seam_ngram
    head = _ngrams(_words(sample.rewritten)[: limits.seam_words], n)
    if not head:
        return CheckResult("seam_repetition", True)
    seen = set(_ngrams(_words(sample.previous)[-limits.seam_words * 2 :], n))
    seen |= set(_ngrams(_words(sample.covered), n))
    own = set(_ngrams(_words(sample.source), n))
    repeated = [g for g in dict.fromkeys(head) if g in seen and g not in own]
    if len(repeated) < limits.seam_min_shared:
        return CheckResult("seam_repetition", True)
    example = " ".join(repeated[0])
    return CheckResult(
        "seam_repetition",
        False,
        (
            f'the rewrite repeats text that was already written before it (e.g. "{example}"); '
            "start with the first sentence of the text to rewrite",
        ),
    )


def check_repetition(sample: ChunkSample) -> CheckResult:
    """Passages repeated in the rewrite more often than in the source (a looping model)."""
    n = sample.limits.repeat_ngram
    out = Counter(_ngrams(_words(sample.rewritten), n))
    source = Counter(_ngrams(_words(sample.source), n))
    excess = {g: c - source.get(g, 0) for g, c in out.items() if c > max(1, source.get(g, 0))}
    total = sum(excess.values())
    if total < sample.limits.repeat_min_excess:
        return CheckResult("repetition", True)
    example = " ".join(max(excess.items(), key=lambda item: item[1])[0])
    return CheckResult(
        "repetition",
        False,
        (f'the rewrite repeats itself (e.g. "{example}"); say each thing once',),
    )


# --- style -----------------------------------------------------------------------------------


def changed_share(source: str, rewritten: str) -> float:
    """How much of `source` the rewrite changed, from 0 (the same words in the same order) to
    1 (nothing in common): one minus the similarity of the two word sequences."""
    a, b = _words(source), _words(rewritten)
    if not a and not b:
        return 0.0
    return 1.0 - SequenceMatcher(None, a, b, autojunk=False).ratio()


def check_style_change(sample: ChunkSample) -> CheckResult:
    """The rewrite changed at least the share of words its style asks for."""
    limits = sample.limits
    if limits.min_change <= 0 or len(_words(sample.source)) < limits.min_words_for_change:
        return CheckResult("style_change", True)
    share = changed_share(sample.source, sample.rewritten)
    if share >= limits.min_change:
        return CheckResult("style_change", True, score=round(share, 3))
    return CheckResult(
        "style_change",
        False,
        (f"the rewrite is nearly the same as the text (only {share:.0%} of its words changed): "
         "the style was not applied; rewrite it in the style asked for, keeping every name, "
         "number and citation",),
        score=round(share, 3),
    )


def numbers_kept(source: str, rewritten: str) -> tuple[int, int]:
    """(numbers of `source` found in `rewritten`, numbers of `source`), distinct numbers."""
    wanted = set(_numbers(source))
    return len(wanted & set(_numbers(rewritten))), len(wanted)


def citations_kept(source: str, rewritten: str) -> tuple[int, int]:
    """(citations of `source` kept in `rewritten`, citations of `source`)."""
    labels: dict[str, bool] = {}
    squeezed = re.sub(r"\s+", "", rewritten)
    for label, needle in _citations(source):
        kept = needle in rewritten or needle in squeezed
        labels[label] = labels.get(label, True) and kept
    return sum(labels.values()), len(labels)


# --- running --------------------------------------------------------------------------------

BUILTIN_CHECKS: dict[str, Callable[[ChunkSample], CheckResult]] = {
    "numbers": check_numbers,
    "entities": check_entities,
    "citations": check_citations,
    "math": check_math,
    "length_ratio": check_length_ratio,
    "seam_repetition": check_seam_repetition,
    "repetition": check_repetition,
}


def resolve_checks(names: Iterable[str] | None) -> tuple[str, ...]:
    """Built-in check names, validated; None means all of them."""
    if names is None:
        return tuple(BUILTIN_CHECKS)
    chosen = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in chosen if n not in BUILTIN_CHECKS]
    if unknown:
        raise ConfigError(
            f"unknown fidelity check {unknown[0]!r}; choose from {', '.join(BUILTIN_CHECKS)}"
        )
    return chosen


def run_checks(
    sample: ChunkSample,
    names: Iterable[str] | None = None,
    extra: Iterable[Callable[[ChunkSample], CheckResult]] = (),
) -> list[CheckResult]:
    """The selected built-in checks (all when `names` is None), then the extra ones."""
    results = [BUILTIN_CHECKS[name](sample) for name in resolve_checks(names)]
    for check in extra:
        result = check(sample)
        if not isinstance(result, CheckResult):
            raise TypeError(f"fidelity check {check_name(check)} returned {result!r}")
        results.append(result)
    return results
