"""Loading every supported format, from the real shared texts and small crafted files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from chunkwise.errors import InputError
from chunkwise.text.loaders import (
    SUPPORTED_EXTENSIONS,
    FolderPaperSource,
    Heading,
    LoadedDocument,
    PaperSource,
    load_document,
)


def _clean(doc: LoadedDocument) -> None:
    """Invariants every loaded document keeps."""
    assert "\r" not in doc.text and "\ufeff" not in doc.text
    assert doc.text.strip()
    offsets = [h.offset for h in doc.headings]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    for h in doc.headings:
        assert h.level >= 1 and h.title
        assert h.offset == 0 or doc.text[h.offset - 1] == "\n"  # a heading line starts there


def _one_line_error(exc: pytest.ExceptionInfo[InputError], path: Path | str) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- real files ---------------------------------------------------------------------------


def test_attention_pdf_uses_outline(shared: Path) -> None:
    path = shared / "papers/attention/Transformer.pdf"
    doc = load_document(path)
    _clean(doc)
    assert doc.format == "pdf" and doc.source == str(path)
    assert doc.title == "Attention Is All You Need"
    titles = [h.title for h in doc.headings]
    assert titles[:3] == ["Introduction", "Background", "Model Architecture"]
    by_title = {h.title: h for h in doc.headings}
    scaled = by_title["Scaled Dot-Product Attention"]
    assert scaled.level == 3
    # The real "3.2.1" heading line, not the figure label that repeats the title.
    assert doc.text[scaled.offset :].startswith("3.2.1 Scaled Dot-Product Attention")
    assert by_title["Attention"].level == 2 and by_title["Model Architecture"].level == 1


def test_attention_latex(shared: Path) -> None:
    doc = load_document(shared / "papers/attention/Transformer_cleaned.tex")
    _clean(doc)
    assert doc.format == "latex"
    assert doc.title == "Attention Is All You Need"
    sections = [h.title for h in doc.headings if h.level == 1]
    assert sections[:3] == ["Introduction", "Background", "Model Architecture"]
    assert "Attention Visualizations" in sections  # \section* counts too
    sub = next(h for h in doc.headings if h.title == "Scaled Dot-Product Attention")
    assert sub.level == 3
    assert "\\begin{equation}" in doc.text or "\\begin{align" in doc.text  # math kept verbatim
    assert "%\\scalebox" not in doc.text  # comments are gone


def test_whitehead_latex_drops_preamble_and_finds_chapters(shared: Path) -> None:
    doc = load_document(shared / "corpus/books/whitehead_introduction_to_mathematics.tex")
    _clean(doc)
    assert "\\documentclass" not in doc.text and "\\newcommand" not in doc.text
    assert "\\end{document}" not in doc.text
    assert doc.title == "whitehead_introduction_to_mathematics"  # no \title: the stem
    chapters = [h for h in doc.headings if h.level == 1]
    assert len(chapters) >= 17
    assert chapters[1].title == "II. Variables"


def test_whitehead_pdf(shared: Path) -> None:
    doc = load_document(shared / "corpus/books/whitehead_introduction_to_mathematics.pdf")
    _clean(doc)
    assert "Introduction to Mathematics" in doc.title
    assert any("Variables" in h.title for h in doc.headings)
    variables = next(h for h in doc.headings if "Variables" in h.title)
    assert doc.text[variables.offset :].startswith("VARIABLES")


def test_pride_and_prejudice_bom_crlf(shared: Path) -> None:
    path = shared / "corpus/books/pride_and_prejudice.txt"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # the fixture is what we think
    doc = load_document(path)
    _clean(doc)
    assert doc.format == "text"
    assert doc.text.startswith("The Project Gutenberg")
    assert "Pride and Prejudice" in doc.title
    chapters = [h.title for h in doc.headings if h.title.startswith("Chapter")]
    assert chapters[:3] == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert len(chapters) == 61
    assert not any(h.title.startswith("“") for h in doc.headings)  # dialogue is not a heading


def test_review_markdown(shared: Path) -> None:
    doc = load_document(shared / "corpus/review/02.intro.md")
    _clean(doc)
    assert doc.format == "markdown"
    assert doc.headings[0] == Heading(2, "Introduction to deep learning", 0)
    assert doc.title == "02.intro"  # no H1: the stem


def test_textbook_markdown_ignores_code_comments(shared: Path) -> None:
    doc = load_document(shared / "corpus/textbook/batch-norm.md")
    _clean(doc)
    titles = [h.title for h in doc.headings]
    assert doc.title == titles[0]
    assert not any(t.startswith("Compute mean") for t in titles)
    assert ("```" in doc.text and "$$" in doc.text) or "\\begin" in doc.text


def test_speeches_utf8_and_latin1(shared: Path) -> None:
    folder = shared / "corpus/speeches"
    latin1 = []
    for path in sorted(folder.glob("*.txt")):
        raw = path.read_bytes()
        doc = load_document(path)
        _clean(doc)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            latin1.append(path)
            assert "\ufffd" not in doc.text
    assert latin1, "expected some Latin-1 speeches in the corpus"


# --- crafted files --------------------------------------------------------------------------


def test_utf8_bom_crlf_and_lone_cr(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"\xef\xbb\xbfTitle line\r\n\r\nBody one\rBody two\r\n")
    doc = load_document(path)
    assert doc.text == "Title line\n\nBody one\nBody two\n"
    assert doc.title == "Title line"


def test_latin1_fallback(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("Caf\u00e9 cr\u00e8me \u2014 na\u00efve\n".encode("cp1252"))
    assert load_document(path).text == "Café crème — naïve\n"
    path.write_bytes(b"bytes cp1252 leaves undefined: \x81\x8d\n")
    assert load_document(path).text.startswith("bytes cp1252")


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes("Héllo\r\nworld\r\n".encode("utf-16"))
    assert load_document(path).text == "Héllo\nworld\n"


def test_no_extension_is_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "README"
    path.write_text("INTRODUCTION\n\nSome words.\n\n5 Methods\n\nMore.\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.format == "text"
    assert [h.title for h in doc.headings] == ["INTRODUCTION"]  # numbering must start at 1 or 2


def test_plain_text_numbered_headings(tmp_path: Path) -> None:
    path = tmp_path / "paper.text"
    path.write_text(
        "A Paper\n\n1 Introduction\n\nText with 3 apples.\n"
        "12 monkeys went\nhome.\n\n2 Method\n\n2.1 Data\n\nWords.\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert [(h.level, h.title) for h in doc.headings] == [
        (1, "Introduction"),
        (1, "Method"),
        (2, "Data"),
    ]


def test_latex_comments_and_preamble(tmp_path: Path) -> None:
    path = tmp_path / "p.tex"
    path.write_text(
        "\\documentclass{article}\n"
        "\\title{Costs of 5\\% Growth\\thanks{Funded.}} % the title\n"
        "\\begin{document}\n"
        "% a whole comment line\n"
        "We grew 5\\% a year. % not 6\\%\n"
        "A path C:\\\\% comment after an escaped backslash\n"
        "\\section*{Results}\n"
        "\\begin{equation}\n  x = 50\\% \\label{eq:x}\n\\end{equation}\n"
        "\\subsection{Details}\nMore.\n"
        "\\end{document}\nAfter the end.\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "Costs of 5% Growth"
    assert "We grew 5\\% a year. \n" in doc.text
    assert "not 6" not in doc.text and "whole comment" not in doc.text
    assert "C:\\\\\n" in doc.text
    assert "\\begin{equation}\n  x = 50\\% \\label{eq:x}\n\\end{equation}" in doc.text
    assert "documentclass" not in doc.text and "After the end" not in doc.text
    assert [(h.level, h.title) for h in doc.headings] == [(1, "Results"), (2, "Details")]
    for h in doc.headings:
        assert doc.text[h.offset :].startswith("\\")


def test_latex_without_document_env(tmp_path: Path) -> None:
    path = tmp_path / "fragment.latex"
    path.write_text("\\chapter{One}\nText.\n\\section{A}\nMore.\n", encoding="utf-8")
    doc = load_document(path)
    assert [(h.level, h.title) for h in doc.headings] == [(1, "One"), (2, "A")]
    assert doc.title == "fragment"


def test_markdown_fenced_code_hash_lines(tmp_path: Path) -> None:
    path = tmp_path / "doc.markdown"
    path.write_text(
        "Intro\n\n# Real Title #\n\n```python\n# not a heading\nx = 1\n```\n\n"
        "~~~~\n## also not\n~~~~\n\n## Section Two\n\n    # indented code is not ATX\n"
        "#no-space is not a heading\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert [(h.level, h.title) for h in doc.headings] == [(1, "Real Title"), (2, "Section Two")]
    assert doc.title == "Real Title"


# --- bad input ------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pdf"
    with pytest.raises(InputError) as exc:
        load_document(path)
    assert "not found" in _one_line_error(exc, path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_document(tmp_path)
    assert "directory" in _one_line_error(exc, tmp_path)


@pytest.mark.parametrize("name", ["empty.txt", "blank.md", "empty.tex", "empty.pdf"])
def test_empty_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name != "blank.md" else b" \n\t\r\n  ")
    with pytest.raises(InputError) as exc:
        load_document(path)
    assert "empty" in _one_line_error(exc, path)


def test_comment_only_latex_has_no_text(tmp_path: Path) -> None:
    path = tmp_path / "c.tex"
    path.write_text("% only\n% comments\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_document(path)
    _one_line_error(exc, path)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError) as exc:
        load_document(path)
    assert "binary" in _one_line_error(exc, path)
    path.write_bytes(b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 100 + b"text")  # no NULs
    with pytest.raises(InputError, match="binary"):
        load_document(path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "paper.docx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError) as exc:
        load_document(path)
    message = _one_line_error(exc, path)
    for ext in SUPPORTED_EXTENSIONS:
        assert ext in message


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage without xref\n")
    with pytest.raises(InputError) as exc:
        load_document(path)
    message = _one_line_error(exc, path)
    assert "cannot be read as PDF" in message and "LaTeX/Markdown source" in message


def test_not_a_pdf_at_all(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_text("just some text pretending\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot be read as PDF"):
        load_document(path)


def _blank_pdf(path: Path, *, password: str | None = None) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    path.write_bytes(buffer.getvalue())


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    _blank_pdf(path)
    with pytest.raises(InputError) as exc:
        load_document(path)
    message = _one_line_error(exc, path)
    assert "no text layer" in message and "OCR" in message


def _text_pdf(path: Path, text: str, *, password: str | None = None) -> None:
    """A one-page PDF whose content stream draws `text` (ASCII) with a standard font."""
    from pypdf import PdfWriter
    from pypdf.generic import (
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
    )

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    lines = text.split("\n")
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        ops.append(f"({line}) Tj T*")
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    path.write_bytes(buffer.getvalue())


def test_pdf_numbered_headings_without_outline(tmp_path: Path) -> None:
    path = tmp_path / "small.pdf"
    _text_pdf(
        path,
        "A Small Paper\n1 Introduction\nSome text here.\n2 Method\nMore text.\n2.1 Data\nWords.\n7",
    )
    doc = load_document(path)
    _clean(doc)
    assert doc.title == "A Small Paper"
    assert [(h.level, h.title) for h in doc.headings] == [
        (1, "Introduction"),
        (1, "Method"),
        (2, "Data"),
    ]
    assert not doc.text.rstrip().endswith("7")  # a trailing page number is dropped


def test_encrypted_pdf_with_empty_password_opens(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    _text_pdf(path, "Readable Title\nBody text.", password="")
    doc = load_document(path)
    assert "Body text." in doc.text


def test_encrypted_pdf_with_password_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.pdf"
    _text_pdf(path, "Hidden", password="s3cret")
    with pytest.raises(InputError) as exc:
        load_document(path)
    assert "password" in _one_line_error(exc, path)


# --- paper sources --------------------------------------------------------------------------


def test_folder_paper_source(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "a.tex").write_text("x", encoding="utf-8")
    (tmp_path / "b.md").write_text("x", encoding="utf-8")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "main.txt").write_text("x", encoding="utf-8")
    (tmp_path / "c" / "notes.json").write_text("{}", encoding="utf-8")
    source = FolderPaperSource(tmp_path)
    assert isinstance(source, PaperSource)
    assert source.resolve("a") == tmp_path / "a.tex"  # the source beats the PDF
    assert source.resolve("b") == tmp_path / "b.md"
    assert source.resolve("c") == tmp_path / "c" / "main.txt"


def test_folder_paper_source_errors(tmp_path: Path) -> None:
    source = FolderPaperSource(tmp_path)
    with pytest.raises(InputError) as exc:
        source.resolve("missing")
    message = _one_line_error(exc, tmp_path)
    assert "missing" in message
    for bad in ["../etc/passwd", "a/b", "a\\b", "..", ""]:
        with pytest.raises(InputError, match="invalid paper id"):
            source.resolve(bad)
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "x.tex").write_text("x", encoding="utf-8")
    (tmp_path / "two" / "y.tex").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="several"):
        source.resolve("two")
    with pytest.raises(InputError, match="not found"):
        FolderPaperSource(tmp_path / "absent").resolve("a")


def test_folder_paper_source_with_shared_paper(shared: Path) -> None:
    source = FolderPaperSource(shared / "papers")
    path = source.resolve("attention")  # a folder holding the PDF and the LaTeX
    assert path.name == "Transformer_cleaned.tex"
    assert load_document(path).title == "Attention Is All You Need"
