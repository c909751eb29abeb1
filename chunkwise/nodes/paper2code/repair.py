"""One repair round: the code model gets each failing file with its error and the notes and
returns the whole corrected file; the edge after it checks the new draft again. A file that
does not parse because the model looped (the same lines over and over until its token limit)
is written again from its original prompt, with a note, instead. A file handed back unchanged
is asked for once more, told it was unchanged.

The round works on the last attempt. With static findings it repairs every file that has a
blocking one; after a failed smoke run it repairs the generated file where the traceback's
innermost generated frame points (the entry point when none does). `config.py` and
`config.yaml` are rendered by chunkwise and never repaired: a traceback inside them points at
their caller.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime

from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.paper2code.budget import notes_budget
from chunkwise.nodes.paper2code.code import extract_code, single_file_messages
from chunkwise.nodes.paper2code.combine import join_notes
from chunkwise.nodes.paper2code.context_fit import fit_notes, show_files
from chunkwise.nodes.paper2code.repo import CONFIG_FILES, repo_file_messages
from chunkwise.prompts.paper2code import (
    CODE_REPLY_TOKENS,
    SMOKE_STAGE,
    STATIC_STAGE,
    repair_messages,
    trace_advice,
    unchanged_followup,
)
from chunkwise.runtime.blobs import BlobStore
from chunkwise.runtime.module_trace import ModuleTrace
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.paper2code import (
    ENTRY_POINT,
    CodeAttempt,
    Paper2CodeContext,
    Paper2CodeState,
    best_attempt,
)
from chunkwise.text.code_check import Finding
from chunkwise.text.code_fixes import collapse_repeats
from chunkwise.text.code_outline import (
    attribute_assignment,
    generated_frames,
    traceback_excerpt,
)

MAX_FINDINGS_SHOWN = 12


def repair_targets(attempt: CodeAttempt, store: BlobStore) -> list[tuple[str, str, str]]:
    """(path, stage, error text) for each file this round repairs."""
    if not attempt.static_passed:
        by_path: dict[str, list[Finding]] = {}
        for finding in attempt.findings:
            if finding.blocking and finding.path not in CONFIG_FILES:
                by_path.setdefault(finding.path, []).append(finding)
        return [
            (path, STATIC_STAGE, "\n".join(f.render() for f in found[:MAX_FINDINGS_SHOWN]))
            for path, found in by_path.items()
        ] or [(ENTRY_POINT, STATIC_STAGE, "the static check failed")]
    smoke = attempt.smoke
    assert smoke is not None and not smoke.ok
    output = json.loads(store.get(smoke.output_key)) if smoke.output_key else {}
    stdout, stderr = str(output.get("stdout", "")), str(output.get("stderr", ""))
    editable = [p for p in attempt.files if p.endswith(".py") and p not in CONFIG_FILES]
    frames = generated_frames(stderr, editable)
    path = frames[-1][0] if frames else ENTRY_POINT
    parts = [traceback_excerpt(stderr)] if stderr.strip() else []
    if smoke.error and not any(smoke.error in p for p in parts):
        parts.append(smoke.error)
    if smoke.trace is not None:
        parts.extend(trace_lines(smoke.trace, {p: store.get(attempt.files[p]) for p in editable}))
    if stdout.strip() and (smoke.killed_reason or not stderr.strip()):
        last = "\n".join(stdout.rstrip().splitlines()[-8:])
        parts.append(f"Its output before that:\n{last}")
    return [(path, SMOKE_STAGE, "\n".join(parts) or "it failed without output")]


def trace_lines(trace: ModuleTrace, texts: dict[str, str]) -> list[str]:
    """The smoke run's module trace as the repair prompt shows it: the failing layer, where
    the file creates it, and what to change when that is certain."""
    lines = [f"The failing layer: {trace.describe()}"]
    if trace.attribute:
        for path, text in texts.items():
            found = attribute_assignment(text, trace.owner, trace.attribute)
            if found is not None:
                lines.append(f"It is created in {path} line {found[0]}: {found[1]}")
                break
    advice = trace_advice(trace)
    if advice:
        lines.append(f"What to change: {advice}")
    return lines


def base_attempt(attempts: list[CodeAttempt]) -> tuple[CodeAttempt, str]:
    """The attempt to repair: the last one, unless an earlier one got further (then that one,
    with a note on how the fix that followed it went wrong, so the prompt is not the one
    already answered)."""
    last, best = attempts[-1], best_attempt(attempts)
    if best.rank()[0] <= last.rank()[0]:
        return last, ""
    return best, ("\n(An earlier fix of this made it worse, failing with: "
                  f"{last.error_line()}. Change only what the error above needs.)")


def looped(attempt: CodeAttempt, path: str, code: str) -> bool:
    """The file does not parse and repeats a block of lines: the model looped until its
    token limit. Such a file is written again rather than repaired."""
    broken = any(f.kind == "syntax" and f.path == path for f in attempt.findings)
    return broken and collapse_repeats(code)[1] > 0


def rewrite_messages(
    state: Paper2CodeState, ctx: Paper2CodeContext, path: str, texts: dict[str, str]
) -> list[BaseMessage]:
    if ctx.layout == "repo":
        return repo_file_messages(state, ctx, path, texts, rewrite=True)
    return single_file_messages(state, ctx, rewrite=True)


def repair_code(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    attempt, setback = base_attempt(state["attempts"])
    round_number = state["repairs"] + 1
    targets = [(path, stage, error + setback) for path, stage, error
               in repair_targets(attempt, store)]
    name = f"repair {round_number}"
    announce_stage(name, len(targets))
    client = ctx.client("code", ctx.code_model)
    budget = notes_budget(client)
    notes = join_notes(store, state["summary_keys"])
    texts = {path: store.get(key) for path, key in attempt.files.items()}
    files = dict(attempt.files)
    usage = Usage()
    for index, (path, stage, error) in enumerate(targets):
        others = {p: t for p, t in texts.items() if p != path and p.endswith((".py", ".yaml"))}
        context = ""
        if others:
            shown = show_files(others, budget // 3, outlined=("config.py",))
            context = f"The repository's other files:\n{shown}\n"
        code = texts.get(path, "")
        messages = (
            rewrite_messages(state, ctx, path, texts) if looped(attempt, path, code)
            else repair_messages(
                title=state["paper_title"],
                notes=fit_notes(notes, budget, context, code, error),
                path=path, code=code, stage=stage, error=error, context=context,
                entry=path == ENTRY_POINT, local_files=bool(others),
            )
        )
        try:
            reply = client.complete(messages, task="repair_code", item=round_number,
                                    max_tokens=CODE_REPLY_TOKENS)
            usage = usage + reply.usage
            fixed = extract_code(reply.text)
            if fixed.strip() == code.strip():
                # a small model often hands the file back as it was; told so, it changes it
                reply = client.complete(unchanged_followup(messages, reply.text),
                                        task="repair_code", item=round_number,
                                        max_tokens=CODE_REPLY_TOKENS)
                usage = usage + reply.usage
                fixed = extract_code(reply.text)
        except ModelCallError as exc:
            unit_done(name, index, ok=False, error=str(exc))
            return {"repair_stopped": f"repair round {round_number} failed: {exc}",
                    "usage": usage}
        if fixed.strip():
            texts[path] = fixed
            files[path] = store.put(fixed)
        unit_done(name, index, tokens=reply.usage.total_tokens)
    return {"draft_files": files, "repairs": round_number, "usage": usage}


def route_after_repair(state: Paper2CodeState) -> Literal["check_code", "finalize"]:
    return "finalize" if state["repair_stopped"] else "check_code"
