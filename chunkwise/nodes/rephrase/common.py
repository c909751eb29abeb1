"""Helpers the rephrase nodes share: the stored text and records, and a style's limits."""

from __future__ import annotations

from collections.abc import Iterator

from chunkwise.errors import InputError
from chunkwise.prompts.rephrase import STYLES
from chunkwise.runtime.blobs import BlobStore, read_cached
from chunkwise.state.rephrase import PartRecord, RephraseContext
from chunkwise.text.fidelity import FidelityLimits


def load_text(store: BlobStore, key: str) -> str:
    """A stored document, kept decompressed for the next steps of the run."""
    try:
        return read_cached(store, key, str)
    except KeyError:
        raise InputError(f"text {key} is not in the blob store; give the text itself") from None


def records_back(store: BlobStore, head: str | None) -> Iterator[PartRecord]:
    """Records from the latest to the first."""
    key = head
    while key:
        record = PartRecord.model_validate_json(store.get(key))
        yield record
        key = record.prev


def fidelity_limits(style_name: str, context: RephraseContext) -> FidelityLimits:
    """The checks' limits for a style: its length bounds (unless overridden) and how much of
    the text it asks to change."""
    style = STYLES.get(style_name)
    low = style.min_length_ratio if style else FidelityLimits.min_length_ratio
    high = style.max_length_ratio if style else FidelityLimits.max_length_ratio
    if context.min_length_ratio is not None:
        low = context.min_length_ratio
    if context.max_length_ratio is not None:
        high = context.max_length_ratio
    change = style.min_change if style else FidelityLimits.min_change
    return FidelityLimits(min_length_ratio=low, max_length_ratio=high, min_change=change)
