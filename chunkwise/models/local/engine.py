"""`ChunkwiseLlama`: `llama_cpp.Llama` with cheaper constrained sampling, DRY, saved prefixes.

Written against llama-cpp-python 0.3.36 (pinned in the `local` extra), overriding the hooks its
`generate` loop calls (`_init_sampler`, `sample`) and `generate` itself:

- Grammar checked on the chosen token only. Stock sampling runs the grammar over the whole
  vocabulary (152k tokens for Qwen) before every token, about 30 ms each on two cores. Here the
  token is chosen without the grammar and checked against it alone; only when the grammar
  rejects it (about 1% of tokens) is the choice made again over the grammar-masked vocabulary,
  as llama.cpp's own `common_sampler` does. Under greedy decoding the result is identical: the
  best token overall, when allowed, is the best allowed token.
- DRY (see `sampling.Repetition`), which the stock chain cannot add, for prose replies.
- Saved prefixes: llama-cpp-python reuses the KV cache only for the prefix a prompt shares with
  the previous call. With `prefix_cache_bytes`, the KV state a new prompt would overwrite is
  saved, and a saved state sharing a longer prefix with the next prompt is restored instead of
  evaluating that prefix again (calls of different kinds interleave in every pipeline).

Imported by `runtime` only when a model loads, so chunkwise works without llama-cpp-python.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np

from chunkwise.models.local.sampling import NO_REPETITION_CONTROL, Repetition

# llama.cpp's default DRY sequence breakers: a repeat does not continue across these.
_DRY_BREAKERS = ("\n", ":", '"', "*")


class _Sampler:
    """One native llama.cpp sampler outside the chain, freed with this object."""

    def __init__(self, pointer: Any, what: str) -> None:
        if not pointer:
            raise ValueError(f"llama.cpp could not build the {what} sampler")
        self.pointer = pointer

    def apply(self, candidates: Any) -> None:
        llama_cpp.llama_sampler_apply(self.pointer, candidates)

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.pointer, token)

    def __del__(self) -> None:
        pointer, self.pointer = getattr(self, "pointer", None), None
        if pointer:
            llama_cpp.llama_sampler_free(pointer)


class _GrammarCheck(_Sampler):
    """A grammar sampler that can also judge one token without touching the vocabulary."""

    def __init__(self, vocab: Any, grammar: Any) -> None:
        super().__init__(
            llama_cpp.llama_sampler_init_grammar(
                vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
            ),
            "grammar",
        )
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(
            data=self._one, size=1, selected=-1, sorted=False
        )

    def allows(self, token: int) -> bool:
        self._one[0] = llama_cpp.llama_token_data(token, 0.0, 0.0)
        self._one_array.size, self._one_array.selected = 1, -1
        self.apply(ctypes.byref(self._one_array))
        return not math.isinf(self._one[0].logit)


class ChunkwiseLlama(llama_cpp.Llama):
    """A `Llama` whose sampling is cheaper under a grammar and can add DRY; see module doc.

    `repetition` applies to the generations that follow; the chat model sets it per call while
    holding the model's lock. `grammar_rechecks` counts tokens the grammar rejected (each cost a
    full-vocabulary pass), for profiling.
    """

    def __init__(self, *args: Any, prefix_cache_bytes: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefixes = PrefixCache(prefix_cache_bytes)
        self.repetition: Repetition = NO_REPETITION_CONTROL
        self.grammar_rechecks = 0
        self._grammar: _GrammarCheck | None = None
        self._dry: _Sampler | None = None

    def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
        """Stock generation, after swapping in the saved KV state that covers most of `tokens`.

        llama-cpp-python reuses the live KV cache for the prompt's common prefix with the
        previous call only; interleaved calls (write, judge, record, write again) would evaluate
        every shared prefix anew. The live state is saved before it is overwritten.
        """
        if kwargs.get("reset", True) and self.prefixes.capacity > 0:
            self._swap_in_best_prefix(list(tokens))
        return super().generate(tokens, *args, **kwargs)

    def _swap_in_best_prefix(self, tokens: list[int]) -> None:
        live = common_prefix(self.input_ids[: self.n_tokens], tokens)
        saved, shared = self.prefixes.best(tokens)
        if self.n_tokens - live >= MIN_PREFIX_TOKENS:  # most of the live state would be lost
            self.prefixes.put(self.input_ids[: self.n_tokens].copy(), self._seq_state())
        if saved is not None and shared >= live + MIN_PREFIX_TOKENS:
            self._load_seq_state(saved)

    def _seq_state(self) -> bytes:
        size = llama_cpp.llama_state_seq_get_size(self._ctx.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx.ctx, buffer, size, 0)
        return bytes(buffer)[:written]

    def _load_seq_state(self, saved: SavedPrefix) -> None:
        self._ctx.kv_cache_seq_rm(0, 0, -1)
        buffer = (ctypes.c_uint8 * len(saved.state)).from_buffer_copy(saved.state)
        if llama_cpp.llama_state_seq_set_data(self._ctx.ctx, buffer, len(saved.state), 0) == 0:
            self.reset()  # nothing restored: evaluate the prompt from scratch
            return
        count = len(saved.tokens)
        self.input_ids[:count] = saved.tokens
        self.n_tokens = count
        self._requires_eval = True

    def reset_timings(self) -> None:
        llama_cpp.llama_perf_context_reset(self._ctx.ctx)
        self.grammar_rechecks = 0

    def timings(self) -> dict[str, float]:
        """Work since `reset_timings`: prompt tokens evaluated (those the KV cache did not hold
        already), tokens generated, the milliseconds each took, and tokens the grammar
        rejected (each cost a pass over the whole vocabulary)."""
        perf = llama_cpp.llama_perf_context(self._ctx.ctx)
        return {
            "prompt_eval_tokens": perf.n_p_eval,
            "prompt_eval_ms": round(perf.t_p_eval_ms, 1),
            "generated_tokens": perf.n_eval,
            "generation_ms": round(perf.t_eval_ms, 1),
            "grammar_rechecks": self.grammar_rechecks,
        }

    # `generate` calls both hooks with keyword arguments only; these take what it passes.
    def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]
        grammar = kwargs.pop("grammar", None)
        self._grammar = None if grammar is None else _GrammarCheck(self._model.vocab, grammar)
        self._dry = self._dry_sampler()
        kwargs.update(
            repeat_penalty=self.repetition.repeat_penalty,
            frequency_penalty=self.repetition.frequency_penalty,
            presence_penalty=self.repetition.presence_penalty,
        )
        # The stock chain reads its penalty window from this attribute.
        self.last_n_tokens_size = self.repetition.penalty_last_n
        return super()._init_sampler(grammar=None, **kwargs)

    def _dry_sampler(self) -> _Sampler | None:
        rep = self.repetition
        if not rep.uses_dry:
            return None
        breakers = (ctypes.c_char_p * len(_DRY_BREAKERS))(
            *(b.encode("utf-8") for b in _DRY_BREAKERS)
        )
        dry = _Sampler(
            llama_cpp.llama_sampler_init_dry(
                self._model.vocab,
                rep.dry_multiplier,
                rep.dry_base,
                rep.dry_allowed_length,
                rep.dry_penalty_last_n,
                breakers,
                len(_DRY_BREAKERS),
            ),
            "DRY",
        )
        for token in self._history_tokens(rep):
            dry.accept(token)
        return dry

    def _history_tokens(self, rep: Repetition) -> list[int]:
        """The tokens of `rep.dry_history` DRY is primed with: its end, leaving half of DRY's
        window to the reply, then a paragraph break (a sequence breaker, so the reply's first
        tokens are not taken for a continuation of the history's last ones)."""
        if not rep.dry_history.strip():
            return []
        tokens = list(self.tokenize(rep.dry_history.encode("utf-8"), add_bos=False,
                                    special=False))
        tokens = tokens[-max(1, rep.dry_penalty_last_n // 2):]
        return tokens + list(self.tokenize(b"\n\n", add_bos=False, special=False))

    def sample(self, **kwargs: Any) -> int:  # type: ignore[override]
        chain = self._sampler
        if chain is None or (self._grammar is None and self._dry is None):
            return int(super().sample(**kwargs))
        idx = kwargs.get("idx")
        logits = llama_cpp.llama_get_logits_ith(
            self._ctx.ctx, -1 if idx is None else idx - self.n_tokens
        )
        if not logits:
            raise RuntimeError("llama.cpp returned no logits to sample from")
        row = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
        token = self._choose(chain, row, masked=False)
        if self._grammar is not None and not self._grammar.allows(token):
            self.grammar_rechecks += 1
            token = self._choose(chain, row, masked=True)
        chain.accept(token)
        if self._dry is not None:
            self._dry.accept(token)
        if self._grammar is not None:
            self._grammar.accept(token)
        return token

    def _choose(self, chain: Any, row: Any, *, masked: bool) -> int:
        """The chain's pick over fresh candidates; `masked` runs the grammar over them first."""
        self._candidates.copy_logits(row)
        self._candidates.candidates.selected = -1
        candidates = ctypes.byref(self._candidates.candidates)
        if masked and self._grammar is not None:
            self._grammar.apply(candidates)
        if self._dry is not None:
            self._dry.apply(candidates)
        llama_cpp.llama_sampler_apply(chain.sampler, candidates)
        chosen = self._candidates.candidates
        if chosen.selected < 0:
            raise RuntimeError("llama.cpp's sampler chain selected no token")
        return int(chosen.data[chosen.selected].id)


# Shorter shared prefixes cost less to evaluate again than to save and restore.
MIN_PREFIX_TOKENS = 64


@dataclass(frozen=True, eq=False)
class SavedPrefix:
    """The KV state of sequence 0 after evaluating `tokens`.

    Compared by identity: `tokens` is a numpy array, whose `==` is elementwise (and fails on
    arrays of different lengths), so the generated `__eq__` broke `list.remove`."""

    tokens: Any
    state: bytes


class PrefixCache:
    """Saved KV states, least recently used dropped first, within `capacity` bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._saved: list[SavedPrefix] = []

    def best(self, tokens: list[int]) -> tuple[SavedPrefix | None, int]:
        """The saved state sharing the longest prefix with `tokens`, and that length."""
        best, shared = None, 0
        for saved in self._saved:
            length = common_prefix(saved.tokens, tokens)
            if length > shared:
                best, shared = saved, length
        if best is not None:
            self._saved.remove(best)
            self._saved.append(best)
        return best, shared

    def put(self, tokens: Any, state: bytes) -> None:
        # A state whose tokens this one extends holds nothing this one lacks.
        self._saved = [
            s for s in self._saved if common_prefix(s.tokens, tokens) < len(s.tokens)
        ]
        self._saved.append(SavedPrefix(tokens, state))
        while self._saved and sum(len(s.state) for s in self._saved) > self.capacity:
            self._saved.pop(0)


def common_prefix(a: Any, b: Any) -> int:
    """How many leading tokens `a` and `b` share."""
    size = min(len(a), len(b))
    if size == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:size]) != np.asarray(b[:size]))
    return int(differ[0]) if len(differ) else size

