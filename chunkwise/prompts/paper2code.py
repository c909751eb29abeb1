"""Prompts for paper2code: chunk summaries, collapse merges, datasets, and the code file.

Sectioned and explicit so that a small local model follows them as well as a large one: each
prompt names the output sections it expects and says what to leave out.
"""

from __future__ import annotations

from functools import cache

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from chunkwise.prompts.measure import prompt_tokens

SUMMARY_SYSTEM = """You are a meticulous ML research engineer. You read one part of a research \
paper and write notes that another engineer will use to implement the paper in PyTorch without \
seeing the paper. Be complete and exact; never invent content that is not in the text."""

SUMMARY_TEMPLATE = """Paper: {title}
This is part {number} of {total}{section}.

Write detailed notes on this part, at most {max_words} words, with these sections (skip a \
section when the part has nothing for it; never fill one with guesses):
## Key ideas
## Equations (every equation, in LaTeX, with each symbol explained)
## Algorithms and pseudocode (step by step)
## Architecture and hyperparameters (layer sizes, learning rates, batch sizes, schedules)
## Datasets and evaluation (names, splits, metrics, reported numbers)
## Notation defined here

<paper_part>
{text}
</paper_part>"""

MERGE_SYSTEM = """You merge notes on consecutive parts of one research paper into one set of \
notes. Keep every equation, hyperparameter, dataset and algorithm step; remove only repetition."""

MERGE_TEMPLATE = """Paper: {title}
Merge these notes on parts {first} to {last} into one set of notes of at most {max_words} words \
with the same sections (Key ideas, Equations, Algorithms and pseudocode, Architecture and \
hyperparameters, Datasets and evaluation, Notation).

{notes}"""

DATASET_SYSTEM = """You recommend public datasets for reproducing a machine-learning paper. \
Prefer datasets the paper itself uses; otherwise the closest widely available ones."""

DATASET_TEMPLATE = """Paper: {title}

Notes on the paper:
{notes}

Name the learning task, the single best dataset to start with, up to four candidates with why \
each fits and where to get it (library id or URL), and the preprocessing needed."""

CODE_SYSTEM = """You are an expert PyTorch engineer. You write one complete, runnable Python \
file that implements a research paper faithfully. Output only the code in one ```python block."""

CODE_TEMPLATE = """Paper: {title}

Notes on the whole paper:
{notes}

Recommended dataset: {dataset} (task: {task}).

Write ONE complete Python file that:
1. Imports only torch, the standard library and, if needed, numpy.
2. Defines a config dataclass with the paper's hyperparameters.
3. Implements the model exactly as described (every module, equation and shape).
4. Implements the loss, the optimizer and schedule, a training loop and an evaluation function.
5. Has a data section that loads {dataset} when available and otherwise random tensors of the \
right shapes.
6. Ends with `if __name__ == "__main__":` that runs a short smoke test on random data \
(a few steps, tiny sizes) and prints the loss.
Comment each part with the paper section or equation it implements."""


def notes_word_limit(source_tokens: int) -> int:
    """Notes shorter than their source: about half its length, within [150, 1500] words."""
    return max(150, min(1500, source_tokens // 2))


def notes_token_cap(max_words: int) -> int:
    """Reply cap for notes of `max_words` words: LaTeX and markup cost about two tokens a word."""
    return 2 * max_words + 100


def summarize_messages(
    *, title: str, text: str, number: int, total: int, section: str, max_words: int
) -> list[BaseMessage]:
    where = f", starting in section \"{section}\"" if section else ""
    return [
        SystemMessage(SUMMARY_SYSTEM),
        HumanMessage(
            SUMMARY_TEMPLATE.format(
                title=title, number=number, total=total, section=where, text=text,
                max_words=max_words,
            )
        ),
    ]


def merge_messages(
    *, title: str, notes: str, first: int, last: int, max_words: int
) -> list[BaseMessage]:
    return [
        SystemMessage(MERGE_SYSTEM),
        HumanMessage(
            MERGE_TEMPLATE.format(
                title=title, notes=notes, first=first, last=last, max_words=max_words
            )
        ),
    ]


def dataset_messages(*, title: str, notes: str) -> list[BaseMessage]:
    return [
        SystemMessage(DATASET_SYSTEM),
        HumanMessage(DATASET_TEMPLATE.format(title=title, notes=notes)),
    ]


def code_messages(*, title: str, notes: str, dataset: str, task: str) -> list[BaseMessage]:
    return [
        SystemMessage(CODE_SYSTEM),
        HumanMessage(CODE_TEMPLATE.format(title=title, notes=notes, dataset=dataset, task=task)),
    ]


# Room for what is filled in per paper around the texts: its title, a section name, the
# dataset (named twice in the code prompt) and the task.
FIELD_RESERVE_TOKENS = 120
_MANY = 999  # part numbers and word limits as wide as they get


@cache
def chunk_prompt_overhead() -> int:
    """Tokens of a summary or merge prompt around its text (the larger of the two)."""
    summary = summarize_messages(
        title="", text="", number=_MANY, total=_MANY, section="", max_words=_MANY
    )
    merge = merge_messages(title="", notes="", first=_MANY, last=_MANY, max_words=_MANY)
    return max(prompt_tokens(summary), prompt_tokens(merge)) + FIELD_RESERVE_TOKENS


@cache
def code_prompt_overhead() -> int:
    """Tokens of the dataset or code prompt around the notes (the larger of the two)."""
    datasets = dataset_messages(title="", notes="")
    code = code_messages(title="", notes="", dataset="", task="")
    return max(prompt_tokens(datasets), prompt_tokens(code)) + FIELD_RESERVE_TOKENS
