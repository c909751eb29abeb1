"""Inputs built from the real texts in `../shared` (never copied into the repository).

- `long_paper`: a long Markdown document of textbook chapters and review sections, about 85k
  tokens (the throughput and resume benchmarks cut it into 24 chunks);
- `big_paper`: the 18M-character book-sized input `tests/text/test_big_split.py` splits (a
  novel, a LaTeX paper, a textbook chapter and a review section, repeated under `# Part i`).
"""

from __future__ import annotations

from pathlib import Path

LONG_PARTS = (
    "corpus/textbook/transformer.md",
    "corpus/textbook/multihead-attention.md",
    "corpus/textbook/resnet.md",
    "corpus/textbook/batch-norm.md",
    "corpus/textbook/lstm.md",
    "corpus/review/02.intro.md",
    "corpus/review/03.categorize.md",
    "corpus/review/04.study.md",
    "corpus/review/05.treat.md",
    "corpus/review/07.conclusions.md",
    "corpus/review/08.methods.md",
)
QUICK_PARTS = LONG_PARTS[:3]  # about 28k tokens

BIG_SOURCES = (
    "corpus/books/pride_and_prejudice.txt",
    "papers/attention/Transformer_cleaned.tex",
    "corpus/textbook/transformer.md",
    "corpus/review/04.study.md",
)
BIG_CHARS = 18_000_000


def long_paper(shared: Path, parts: tuple[str, ...] = LONG_PARTS) -> str:
    """A deep-learning 'paper' of whole chapters and sections, in the order given."""
    texts = [(shared / part).read_text("utf-8").strip() for part in parts]
    return "# Deep learning, from attention to medicine\n\n" + "\n\n".join(texts) + "\n"


def big_paper(shared: Path, chars: int = BIG_CHARS) -> str:
    """At least `chars` characters: the four sources in turn, each under `# Part i`."""
    from chunkwise.text.loaders import load_document

    texts = [load_document(shared / source).text for source in BIG_SOURCES]
    parts, size, i = [], 0, 0
    while size < chars:
        part = f"# Part {i}\n\n{texts[i % len(texts)]}\n\n"
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts)
