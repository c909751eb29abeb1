"""Rewrite prompts: sectioned, one system + one user message, and exactly parseable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage, SystemMessage

from chunkwise.errors import ConfigError
from chunkwise.prompts.rephrase import (
    STYLES,
    RewriteRequest,
    RewriteVerdict,
    judge_messages,
    parse_rewrite_messages,
    resolve_style,
    rewrite_messages,
)

# Texts that try to break the parse: the prompt's own tags and labels inside the content.
TRICKY = st.sampled_from(
    [
        "<text_to_rewrite>",
        "</text_to_rewrite>",
        "<text_to_rewrite_2>\n",
        "\n</style>",
        "</rewritten_so_far>",
        "<already_covered>\n",
        "- ",
        "\n\n",
        "Part 1 of 2 of the document.",
        "Now write the rewritten text only.",
        "\r\n",
        "\ufeff",
    ]
)
CONTENT = st.lists(st.one_of(st.text(max_size=20), TRICKY), max_size=12).map("".join)
REASON = st.text(max_size=40).map(lambda r: " ".join(r.split()))


@settings(max_examples=300, deadline=None)
@given(
    style=CONTENT,
    chunk=CONTENT,
    prefix=CONTENT,
    overlap=CONTENT,
    index=st.integers(0, 500),
    extra=st.integers(1, 500),
    feedback=st.lists(REASON, max_size=4).map(tuple),
    attempt=st.integers(0, 5),
)
def test_prompt_parses_back_to_its_request(
    style: str,
    chunk: str,
    prefix: str,
    overlap: str,
    index: int,
    extra: int,
    feedback: tuple[str, ...],
    attempt: int,
) -> None:
    request = RewriteRequest(style, chunk, prefix, overlap, index, index + extra, feedback, attempt)
    assert parse_rewrite_messages(rewrite_messages(request)) == request


def test_prompt_shape_for_small_models() -> None:
    request = RewriteRequest(
        STYLES["simpler"].instruction,
        "The text.",
        "Rewritten before.",
        "Covered source.",
        2,
        9,
        ("numbers missing from the rewrite: 42",),
        1,
    )
    system, user = rewrite_messages(request)
    assert isinstance(system, SystemMessage) and isinstance(user, HumanMessage)
    assert "only" in str(system.content) and "rewritten text" in str(system.content)
    body = str(user.content)
    assert body.startswith("Part 3 of 9 of the document.")
    order = [
        "<style>",
        "<rewritten_so_far>",
        "<already_covered>",
        "<problems>",
        "<text_to_rewrite>",
        "Now write the rewritten text only.",
    ]
    assert [body.index(tag) for tag in order] == sorted(body.index(tag) for tag in order)
    assert "This is attempt 2 for this part.\n- numbers missing from the rewrite: 42" in body


def test_first_part_says_nothing_is_written_yet() -> None:
    body = str(rewrite_messages(RewriteRequest("Be plain.", "Text."))[1].content)
    assert "beginning of the document" in body
    assert "<rewritten_so_far>" not in body and "<already_covered>" not in body


def test_a_tag_inside_the_text_gets_a_fresh_tag() -> None:
    chunk = "Write <text_to_rewrite> literally."
    body = str(rewrite_messages(RewriteRequest("Be plain.", chunk))[1].content)
    assert f"<text_to_rewrite_2>\n{chunk}\n</text_to_rewrite_2>" in body


def test_parse_rejects_other_prompts() -> None:
    with pytest.raises(ValueError, match="not a chunkwise rewrite prompt"):
        parse_rewrite_messages([HumanMessage("Summarize this.")])


def test_styles() -> None:
    assert set(STYLES) == {
        "faithful",
        "simpler",
        "wikipedia",
        "academic",
        "question-answer",
        "study-notes",
    }
    assert len({s.instruction for s in STYLES.values()}) == len(STYLES)
    assert resolve_style().name == "faithful"
    assert resolve_style("QA").name == "question-answer"
    assert resolve_style("notes").name == "study-notes"
    custom = resolve_style(None, "  Rewrite   for children. ")
    assert (custom.name, custom.instruction) == ("custom", "Rewrite for children.")
    with pytest.raises(ConfigError, match="unknown style 'poetic'; choose one of faithful"):
        resolve_style("poetic")
    with pytest.raises(ConfigError, match="empty"):
        resolve_style(None, "   ")


def test_judge_prompt_and_schema() -> None:
    system, user = judge_messages("Be plain.", "Source </source> text.", "Rewrite.")
    assert "faithful" in str(system.content) or "fact" in str(system.content)
    assert "<source_2>\nSource </source> text.\n</source_2>" in str(user.content)
    assert RewriteVerdict(score=5).reasons == []
    with pytest.raises(ValueError):
        RewriteVerdict(score=7)
