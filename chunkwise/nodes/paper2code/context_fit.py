"""Fit notes and other files into the code model's prompt budget.

The notes budget (`budget.notes_budget`) is the room a code prompt has besides its fixed text
and the reply. A repository file's prompt also shows the files before it, and a repair prompt
the file itself and its error; those come out of the same room. Files are shown whole when
they fit and as outlines (`text.code_outline.outline`) otherwise; the notes are cut last.
"""

from __future__ import annotations

from collections.abc import Mapping

from chunkwise.text.code_outline import outline
from chunkwise.text.tokens import count_tokens, head_tokens

MIN_NOTES_TOKENS = 256
_FENCES = {".py": "python", ".yaml": "yaml", ".md": "markdown"}


def show_file(path: str, text: str, *, whole: bool = True) -> str:
    lang = next((v for k, v in _FENCES.items() if path.endswith(k)), "")
    body = text if whole or not path.endswith(".py") else outline(text)
    label = path if whole or not path.endswith(".py") else f"{path} (outline)"
    return f"### {label}\n```{lang}\n{body.rstrip()}\n```"


def show_files(
    files: Mapping[str, str], budget: int, *, outlined: tuple[str, ...] = ()
) -> str:
    """The files whole if they fit in `budget` tokens, else as outlines, cut to the budget as
    a last resort; `outlined` files are always shown as outlines (boilerplate bodies)."""
    whole = "\n\n".join(show_file(p, t, whole=p not in outlined) for p, t in files.items())
    if count_tokens(whole) <= budget:
        return whole
    return head_tokens("\n\n".join(show_file(p, t, whole=False) for p, t in files.items()),
                       budget)


def fit_notes(notes: str, budget: int, *others: str) -> str:
    """The notes cut to what `budget` leaves after `others` (at least MIN_NOTES_TOKENS)."""
    room = max(MIN_NOTES_TOKENS, budget - sum(count_tokens(o) for o in others))
    if count_tokens(notes) <= room:
        return notes
    return head_tokens(notes, room).rstrip() + "\n[... notes cut to fit the model's context]"
