"""Helpers the rephrase nodes share: tokenizer choice, stored plan and records, style limits."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from chunkwise.errors import ConfigError, InputError
from chunkwise.prompts.rephrase import STYLES
from chunkwise.runtime.blobs import BlobStore
from chunkwise.state.rephrase import ChunkRecord, RephraseContext
from chunkwise.text.fidelity import FidelityLimits
from chunkwise.text.overlap import Part
from chunkwise.text.tokens import (
    DEFAULT_ENCODING,
    TiktokenTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    default_tokenizer,
)

_WHITESPACE = WhitespaceTokenizer()  # only offsets/count are used: its vocabulary stays empty


def resolve_tokenizer(choice: Any) -> Tokenizer:
    """None or 'tiktoken': cl100k (offline); 'whitespace'; a tiktoken encoding; an object."""
    if choice is None or choice in ("tiktoken", DEFAULT_ENCODING):
        return default_tokenizer()
    if choice == "whitespace":
        return _WHITESPACE
    if isinstance(choice, str):
        return TiktokenTokenizer(choice)
    if callable(getattr(choice, "offsets", None)) and callable(getattr(choice, "count", None)):
        return choice
    raise ConfigError(f"tokenizer {choice!r} has no offsets()/count(); use a chunkwise Tokenizer")


# Keys are content hashes, so a key names the same text in every store: cache by key alone.
_TEXTS: OrderedDict[str, str] = OrderedDict()
_PLANS: OrderedDict[str, tuple[Part, ...]] = OrderedDict()
_LOCK = threading.Lock()


def _remember(cache: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    with _LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)


def load_text(store: BlobStore, key: str) -> str:
    """A stored document, kept decompressed for the next steps of the run."""
    text = _TEXTS.get(key)
    if text is None:
        try:
            text = store.get(key)
        except KeyError:
            raise InputError(f"text {key} is not in the blob store; give the text itself") from None
        _remember(_TEXTS, key, text, 4)
    return text


def load_plan(store: BlobStore, key: str) -> tuple[Part, ...]:
    plan = _PLANS.get(key)
    if plan is None:
        plan = tuple(Part.from_list(row) for row in json.loads(store.get(key)))
        _remember(_PLANS, key, plan, 8)
    return plan


def load_record(store: BlobStore, key: str) -> ChunkRecord:
    return ChunkRecord.model_validate_json(store.get(key))


def records_back(store: BlobStore, head: str | None) -> Iterator[ChunkRecord]:
    """Records from the latest to the first."""
    key = head
    while key:
        record = load_record(store, key)
        yield record
        key = record.prev


def fidelity_limits(style_name: str, context: RephraseContext) -> FidelityLimits:
    style = STYLES.get(style_name)
    low = style.min_length_ratio if style else FidelityLimits.min_length_ratio
    high = style.max_length_ratio if style else FidelityLimits.max_length_ratio
    if context.min_length_ratio is not None:
        low = context.min_length_ratio
    if context.max_length_ratio is not None:
        high = context.max_length_ratio
    return FidelityLimits(min_length_ratio=low, max_length_ratio=high)
