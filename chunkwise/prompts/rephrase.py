"""Prompts of the rephrase pipeline: style presets, the rewrite prompt, the judge prompt.

The rewrite prompt is one system message with the rules and one user message with labelled
sections (style, end of the rewrite so far, already-covered source, problems to fix, the text
to rewrite), so a small local model sees plainly what is context and what to rewrite, and is
asked for the rewritten text only.

The user message is built from a `RewriteRequest` and parses back into the same request
(`parse_rewrite_messages`), exactly, for any text: each tagged block gets a tag name that does
not occur in its content. Scripted test models and the adapter for the original
``rewrite(RewriteRequest)`` model API rely on that round trip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from chunkwise.errors import ConfigError
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.text.tokens import Tokenizer

__all__ = [
    "STYLES",
    "RewriteRequest",
    "RewriteVerdict",
    "Style",
    "judge_messages",
    "parse_rewrite_messages",
    "resolve_style",
    "rewrite_messages",
    "rewrite_prompt_overhead",
]


@dataclass(frozen=True)
class Style:
    """A rewriting style: its instruction and the length bounds its rewrites should keep."""

    name: str
    title: str
    instruction: str
    min_length_ratio: float = 0.5
    max_length_ratio: float = 2.0
    min_change: float = 0.15  # share of words a rewrite must change (0: may return the text)


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "faithful",
            "faithful paraphrase",
            "Paraphrase the text faithfully. Say the same things in different words and sentence "
            "structures, in the same order, at about the same length. Keep the register, tense "
            "and point of view of the original, and keep dialogue as dialogue. Every fact, name, "
            "number, date, quotation and technical term stays exactly as it is.",
            0.6,
            1.6,
            0.0,
        ),
        Style(
            "simpler",
            "simpler wording",
            "Rewrite the text in simpler, plainer English for a general reader. Use short "
            "sentences and common words; explain a hard term in a few words the first time it "
            "appears. Do not leave anything out and do not add new facts. Names, numbers, dates, "
            "citations, formulas and code stay exactly as they are.",
            0.6,
            1.8,
        ),
        Style(
            "wikipedia",
            "Wikipedia-like",
            "Rewrite the text in the style of a Wikipedia article: neutral, encyclopedic, third "
            "person, no rhetorical questions, no first-person voice, no praise or opinion. State "
            "facts plainly with their dates and figures; attribute claims to whoever made them. "
            "Keep every fact, name, number, citation and formula; add nothing.",
            0.5,
            1.8,
        ),
        Style(
            "academic",
            "academic",
            "Rewrite the text in a formal academic register, as in a peer-reviewed paper: "
            "precise terminology, hedged claims where the original is uncertain, clear logical "
            "connectives, no contractions or colloquialisms. Keep every fact, name, number, "
            "citation, formula and code block exactly; add no claims of your own.",
            0.6,
            1.8,
        ),
        Style(
            "question-answer",
            "question-answer",
            "Rewrite the text as a sequence of questions and answers that together cover all of "
            "its content in the original order. Write each question on its own line starting "
            "with 'Q: ' and its answer on the next line starting with 'A: '. Answers use only "
            "what the text says and keep every name, number, citation and formula exactly.",
            0.6,
            3.0,
        ),
        Style(
            "study-notes",
            "study notes",
            "Rewrite the text as clear study notes: short bullet points ('- ') grouped under brief "
            "headings where the topic changes, with key terms in **bold**. Cover every point, "
            "fact and example of the text in order; keep every name, number, date, citation, "
            "formula and code block exactly. No commentary of your own.",
            0.3,
            1.8,
        ),
    )
}
_ALIASES = {
    "paraphrase": "faithful",
    "simple": "simpler",
    "simplify": "simpler",
    "wiki": "wikipedia",
    "qa": "question-answer",
    "q&a": "question-answer",
    "notes": "study-notes",
}


def resolve_style(name: str | None = None, instruction: str | None = None) -> Style:
    """A preset by name (or alias), or a custom instruction; `ConfigError` for unknown names."""
    if instruction is not None and instruction.strip():
        if name:
            base = resolve_style(name)
            return Style(
                base.name,
                base.title,
                " ".join(instruction.split()),
                base.min_length_ratio,
                base.max_length_ratio,
                base.min_change,
            )
        # a custom instruction may ask for anything, a light touch included
        return Style("custom", "custom", " ".join(instruction.split()), 0.5, 2.0, 0.0)
    if instruction is not None:
        raise ConfigError("the style instruction is empty; give one, or a style name")
    key = (name or "faithful").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in STYLES:
        raise ConfigError(f"unknown style {name!r}; choose one of {', '.join(STYLES)}")
    return STYLES[key]


@dataclass(frozen=True)
class RewriteRequest:
    """What the model is asked for one part (the original API's name, kept for callers).

    `current_chunk` is the text to rewrite; `overlap_text` is the source just before it, which
    the previous part already covered; `rewritten_prefix` is the end of the rewrite so far.
    A model that returns `current_chunk` unchanged reproduces the document exactly.
    """

    style_instruction: str
    current_chunk: str
    rewritten_prefix: str = ""
    overlap_text: str = ""
    chunk_index: int = 0
    total_chunks: int = 1
    feedback: tuple[str, ...] = ()
    attempt: int = 0  # retries of this part so far; a retry's prompt differs from the last


SYSTEM = """\
You rewrite a long document one part at a time. Each message gives you one part to rewrite \
and, for context only, the end of your rewrite so far and the source text just before the part.

Rules:
1. Rewrite only the text inside the <text_to_rewrite> block, following the style.
2. Keep the meaning and every fact. Names, numbers, dates, citations, LaTeX formulas and code \
blocks stay exactly as written.
3. Do not add facts, opinions, summaries or comments. Do not skip any sentence.
4. Continue smoothly from the end of your rewrite so far, but never repeat it, and never \
rewrite the already-covered source text again.
5. Keep the structure: headings, paragraphs, lists, quotations, code blocks and equations \
stay where they are.
6. Change the wording as the style asks: the text copied back as it is, is not a rewrite.
7. Answer with the rewritten text only: no introduction such as "Here is", no notes, no tags, \
no quotation marks around the answer."""

_HEADER = "Part {index} of {total} of the document."
_HEADER_RE = re.compile(r"Part (\d+) of (\d+) of the document\.")
_START_NOTE = "This is the beginning of the document: nothing has been rewritten yet."
_INTROS = {
    "style": "Style to write in:",
    "rewritten_so_far": (
        "The end of your rewrite so far (continue right after it; do not repeat it):"
    ),
    "already_covered": (
        "Source text just before this part. It is already covered by the rewrite above: "
        "use it only as context and do not rewrite it again:"
    ),
    "problems": "Your previous answer for this part was rejected. Fix these problems this time:",
    "text_to_rewrite": (
        "Rewrite the following text in the style above. Keep every name, number, citation, "
        "formula and code block. Write only the rewritten text."
    ),
}
_ORDER = ("style", "rewritten_so_far", "already_covered", "problems", "text_to_rewrite")
_TRAILER = "Now write the rewritten text only."
_ATTEMPT = "This is attempt {number} for this part."
_ATTEMPT_RE = re.compile(r"This is attempt (\d+) for this part\.")


def _tag_for(name: str, content: str) -> str:
    """`name`, or `name_2`, `name_3`... : the first whose tags do not occur in `content`."""
    tag, k = name, 1
    while f"<{tag}>" in content or f"</{tag}>" in content:
        k += 1
        tag = f"{name}_{k}"
    return tag


def _block(name: str, content: str) -> str:
    tag = _tag_for(name, content)
    return f"{_INTROS[name]}\n<{tag}>\n{content}\n</{tag}>"


def _one_line(reason: str) -> str:
    return " ".join(reason.split())


def rewrite_messages(request: RewriteRequest) -> list[BaseMessage]:
    """System rules plus one user message with the labelled sections of `request`."""
    sections = [_HEADER.format(index=request.chunk_index + 1, total=request.total_chunks)]
    if request.chunk_index == 0 and not request.rewritten_prefix:
        sections.append(_START_NOTE)
    values = {
        "style": request.style_instruction,
        "rewritten_so_far": request.rewritten_prefix,
        "already_covered": request.overlap_text,
        "problems": "\n".join(
            [_ATTEMPT.format(number=request.attempt + 1)]
            + [f"- {_one_line(r)}" for r in request.feedback]
        )
        if request.feedback or request.attempt
        else "",
        "text_to_rewrite": request.current_chunk,
    }
    for name in _ORDER:
        if values[name] or name in ("style", "text_to_rewrite"):
            sections.append(_block(name, values[name]))
    sections.append(_TRAILER)
    return [SystemMessage(SYSTEM), HumanMessage("\n\n".join(sections))]


# A retry's prompt lists why the last answer failed: a line per failed check (seven built-in
# checks, extra ones, the judge's reasons).
FEEDBACK_RESERVE_TOKENS = 400


def rewrite_prompt_overhead(style_instruction: str, tokenizer: Tokenizer | None = None) -> int:
    """Tokens of a rewrite prompt around its three texts (the part, the rewrite so far, the
    covered source): rules, style, labels and tags, plus room for a retry's reasons."""
    skeleton = RewriteRequest(
        style_instruction=style_instruction,
        current_chunk="x",
        rewritten_prefix="x",
        overlap_text="x",
        chunk_index=998,
        total_chunks=999,
        attempt=9,
    )
    return prompt_tokens(rewrite_messages(skeleton), tokenizer) + FEEDBACK_RESERVE_TOKENS


def _message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)


def parse_rewrite_messages(messages: Sequence[BaseMessage]) -> RewriteRequest:
    """The `RewriteRequest` a rewrite prompt was built from (`ValueError` if it is not one)."""
    text = _message_text(messages[-1]) if messages else ""
    header = _HEADER_RE.match(text)
    if header is None:
        raise ValueError("not a chunkwise rewrite prompt")
    pos = header.end() + 2
    if text.startswith(_START_NOTE, pos):
        pos += len(_START_NOTE) + 2
    values: dict[str, str] = {}
    for name in _ORDER:
        intro = _INTROS[name] + "\n<"
        if not text.startswith(intro, pos):
            continue
        open_tag = re.compile(rf"({re.escape(name)}(?:_\d+)?)>\n").match(text, pos + len(intro))
        if open_tag is None:
            raise ValueError(f"malformed <{name}> block in a rewrite prompt")
        closing = f"\n</{open_tag.group(1)}>"
        end = text.find(closing, open_tag.end())
        if end < 0:
            raise ValueError(f"unclosed <{name}> block in a rewrite prompt")
        values[name] = text[open_tag.end() : end]
        pos = end + len(closing) + 2
    if "text_to_rewrite" not in values:
        raise ValueError("a rewrite prompt without a text to rewrite")
    problems = values.get("problems", "")
    attempt = _ATTEMPT_RE.match(problems)
    return RewriteRequest(
        style_instruction=values.get("style", ""),
        current_chunk=values["text_to_rewrite"],
        rewritten_prefix=values.get("rewritten_so_far", ""),
        overlap_text=values.get("already_covered", ""),
        chunk_index=int(header.group(1)) - 1,
        total_chunks=int(header.group(2)),
        feedback=tuple(line[2:] for line in problems.split("\n") if line.startswith("- ")),
        attempt=int(attempt.group(1)) - 1 if attempt else 0,
    )


# --- judge ----------------------------------------------------------------------------------


class RewriteVerdict(BaseModel):
    """The judge's structured answer for one rewritten part: a score and what was wrong
    (generate's judge grades a whole section instead: `state.generate.SectionGrade`)."""

    score: int = Field(
        ge=1,
        le=5,
        description="5: every fact kept, nothing added, style followed; 4: minor wording issues; "
        "3: a fact changed or dropped; 2: several facts wrong or missing; 1: unrelated or broken",
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="Short concrete problems (what was dropped, changed or added); empty if none",
    )


JUDGE_SYSTEM = """\
You check one rewritten part of a long document against its source. A good rewrite keeps \
every fact, name, number, citation and formula of the source, adds nothing, leaves nothing \
out, and follows the requested style. Wording may change freely. Judge only the text inside \
the <source> and <rewrite> blocks."""


def judge_messages(style_instruction: str, source: str, rewritten: str) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            f"Requested style:\n<style>\n{style_instruction}\n</style>",
            f"Source part:\n<{_tag_for('source', source)}>\n{source}\n"
            f"</{_tag_for('source', source)}>",
            f"Rewritten part:\n<{_tag_for('rewrite', rewritten)}>\n{rewritten}\n"
            f"</{_tag_for('rewrite', rewritten)}>",
            "Give a score from 1 to 5 and list the concrete problems, if any: facts dropped, "
            "changed or added, and style not followed.",
        ]
    )
    return [SystemMessage(JUDGE_SYSTEM), HumanMessage(body)]
