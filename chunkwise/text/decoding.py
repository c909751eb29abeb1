"""Bytes of a text-format file to a clean `str`.

Everything downstream assumes ``\\n`` line ends and no BOM: offsets, paragraph detection and
stitching all compare characters, so a stray ``\\r`` or BOM would show up in model input and
make equal texts compare unequal.
"""

from __future__ import annotations

import codecs
import re

from chunkwise.errors import InputError

__all__ = ["decode_text", "normalise_newlines"]

# Control characters that never appear in real text files (tab, LF, FF, CR, ESC excluded).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_MAX_CONTROL_SHARE = 0.01  # real text has essentially none; binaries have plenty


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")  # the BOM is consumed by the codec
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1")


def decode_text(data: bytes, source: str) -> str:
    """Decode UTF-8 (BOM optional), UTF-16 with BOM, else cp1252/Latin-1; normalise newlines.

    Raises `InputError` naming `source` when the bytes are binary or hold no text.
    """
    has_utf16_bom = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in data and not has_utf16_bom:
        raise InputError(f"{source}: looks like a binary file (NUL bytes); give a text file")
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        raise InputError(f"{source}: cannot be decoded as text; save it as UTF-8") from None
    text = normalise_newlines(text.lstrip("\ufeff"))
    if not text.strip():
        raise InputError(f"{source}: file is empty; give a document with text")
    # Sample the start: a binary file shows itself early, and a whole-file scan is not needed.
    sample = text[:65536]
    if len(_CONTROL.findall(sample)) > _MAX_CONTROL_SHARE * len(sample) + 2:
        raise InputError(f"{source}: looks like a binary file, not text; give a text file")
    return text
