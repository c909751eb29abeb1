"""Load a document file (PDF, LaTeX, Markdown, plain text) into one clean string.

Every loader returns text with ``\\n`` line ends and no BOM, a title and the headings found,
with offsets into that exact string, so later stages can cut and stitch by char offsets.
Anything a user can fix (missing file, empty file, scanned PDF, ...) raises `InputError` with
one line naming the file and what to do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from chunkwise.errors import InputError
from chunkwise.text.decoding import decode_text, normalise_newlines
from chunkwise.text.headings import (
    Heading,
    latex_headings,
    markdown_headings,
    plain_text_headings,
)
from chunkwise.text.markup import latex_to_plain, read_braced, strip_latex_comments
from chunkwise.text.pdf import read_pdf

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "DocumentFormat",
    "FolderPaperSource",
    "Heading",
    "LoadedDocument",
    "PaperSource",
    "document_from_text",
    "load_document",
    "text_format",
]

DocumentFormat = Literal["pdf", "latex", "markdown", "text"]

# Extension -> format; "" is a file without extension, read as plain text.
_FORMATS: dict[str, DocumentFormat] = {
    ".pdf": "pdf",
    ".tex": "latex",
    ".latex": "latex",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    "": "text",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(e for e in _FORMATS if e)


@dataclass(frozen=True)
class LoadedDocument:
    """A document as the pipelines see it; `headings` offsets index into `text`."""

    text: str
    title: str
    format: DocumentFormat
    source: str
    headings: tuple[Heading, ...] = ()


# --- per format -----------------------------------------------------------------------------

_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}[ \t]*\n?")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_TITLE_CMD = re.compile(r"\\title\s*(?:\[[^\]]*\])?")


def _latex_title(source: str) -> str:
    m = _TITLE_CMD.search(source)
    if m:
        group = read_braced(source, m.end())
        if group is not None:
            return latex_to_plain(group[0])
    return ""


def _load_latex(text: str) -> tuple[str, str, list[Heading]]:
    """Body of the document without comments; the preamble only supplies the title."""
    text = strip_latex_comments(text)
    title = _latex_title(text)
    begin = _BEGIN_DOCUMENT.search(text)
    if begin:
        text = text[begin.end() :]
        end = _END_DOCUMENT.search(text)
        if end:
            text = text[: end.start()]
    return text, title, latex_headings(text)


def _load_markdown(text: str) -> tuple[str, str, list[Heading]]:
    headings = markdown_headings(text)
    title = next((h.title for h in headings if h.level == 1), "")
    return text, title, headings


def _load_plain(text: str) -> tuple[str, str, list[Heading]]:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return text, first if len(first) <= 200 else "", plain_text_headings(text)


_TEXT_LOADERS: dict[DocumentFormat, Callable[[str], tuple[str, str, list[Heading]]]] = {
    "latex": _load_latex,
    "markdown": _load_markdown,
    "text": _load_plain,
}


# --- entry point ----------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a document file inside it")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give a document file")


def document_format(path: str | Path) -> DocumentFormat:
    """Format of `path` from its extension; `InputError` listing the supported ones."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unsupported file type {path.suffix!r}; "
            f"give one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    return fmt


def load_document(path: str | Path) -> LoadedDocument:
    """Read `path` and return its text, title, format and headings.

    The format follows the extension (see `SUPPORTED_EXTENSIONS`; no extension means plain
    text). Titles: LaTeX ``\\title``, Markdown first H1, PDF metadata title or the largest
    text on page one or its first line, plain text's first line; else the file stem.
    """
    source = str(path)
    path = Path(path)
    _check_file(path)
    fmt = document_format(path)
    if fmt == "pdf":
        if path.stat().st_size == 0:
            raise InputError(f"{source}: file is empty; give a document with text")
        pdf = read_pdf(path)
        return LoadedDocument(pdf.text, pdf.title or path.stem, fmt, source, pdf.headings)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot be read ({exc.strerror}); check permissions") from None
    text, title, headings = _TEXT_LOADERS[fmt](decode_text(data, source))
    if not text.strip():
        raise InputError(f"{source}: no text after removing markup; give a document with text")
    return LoadedDocument(text, title or path.stem, fmt, source, tuple(headings))


_LATEX_MARK = re.compile(r"\\(?:documentclass|begin\s*\{document\}|(?:sub)*section\*?\s*\{)")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)


def text_format(text: str) -> DocumentFormat:
    """The format of a text given without a file name: LaTeX, Markdown or plain text."""
    if _LATEX_MARK.search(text):
        return "latex"
    return "markdown" if _MARKDOWN_HEADING.search(text) else "text"


def document_from_text(text: str, source: str = "paper_text") -> LoadedDocument:
    """A document pasted as text (Studio, the server API, a batch row), read like a file of
    the format its content shows; `source` names it in errors and stands in for the title."""
    text = normalise_newlines(text.lstrip("\ufeff"))
    if not text.strip():
        raise InputError(f"{source}: the text is empty; give a document with text")
    fmt = text_format(text)
    body, title, headings = _TEXT_LOADERS[fmt](text)
    if not body.strip():
        raise InputError(f"{source}: no text after removing markup; give a document with text")
    return LoadedDocument(body, title or source, fmt, source, tuple(headings))


# --- paper sources --------------------------------------------------------------------------


@runtime_checkable
class PaperSource(Protocol):
    """Maps a paper id (as used on the command line or in a plan) to a document file."""

    def resolve(self, paper_id: str) -> Path: ...


# Preference when several files share an id: sources carry structure a PDF has lost.
_SOURCE_PREFERENCE = (".tex", ".latex", ".md", ".markdown", ".pdf", ".txt", ".text")


class FolderPaperSource:
    """Papers stored as ``<folder>/<id>.<ext>`` or ``<folder>/<id>/<one file>.<ext>``.

    When several files match, LaTeX beats Markdown beats PDF beats plain text.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"FolderPaperSource({str(self.folder)!r})"

    def _check_id(self, paper_id: str) -> None:
        seps = {"/", "\\", os.sep, os.altsep or "/"}
        if (
            not paper_id
            or paper_id.strip() != paper_id
            or any(s in paper_id for s in seps)
            or ".." in paper_id
            or "\x00" in paper_id
        ):
            raise InputError(
                f"{self.folder}: invalid paper id {paper_id!r}; "
                "use a plain name without path separators or '..'"
            )

    def resolve(self, paper_id: str) -> Path:
        self._check_id(paper_id)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: paper folder not found; check the path")
        for ext in _SOURCE_PREFERENCE:
            candidate = self.folder / f"{paper_id}{ext}"
            if candidate.is_file():
                return candidate
        sub = self.folder / paper_id
        if sub.is_dir():
            return self._pick_in(sub, paper_id)
        raise InputError(
            f"{self.folder}: no paper {paper_id!r}; add {paper_id}.pdf/.tex/.md/.txt "
            f"or a folder {paper_id}/ holding one"
        )

    def _pick_in(self, sub: Path, paper_id: str) -> Path:
        files = sorted(
            p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in _SOURCE_PREFERENCE
        )
        for ext in _SOURCE_PREFERENCE:
            matching = [p for p in files if p.suffix.lower() == ext]
            if len(matching) == 1:
                return matching[0]
            if len(matching) > 1:
                names = ", ".join(p.name for p in matching)
                raise InputError(
                    f"{sub}: several {ext} files for paper {paper_id!r} ({names}); "
                    "keep one or pass the file path"
                )
        raise InputError(f"{sub}: no .pdf/.tex/.md/.txt file for paper {paper_id!r}; add one")
