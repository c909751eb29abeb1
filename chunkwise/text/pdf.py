"""Text, title and headings of a PDF, through pypdf.

PDF text comes without markup, so headings come from the document outline (bookmarks) when the
PDF has one, located in the extracted text by their titles; otherwise from numbered heading
lines such as ``3.2 Attention``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunkwise.errors import InputError
from chunkwise.text.decoding import normalise_newlines
from chunkwise.text.headings import Heading, merge_headings, numbered_headings

__all__ = ["PdfText", "read_pdf"]

_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "\x00": "", "\ufeff": ""}
)
_PAGE_NUMBER_TAIL = re.compile(r"\n[ \t]*\d{1,4}[ \t]*\Z")
_JUNK_TITLE = re.compile(r"^(untitled|microsoft word\b.*|.*\.(dvi|pdf|docx?|tex))$", re.I)


@dataclass(frozen=True)
class PdfText:
    """What a PDF yields: its text (pages joined by newlines), a title and headings."""

    text: str
    title: str
    headings: tuple[Heading, ...]


def _clean_page(raw: str) -> str:
    text = normalise_newlines(raw.translate(_LIGATURES)).strip("\n")
    return _PAGE_NUMBER_TAIL.sub("", text)  # a bare page number closing the page


def _open(path: Path) -> Any:
    import pypdf

    source = str(path)
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(
                f"{source}: PDF is encrypted with a password; give an unencrypted copy"
            )
        _ = len(reader.pages)
    except InputError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"{source}: cannot be read as PDF ({reason}); re-export it or give the "
            "LaTeX/Markdown source"
        ) from None
    return reader


def _outline_items(reader: Any) -> list[tuple[int, str, int]]:
    """(level, title, page index) of every outline entry, in document order."""
    items: list[tuple[int, str, int]] = []

    def walk(nodes: list[Any], level: int) -> None:
        for node in nodes:
            if isinstance(node, list):
                walk(node, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(node)
                title = " ".join(str(node.title).split())
            except Exception:  # a broken bookmark is not worth failing the document for
                continue
            if title and page is not None and page >= 0:
                items.append((level, title, page))

    try:
        walk(reader.outline, 1)
    except Exception:
        return []
    return items


_OUTLINE_NUMBER = re.compile(r"^(?:[IVXLC]+|[A-Z]|\d+(?:\.\d+)*)[:.]?\s+")


def _find_title_line(text: str, title: str, start: int, end: int) -> int | None:
    """Start of the line in `text[start:end]` that holds `title` as a heading, if any.

    Tries, in order: numbered heading alone on its line (so a figure label repeating the title
    loses to the real "3.2.1 Title" line), the title alone on its line, the title starting a
    line. Outline numbering ("II: Variables.") is dropped before searching.
    """
    core = _OUTLINE_NUMBER.sub("", title).rstrip(".").strip() or title
    body = r"[ \t]+".join(re.escape(w) for w in core.split())
    number = r"(?:[A-Z0-9]{1,4}(?:\.\d{1,2})*\.?[ \t]+)"
    for pattern in (
        rf"^[ \t]*{number}{body}[ \t]*$",
        rf"^[ \t]*{body}[ \t]*$",
        rf"^[ \t]*{number}?{body}",
    ):
        m = re.compile(pattern, re.MULTILINE | re.IGNORECASE).search(text, start, end)
        if m:
            return m.start()
    return None


def _outline_headings(reader: Any, text: str, page_starts: list[int]) -> list[Heading]:
    """Outline entries located in the text; entries that cannot be found are left out."""
    out = []
    cursor = 0
    for level, title, page in _outline_items(reader):
        if page >= len(page_starts):
            continue
        lo = max(cursor, page_starts[page])
        hi = page_starts[page + 2] if page + 2 < len(page_starts) else len(text)
        found = _find_title_line(text, title, lo, hi)
        if found is not None:
            out.append(Heading(level, title, found))
            cursor = found + 1
    if not out:
        return []
    top = min(h.level for h in out)  # entries above the first found one were not located
    return merge_headings(Heading(h.level - top + 1, h.title, h.offset) for h in out)


def _largest_font_text(page: Any) -> str:
    """Text set in the largest font on a page: the title, on a paper's first page."""
    runs: list[tuple[float, str]] = []

    def visit(text: str, cm: Any, tm: Any, _font: Any, size: Any) -> None:
        if text.strip():
            runs.append((round(abs(float(size) * float(tm[3]) * float(cm[3])), 1), text))

    try:
        page.extract_text(visitor_text=visit)
    except Exception:
        return ""
    if not runs:
        return ""
    sizes: dict[float, int] = {}
    for size, text in runs:
        sizes[size] = sizes.get(size, 0) + len(text)
    body = max(sizes, key=lambda s: sizes[s])
    top = max(sizes)
    if top <= body * 1.15:
        return ""
    title = " ".join(" ".join(t for s, t in runs if s == top).split())
    return title if 1 <= len(title.split()) <= 25 else ""


def _pdf_title(reader: Any, text: str, path: Path) -> str:
    meta = None
    try:
        meta = reader.metadata
    except Exception:
        meta = None
    title = " ".join(str(meta.title or "").split()) if meta is not None else ""
    if title and not _JUNK_TITLE.match(title):
        return title
    if len(reader.pages):
        title = _largest_font_text(reader.pages[0])
        if title:
            return title
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return path.stem


def read_pdf(path: Path) -> PdfText:
    """Extract the text layer of `path`; raise `InputError` naming it when there is none."""
    reader = _open(path)
    source = str(path)
    parts: list[str] = []
    page_starts: list[int] = []
    pos = 0
    try:
        for page in reader.pages:
            page_text = _clean_page(page.extract_text() or "")
            page_starts.append(pos)
            parts.append(page_text)
            pos += len(page_text) + 1  # pages are joined with one newline
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"{source}: cannot be read as PDF ({reason}); re-export it or give the "
            "LaTeX/Markdown source"
        ) from None
    text = "\n".join(parts)
    if not text.strip():
        raise InputError(
            f"{source}: PDF has no text layer (scanned?); run OCR first or give the source"
        )
    headings = _outline_headings(reader, text, page_starts)
    if not headings:
        headings = numbered_headings(text)
        if len(headings) < 2:  # one lone match is more likely prose than structure
            headings = []
    return PdfText(text=text, title=_pdf_title(reader, text, path), headings=tuple(headings))
