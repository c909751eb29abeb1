"""Scripted rewrite models for the rephrase tests: each answers the `rewrite` task."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.prompts.rephrase import RewriteRequest, parse_rewrite_messages
from chunkwise.text.decoding import decode_text


def request_of(call: ScriptedCall) -> RewriteRequest:
    return parse_rewrite_messages(call.messages)


def echo(call: ScriptedCall) -> str:
    return request_of(call).current_chunk


def upper(call: ScriptedCall) -> str:
    return request_of(call).current_chunk.upper()


def drop_numbers(call: ScriptedCall) -> str:
    return re.sub(r"\d", "", request_of(call).current_chunk)


def repeat_covered(call: ScriptedCall) -> str:
    """Rewrites the already-covered overlap again before its own text."""
    request = request_of(call)
    return f"{request.overlap_text}\n{request.current_chunk}".strip()


def say_twice(call: ScriptedCall) -> str:
    """A looping model: its text twice."""
    chunk = request_of(call).current_chunk
    return f"{chunk}\n\n{chunk}"


def model(rewrite: Callable[[ScriptedCall], Any], **more: Any) -> ScriptedChatModel:
    """A scripted model answering the rewrite task with `rewrite` (and `more` tasks)."""
    return ScriptedChatModel(responders={"rewrite": rewrite, **more})


def chunk_of(call: ScriptedCall) -> int:
    return request_of(call).chunk_index


def read_text(path: Path) -> str:
    """A shared text file decoded like the loaders do (for texts whose bytes do not matter)."""
    return decode_text(path.read_bytes(), str(path))
