"""The rewriter's budget reserves the real rewrite prompt, measured with the run's style and
tokenizer, so a full part, its context and a retry's reasons fit the model's window."""

from __future__ import annotations

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.nodes.rephrase.plan import check_budget
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.prompts.rephrase import STYLES, RewriteRequest, rewrite_messages
from chunkwise.state.rephrase import RephraseContext
from chunkwise.text.fidelity import ChunkSample, run_checks
from chunkwise.text.tokens import Tokenizer, default_tokenizer
from tests.models.clients import make_client

CHUNK, OVERLAP, WINDOW = 512, 64, 1024


def _tokens(tok: Tokenizer, count: int, word: str) -> str:
    return tok.decode(tok.encode(" ".join(f"{word}{i}" for i in range(count)))[:count])


def _fullest_prompt(instruction: str, tok: Tokenizer) -> int:
    """A retry of a full part after a full window of rewrite, with the reasons real checks give."""
    source = _tokens(tok, CHUNK - OVERLAP, "Name") + " In 1945, 1946 and 1947 [12] $x^2$."
    reasons = [r for result in run_checks(ChunkSample(source, "Nothing left.")) for r in
               result.reasons]
    assert len(reasons) >= 4
    request = RewriteRequest(
        style_instruction=instruction,
        current_chunk=source,
        rewritten_prefix=_tokens(tok, WINDOW, "prefix"),
        overlap_text=_tokens(tok, OVERLAP, "covered"),
        chunk_index=41,
        total_chunks=90,
        feedback=tuple(reasons),
        attempt=2,
    )
    return prompt_tokens(rewrite_messages(request), tok)


@pytest.mark.parametrize("style", ["faithful", "study-notes"])
def test_a_window_that_passes_the_check_holds_the_fullest_prompt_and_its_reply(
    style: str,
) -> None:
    tok = default_tokenizer()
    instruction = STYLES[style].instruction
    context = RephraseContext(chunk_tokens=CHUNK, overlap_tokens=OVERLAP,
                              prefix_window_tokens=WINDOW)
    smallest = None
    for window in range(2 * CHUNK + WINDOW, 2 * CHUNK + WINDOW + 2000, 25):
        client = make_client(ScriptedChatModel(), ModelSettings(context_window=window))
        try:
            check_budget(client, context, instruction, tok)
        except ConfigError:
            continue
        smallest = window
        break
    assert smallest is not None
    assert _fullest_prompt(instruction, tok) + CHUNK <= smallest
    # and the reserve is close to the prompt (the guessed 1000 tokens it replaces left 423 over)
    assert smallest - (_fullest_prompt(instruction, tok) + CHUNK) < 300
