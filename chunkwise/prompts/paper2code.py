"""Prompts for paper2code: chunk summaries, collapse merges, datasets, the code (one file, or a
planned repository file by file) and its repair.

Sectioned and explicit so that a small local model follows them as well as a large one: each
prompt names the output sections it expects and says what to leave out.
"""

from __future__ import annotations

from functools import cache

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from chunkwise.prompts.measure import prompt_tokens
from chunkwise.state.paper2code import ModuleTrace

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

# The calls that work from the whole paper's notes (datasets, code, plan, files, repairs) share
# one system message and open with the same notes block, task last: a local model then evaluates
# the notes once and reuses them (saved-prefix cache) instead of once per call.
PAPER_SYSTEM = """You are an expert machine-learning research engineer who reproduces research \
papers in PyTorch. You get notes on one paper, then one task about it: do exactly that task."""

PAPER_NOTES = """Paper: {title}

Notes on the paper:
{notes}

"""

DATASET_TEMPLATE = """Task: recommend public datasets for reproducing this paper. Prefer \
datasets the paper itself uses; otherwise the closest widely available ones.

Name the learning task, the single best dataset to start with, up to four candidates with why \
each fits and where to get it (library id or URL), and the preprocessing needed."""

# Rules every generated file follows, so that the static check and the smoke run can pass.
CODE_RULES = """- Import only torch, numpy and the Python standard library{locals}. No \
torchvision, datasets, transformers, pandas or other packages; no downloads, no files to read.
- Every name you use must be defined or imported; use only attributes your classes define.
- Keep it short (under 200 lines): build repeated layers with a loop, never write the same \
line twice.
- Run on the CPU."""

SMOKE_RUN = """`if __name__ == "__main__":` runs a tiny end-to-end check in seconds: tiny sizes \
(small dimensions, 2 layers, short sequences, batch of 4), 3 training steps on random tensors \
of the right shapes, one evaluation, and a printed loss at each step."""

CODE_SKELETON = '''```python
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# The smoke run's shapes, declared once: synthetic_batch makes inputs of these shapes and the
# model's first and last layers are built from the same names.
BATCH_SIZE = 4
SEQ_LEN = 16  # positions per example (tokens, time steps, patches; 1 for tabular rows)
TOKEN_INPUTS = False  # True: inputs are int64 token ids for nn.Embedding; False: float features
VOCAB_SIZE = 100  # token ids are below this (used when TOKEN_INPUTS)
INPUT_DIM = 32  # float features per position (used when not TOKEN_INPUTS)
NUM_CLASSES = 4  # the model outputs NUM_CLASSES logits per example


@dataclass
class Config:
    # every hyperparameter the paper gives, with its value (section or equation in a comment);
    # widths and depths small enough for a smoke run in seconds
    d_model: int = 32
    num_layers: int = 2
    ...


class Model(nn.Module):
    """The paper's architecture: every module, equation and shape."""

    def __init__(self, config: Config):
        super().__init__()
        # first layer: takes the synthetic inputs, gives [batch, SEQ_LEN, config.d_model]
        if TOKEN_INPUTS:
            self.embed = nn.Embedding(VOCAB_SIZE, config.d_model)
        else:
            self.embed = nn.Linear(INPUT_DIM, config.d_model)
        ...  # the paper's layers, each taking and giving [batch, SEQ_LEN, config.d_model]
        self.head = nn.Linear(config.d_model, NUM_CLASSES)  # last layer

    def forward(self, inputs):
        x = self.embed(inputs)  # [batch, SEQ_LEN, config.d_model]
        ...  # the paper's layers and equations on x, keeping its shape
        return self.head(x.mean(dim=1))  # logits [batch, NUM_CLASSES]


def synthetic_batch(batch_size: int = BATCH_SIZE):
    """Random inputs and class targets of the shapes the model takes (stands in for data)."""
    if TOKEN_INPUTS:
        inputs = torch.randint(0, VOCAB_SIZE, (batch_size, SEQ_LEN))
    else:
        inputs = torch.randn(batch_size, SEQ_LEN, INPUT_DIM)
    targets = torch.randint(0, NUM_CLASSES, (batch_size,))
    return inputs, targets


def train_step(model, optimizer, batch) -> float:
    """One optimisation step with the paper's loss; returns the loss as a float."""
    inputs, targets = batch
    loss = F.cross_entropy(model(inputs), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def evaluate(model, batch) -> float:
    """The paper's evaluation metric on one batch (here: accuracy)."""
    inputs, targets = batch
    return (model(inputs).argmax(dim=-1) == targets).float().mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    config = Config()
    model = Model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(3):
        loss = train_step(model, optimizer, synthetic_batch())
        print(f"step {step}: loss {loss:.4f}")
    print(f"evaluation: {evaluate(model, synthetic_batch()):.4f}")
```'''



def skeleton_source() -> str:
    """The skeleton as Python source (what a looped, cut-off file is completed with)."""
    return CODE_SKELETON.removeprefix("```python\n").removesuffix("```")


CODE_TEMPLATE = """Task: write one complete, runnable Python file that implements this paper \
faithfully. Output only the code in one ```python block.

Recommended dataset: {dataset} (task: {task}), for real training later; the smoke run uses \
random tensors.

Write ONE complete Python file that implements this paper. Rules:
{rules}
- {smoke}
- Comment each part with the paper section or equation it implements.

Fill in this skeleton completely: keep its names and its shape constants; set \
TOKEN_INPUTS for the paper's input (True for text or token ids); replace every `...` with the \
paper's code, and keep every layer's input and output sizes consistent with the constants:
{skeleton}{note}"""

# Where a repaired file failed, as the repair prompt says it: "{path} fails {stage}:".
STATIC_STAGE = "the static check (nothing ran yet)"
SMOKE_STAGE = "when it runs (`python main.py`, random data, tiny sizes)"

REPAIR_TEMPLATE = """Task: fix a Python file that fails. Return the whole corrected file in \
one ```python block, changing only what the error needs.
{context}
Here is {path}:
```python
{code}
```

{path} fails {stage}:
{error}
{hints}
Fix that error. Return the complete corrected {path} in one ```python block: keep every \
import, decorator, class and function it still needs. Rules:
{rules}
{entry_rule}"""

PLAN_TEMPLATE = """Task: plan a small PyTorch repository that implements this paper: which \
files it has, in which order they are written, and the paper's hyperparameters.

1. List the Python files of a small repository implementing this paper, in dependency order \
(a file imports only files listed before it), each with one sentence on its purpose and its \
kind. Use these files unless the paper clearly needs another: model.py (kind model: the \
architecture), data.py (kind data: random batches of the right shapes, standing in for \
{dataset}), train.py (kind train: loss, optimizer, schedule, one training step), evaluate.py \
(kind evaluate: the evaluation metric), main.py (kind entry, last: a tiny end-to-end run). \
config.py, config.yaml and README.md are written separately: do not list them.
2. List every hyperparameter the notes give: its name as a Python identifier (d_model, \
num_layers, learning_rate), its value as written, and what it controls."""

FILE_TEMPLATE = """Task: write one file of a small PyTorch repository that implements this \
paper. Output only that file's code in one ```python block.

The repository, files in dependency order:
{plan}

Files written so far:
{previous}

Write {path}: {purpose}
Rules:
{rules}
- Hyperparameters come from `from config import Config, load_config` (the fields of Config \
above); do not invent fields.
{entry_rule}{note}"""

ENTRY_RULE = """- main.py is the entry point: under `if __name__ == "__main__":` build a tiny \
configuration with `load_config(<field>=<small value>, ...)`, the model, run 3 training steps \
on random batches, one evaluation, and print the loss at each step. It must finish in seconds."""

UNCHANGED = """That is the same file, unchanged: it still fails with the error above. Change \
the code where the error points so that it cannot fail that way, and return the complete \
corrected file in one ```python block."""

LOOPED = """Your previous answer repeated the same lines until it was cut off. Write the file \
again, complete and short: each layer and statement once, loops for repeated blocks, every \
bracket closed."""

README_SYSTEM = """You write the README of a small PyTorch repository that implements a \
research paper. Output only Markdown."""

README_TEMPLATE = """Paper: {title}

The repository, files in dependency order:
{plan}

Hyperparameters (config.yaml):
{config}

Write README.md in at most 250 words: what the repository implements, one line per file, how \
to run the smoke test (`python main.py`), and how to train on {dataset} instead of random \
batches."""

# Error-specific advice for a repair: (text in the error, hint). Small models fix a traceback
# far more often when told what that kind of error usually means.
REPAIR_HINTS: tuple[tuple[str, str], ...] = (
    ("SyntaxError", "The file does not parse: check brackets, colons, indentation and that "
     "every block has a body; return the whole file, not a fragment."),
    ("IndentationError", "Fix the indentation: 4 spaces per level, every block has a body."),
    ("undefined name", "Define every name before use or import it; a hyperparameter belongs "
     "on the config object (config.name), a helper must be written out in full."),
    ("NameError", "Define every name before use or import it; pass values as arguments "
     "instead of using variables of another function."),
    ("has no field", "Add each missing field, with a small default value, to the config "
     "dataclass (or use a field it has); keep its @dataclass decorator."),
    ("has no attribute", "Use only attributes the class defines: add the missing field (with "
     "a default) to the config dataclass or the module's __init__, or use an existing one."),
    ("takes no arguments", "A class called with arguments needs the @dataclass decorator "
     "(from dataclasses import dataclass) or an __init__ that takes them."),
    ("unexpected keyword argument", "Pass only the arguments the function or class declares, "
     "or add the missing parameter or dataclass field."),
    ("import of", "Only torch, numpy and the standard library are installed: remove the "
     "import and write the needed code with torch."),
    ("No module named", "Only torch, numpy and the standard library are installed: remove the "
     "import and write the needed code with torch."),
    ("shapes cannot be multiplied", "A Linear layer's in_features does not match its input's "
     "last dimension: compute the sizes from the config and check each layer's input shape."),
    ("size of tensor", "Two tensors' shapes do not match: check each tensor's shape along the "
     "forward pass (batch, sequence, features) and reshape or transpose where needed."),
    ("must match the size", "Two tensors' shapes do not match: check each tensor's shape along "
     "the forward pass (batch, sequence, features) and reshape or transpose where needed."),
    ("target size", "The loss's targets do not fit the logits: class targets have the "
     "logits' shape without the last dimension, dtype long; flatten both: "
     "F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))."),
    ("multi-target not supported", "cross_entropy takes class ids, not one-hot or 2-D "
     "targets here: flatten both: F.cross_entropy(logits.reshape(-1, logits.size(-1)), "
     "targets.reshape(-1))."),
    ("weight of size", "A Conv layer's in_channels does not match its input's dimension 1: "
     "Conv1d wants (batch, channels, length), so transpose (batch, length, channels) inputs "
     "with x.transpose(1, 2) first, and back after."),
    ("Expected input batch_size", "The model output and the targets disagree on the batch "
     "size: flatten both the same way before the loss."),
    ("out of range", "An index is out of range: random token ids must be below the vocabulary "
     "size (torch.randint(0, vocab_size, ...)), class targets below the number of classes."),
    ("Input type (long", "A layer other than nn.Embedding got integer inputs: make such "
     "inputs float (torch.randn); torch.randint is only for token ids fed to nn.Embedding and "
     "for class targets."),
    ("dtype", "A tensor has the wrong dtype: embedding inputs and class targets are "
     "torch.long, everything else float32."),
    ("TypeError", "Check each call's arguments against the function's signature."),
    ("wall-clock limit", "The smoke run is too slow or never ends: use tiny sizes, 3 steps and "
     "loops that end."),
    ("memory limit", "The smoke run uses too much memory: use tiny sizes (dimension 32, "
     "sequence 16, batch 4)."),
    ("printed no loss", "The `if __name__ == \"__main__\":` block must train 3 steps and "
     "print the loss of each."),
    ("__main__", "Add an `if __name__ == \"__main__\":` block that trains 3 steps on random "
     "tensors and prints the loss of each."),
    ("CUDA", "Run on the CPU only."),
    ("still has a `...`", "Replace each `...` with the paper's code (its layers in __init__, "
     "their use in forward), keeping the sizes the comments give."),
    ("only `...`", "Write the function's body in full: compute and return what its docstring "
     "says."),
    ("'ellipsis'", "A `...` placeholder is still in the code: replace it with real values."),
)


# Reply cap for one code file: the rules ask for under 200 lines (about 2,000 tokens); a reply
# past this is a small model repeating itself, which costs minutes locally and is cut anyway.
CODE_REPLY_TOKENS = 3000


def repair_hints(error: str, limit: int = 3) -> list[str]:
    """The advice whose pattern the error contains, in table order, without repeats."""
    hints: list[str] = []
    for pattern, hint in REPAIR_HINTS:
        if pattern in error and hint not in hints:
            hints.append(hint)
    return hints[:limit]


_CHANNELS = {"Conv1d": 3, "Conv2d": 4, "Conv3d": 5, "BatchNorm1d": 3, "BatchNorm2d": 4,
             "BatchNorm3d": 5}  # the input's rank with a batch dimension


def trace_advice(trace: ModuleTrace) -> str | None:
    """What to change, when a smoke run's module trace makes it certain which size or dtype
    disagrees (a Linear's in_features and its input's last dimension, say); else None."""
    if trace.kind == "after":
        return (f"The model returned {trace.output}; the code after it (often the loss) "
                "failed: make the targets "
                "fit that output (class targets: its shape without the last dimension, "
                "torch.long), or change the model's output shape.")
    layer = f"self.{trace.attribute} in class {trace.owner}" if trace.attribute else (
        trace.name or trace.module_class)
    first = trace.inputs[0] if trace.inputs else ""
    if first.startswith(("tuple(", "list(")) and trace.module_class not in {
            "ModuleList", "Sequential", "LSTM", "GRU", "RNN"}:
        return (f"{layer} ({trace.module_class}) was given {first} instead of a tensor: "
                "unpack it first (`inputs, targets = batch`, then `model(inputs)`), or take "
                "the tensor you need from it.")
    tensor = trace.first_tensor()
    if tensor is None:
        return None
    dtype, shape = tensor
    sizes = trace.sizes
    integer = dtype.startswith(("int", "uint")) or dtype == "bool"
    if trace.module_class in {"Embedding", "EmbeddingBag"}:
        if not integer:
            return (f"{layer} is nn.Embedding, which takes integer token ids "
                    f"(torch.randint(0, {sizes.get('num_embeddings', 'vocab_size')}, ...)), but "
                    f"got {first}: feed it token ids, or use nn.Linear for float features.")
        return None
    if integer:
        return (f"{layer} ({trace.module_class}) got integer input {first}: only nn.Embedding "
                "takes token ids. Make the input float (torch.randn(...)) or pass the ids "
                "through an nn.Embedding first.")
    if trace.module_class == "Linear" and shape and isinstance(sizes.get("in_features"), int):
        expected = sizes["in_features"]
        if shape[-1] != expected:
            return (f"{layer} is nn.Linear with in_features={expected}, but its input {first} "
                    f"has last dimension {shape[-1]}: make in_features {shape[-1]} (the size of "
                    f"what feeds it), or change the input so its last dimension is {expected}.")
    rank = _CHANNELS.get(trace.module_class)
    channels = sizes.get("in_channels", sizes.get("num_features"))
    if rank is not None and isinstance(channels, int) and shape:
        if len(shape) != rank:
            return (f"{layer} is nn.{trace.module_class}, which takes {rank}-D input "
                    f"(batch, channels, ...), but got {first} ({len(shape)}-D): reshape or "
                    "unsqueeze the input, or use a layer for that shape.")
        if shape[1] != channels:
            return (f"{layer} is nn.{trace.module_class} with {channels} input channels, but "
                    f"its input {first} has {shape[1]} at dimension 1 (channels): make its "
                    f"channels {shape[1]}, or transpose the input to (batch, channels, ...).")
    normalized = sizes.get("normalized_shape")
    if (trace.module_class == "LayerNorm" and isinstance(normalized, list) and shape
            and shape[-len(normalized):] != normalized):
        return (f"{layer} is nn.LayerNorm({normalized[-1]}), but its input {first} ends "
                    f"with {shape[-1]}: make it nn.LayerNorm({shape[-1]}) or fix the input.")
    return None


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


def _paper_task(title: str, notes: str, task: str) -> list[BaseMessage]:
    """The shared system message and notes block, then the task (see PAPER_SYSTEM)."""
    return [
        SystemMessage(PAPER_SYSTEM),
        HumanMessage(PAPER_NOTES.format(title=title, notes=notes) + task),
    ]


def dataset_messages(*, title: str, notes: str) -> list[BaseMessage]:
    return _paper_task(title, notes, DATASET_TEMPLATE)


def _rules(local_files: bool = False) -> str:
    return CODE_RULES.format(locals=" and the repository's files above" if local_files else "")


def code_messages(
    *, title: str, notes: str, dataset: str, task: str, rewrite: bool = False
) -> list[BaseMessage]:
    """The single-file prompt; `rewrite` asks again after an answer that looped."""
    return _paper_task(title, notes, CODE_TEMPLATE.format(
        dataset=dataset, task=task, rules=_rules(), smoke=SMOKE_RUN, skeleton=CODE_SKELETON,
        note=f"\n\n{LOOPED}" if rewrite else "",
    ))


def unchanged_followup(messages: list[BaseMessage], answer: str) -> list[BaseMessage]:
    """The repair conversation again, after an answer that returned the file unchanged."""
    return [*messages, AIMessage(content=answer), HumanMessage(content=UNCHANGED)]


def repair_messages(
    *, title: str, notes: str, path: str, code: str, stage: str, error: str,
    context: str = "", entry: bool = True, local_files: bool = False,
) -> list[BaseMessage]:
    """Ask for the whole corrected file; `stage` says where it failed ("the static check",
    "when it runs"), `context` shows the repository's other files."""
    return _paper_task(title, notes, REPAIR_TEMPLATE.format(
        path=path, code=code.rstrip(), stage=stage, error=error.rstrip(),
        context=f"\n{context.rstrip()}\n" if context else "",
        hints="".join(f"Hint: {hint}\n" for hint in repair_hints(error)),
        rules=_rules(local_files), entry_rule=f"- {SMOKE_RUN}" if entry else "",
    ))


def plan_messages(*, title: str, notes: str, dataset: str) -> list[BaseMessage]:
    return _paper_task(title, notes, PLAN_TEMPLATE.format(dataset=dataset))


def file_messages(
    *, title: str, notes: str, plan: str, previous: str, path: str, purpose: str, entry: bool,
    rewrite: bool = False,
) -> list[BaseMessage]:
    """One repository file's prompt; `rewrite` asks again after an answer that looped."""
    return _paper_task(title, notes, FILE_TEMPLATE.format(
        plan=plan, previous=previous or "(none yet)", path=path, purpose=purpose,
        rules=_rules(local_files=True), entry_rule=ENTRY_RULE if entry else "",
        note=f"\n{LOOPED}" if rewrite else "",
    ))


def readme_messages(*, title: str, plan: str, config: str, dataset: str) -> list[BaseMessage]:
    return [
        SystemMessage(README_SYSTEM),
        HumanMessage(README_TEMPLATE.format(title=title, plan=plan, config=config,
                                            dataset=dataset)),
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
    """Tokens of the code model's prompts around the notes (the largest of them: datasets,
    code, plan, a repository file, a repair; the files and errors those show come out of the
    notes' room, `nodes.paper2code.context_fit`)."""
    prompts = [
        dataset_messages(title="", notes=""),
        code_messages(title="", notes="", dataset="", task="", rewrite=True),
        plan_messages(title="", notes="", dataset=""),
        file_messages(title="", notes="", plan="", previous="", path="evaluate.py", purpose="",
                      entry=True, rewrite=True),
        repair_messages(title="", notes="", path="evaluate.py", code="", stage=SMOKE_STAGE,
                        error="", context="", entry=True, local_files=True),
    ]
    return max(prompt_tokens(p) for p in prompts) + FIELD_RESERVE_TOKENS + REPAIR_HINT_RESERVE


# Room for up to three repair hints.
REPAIR_HINT_RESERVE = 150
