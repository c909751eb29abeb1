"""`--layout repo`: plan the files, then write them one per graph step in dependency order.

The plan (structured output) names the Python files and the paper's hyperparameters;
`config.yaml` and `config.py` are rendered from it, each planned file is written with the
plan, the notes and the files before it in context, `main.py` (the entry point) last, then
the README. Every text goes to the blob store; state holds path -> key.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.nodes.paper2code.budget import notes_budget
from chunkwise.nodes.paper2code.code import dataset_of, extract_code
from chunkwise.nodes.paper2code.combine import join_notes
from chunkwise.nodes.paper2code.config_files import (
    config_values,
    render_config_module,
    render_config_yaml,
)
from chunkwise.nodes.paper2code.context_fit import fit_notes, show_files
from chunkwise.prompts.paper2code import (
    CODE_REPLY_TOKENS,
    file_messages,
    plan_messages,
    readme_messages,
)
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.paper2code import (
    ENTRY_POINT,
    Paper2CodeContext,
    Paper2CodeState,
    PlannedFile,
    RepoPlan,
)
from chunkwise.text.fences import unwrap_fence

CONFIG_FILES = ("config.yaml", "config.py")
README = "README.md"
MAX_PLANNED_FILES = 8
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
DEFAULT_FILES: tuple[PlannedFile, ...] = (
    PlannedFile(path="model.py", kind="model", purpose="The paper's architecture."),
    PlannedFile(path="data.py", kind="data",
                purpose="Random batches of the right shapes, standing in for the dataset."),
    PlannedFile(path="train.py", kind="train",
                purpose="The loss, the optimizer and schedule, and one training step."),
    PlannedFile(path="evaluate.py", kind="evaluate", purpose="The paper's evaluation metric."),
)
ENTRY_FILE = PlannedFile(path=ENTRY_POINT, kind="entry",
                         purpose="The entry point: a tiny end-to-end run on random data.")


def normalize_plan(plan: RepoPlan) -> RepoPlan:
    """Top-level module files only, each once, config.py and README left to us, main.py
    last; the default files when the model planned none that can be used."""
    files: list[PlannedFile] = []
    entry = ENTRY_FILE
    seen = set(CONFIG_FILES)
    for planned in plan.files:
        path = planned.path.strip().replace("\\", "/").rsplit("/", 1)[-1]
        if not _MODULE.match(path) or path in seen:
            continue
        purpose = " ".join(planned.purpose.split()) or "(no purpose given)"
        if path == ENTRY_POINT:
            entry = PlannedFile(path=path, kind="entry", purpose=purpose)
            continue
        seen.add(path)
        files.append(PlannedFile(path=path, kind=planned.kind, purpose=purpose))
    files = files[:MAX_PLANNED_FILES] or list(DEFAULT_FILES)
    return RepoPlan(files=[*files, entry], hyperparameters=plan.hyperparameters)


def describe_plan(plan: RepoPlan) -> str:
    rows = [f"- {name}: written for you; {why}" for name, why in (
        ("config.yaml", "the hyperparameters"),
        ("config.py", "`Config`, a dataclass of the hyperparameters, and "
                      "`load_config(**overrides)`"),
    )]
    rows += [f"- {f.path}: {f.purpose}" for f in plan.files]
    return "\n".join(rows)


def plan_repo(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    """The plan and the two config files; a failed plan call fails the run (resumable)."""
    ctx = runtime.context
    store = ctx.store()
    announce_stage("plan", 1)
    notes = join_notes(store, state["summary_keys"])
    dataset = dataset_of(state).recommended_dataset or "the paper's dataset"
    title = state["paper_title"]
    try:
        reply = ctx.client("code", ctx.code_model).structured(
            plan_messages(title=title, notes=notes, dataset=dataset), RepoPlan, task="plan_repo"
        )
    except ModelCallError as exc:
        unit_done("plan", ok=False, error=str(exc))
        return {"failure": f"planning the repository failed: {exc}"}
    plan = normalize_plan(reply.value)
    values = config_values(plan.hyperparameters)
    unit_done("plan", tokens=reply.usage.total_tokens)
    return {
        "plan": plan,
        "draft_files": {
            "config.yaml": store.put(render_config_yaml(title, values)),
            "config.py": store.put(render_config_module(values)),
        },
        "usage": reply.usage,
    }


def plan_of(state: Paper2CodeState) -> RepoPlan:
    plan = state["plan"]
    assert plan is not None, "plan_repo sets the plan before any file is written"
    return plan


def file_order(state: Paper2CodeState) -> list[str]:
    """The files to write: the plan's order, then the README."""
    return [f.path for f in plan_of(state).files] + [README]


def next_file(state: Paper2CodeState) -> str | None:
    """The next file to write, or None when all are."""
    return next((path for path in file_order(state) if path not in state["draft_files"]), None)


def file_index(state: Paper2CodeState, path: str) -> int:
    """The file's place in the writing order (the `item` its call is tagged with)."""
    return file_order(state).index(path)


def write_repo_file(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> dict[str, Any]:
    """Write the next file with the plan, the notes and the files before it."""
    ctx = runtime.context
    store = ctx.store()
    path = next_file(state)
    plan = plan_of(state)
    if path is None:  # nothing left (the route does not send us here then)
        return {}
    announce_stage(f"write {path}", 1)
    client = ctx.client("code", ctx.code_model)
    written = {p: store.get(k) for p, k in state["draft_files"].items()}
    if path == README:
        messages = readme_messages(
            title=state["paper_title"], plan=describe_plan(plan),
            config=written.get("config.yaml", ""),
            dataset=dataset_of(state).recommended_dataset or "the paper's dataset",
        )
    else:
        messages = repo_file_messages(state, ctx, path, written)
    started = time.monotonic()
    try:
        reply = client.complete(messages, task="write_file", item=file_index(state, path),
                                max_tokens=None if path == README else CODE_REPLY_TOKENS)
    except ModelCallError as exc:
        unit_done(f"write {path}", ok=False, error=str(exc))
        return {"failure": f"writing {path} failed: {exc}"}
    text = _markdown(reply.text) if path == README else extract_code(reply.text)
    unit_done(f"write {path}", tokens=reply.usage.total_tokens)
    return {
        "draft_files": {**state["draft_files"], path: store.put(text)},
        "final_generation_time": round(
            state["final_generation_time"] + time.monotonic() - started, 3
        ),
        "usage": reply.usage,
    }


def repo_file_messages(
    state: Paper2CodeState, ctx: Paper2CodeContext, path: str, files: dict[str, str],
    *, rewrite: bool = False,
) -> list[BaseMessage]:
    """The prompt for one planned file, showing the files written before it in the plan's
    order (again, with `rewrite`, after an answer that looped)."""
    plan = plan_of(state)
    order = [*CONFIG_FILES, *(f.path for f in plan.files)]
    before = order[: order.index(path)] if path in order else order
    previous_files = {p: files[p] for p in before if p in files}
    budget = notes_budget(ctx.client("code", ctx.code_model))
    previous = show_files(previous_files, budget // 2, outlined=("config.py",))
    notes = join_notes(ctx.store(), state["summary_keys"])
    return file_messages(
        title=state["paper_title"], notes=fit_notes(notes, budget, previous),
        plan=describe_plan(plan), previous=previous, path=path,
        purpose=next(f.purpose for f in plan.files if f.path == path),
        entry=path == ENTRY_POINT, rewrite=rewrite,
    )


def route_repo_files(
    state: Paper2CodeState,
) -> Literal["finalize", "write_repo_file", "check_code"]:
    if state["failure"]:
        return "finalize"
    return "write_repo_file" if next_file(state) else "check_code"


def _markdown(reply: str) -> str:
    """The README: the reply without a fence wrapped around all of it."""
    body = unwrap_fence(reply)
    return (reply if body is None else body).strip() + "\n"
