"""Check the current draft: the static check always, the sandboxed smoke run with --validate.

Before checking, the slips `text.code_fixes` can fix without a model call are fixed (a lost
well-known import, an undeclared config field, a file cut off while looping: see
`text.code_salvage`) and recorded on the attempt. After a failed smoke run, a channels-first
layer fed channels last is transposed around (`text.code_layout`) and run again, kept only if
the run then gets further.

Each check records one `CodeAttempt` (findings, smoke outcome, blob keys of the files), so the
repair loop's history is in the checkpoint and the best attempt can be kept. Generated code is
executed only when the context asks for validation, and only if the static check passed
(code that fails it would fail the run for the reason the check already gives).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from langgraph.runtime import Runtime

from chunkwise.models.secrets import redact
from chunkwise.prompts.paper2code import skeleton_source
from chunkwise.runtime.blobs import BlobStore
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.runtime.sandbox import run_sandboxed
from chunkwise.state.paper2code import (
    ENTRY_POINT,
    CodeAttempt,
    Paper2CodeContext,
    Paper2CodeState,
    SmokeRun,
)
from chunkwise.text.code_check import Finding, check_files
from chunkwise.text.code_contract import restore_contract_layers
from chunkwise.text.code_fixes import (
    add_config_fields,
    add_known_imports,
    config_findings,
    config_gap,
    drop_placeholder_calls,
    placeholder,
    placeholder_findings,
)
from chunkwise.text.code_layout import transpose_layer_calls
from chunkwise.text.code_outline import has_main_guard
from chunkwise.text.code_salvage import salvage_looped

MAX_FINDINGS = 40  # kept per attempt, blocking ones first
MAX_LAYOUT_FIXES = 4  # layers transposed in one check (a stack of Conv1d fails one at a time)
NO_LOSS = ("the smoke run printed no loss: the __main__ block must train a few steps and print "
           "the loss")
# absolute paths of the sandbox's directory and of installed packages, cut from tracebacks so
# prompts are short and the same on every run (the call cache then serves repeated repairs)
_SANDBOX_DIR = re.compile(r"/[^\s\"']*?chunkwise-sandbox-[^/\s\"']+/")
_SITE_PACKAGES = re.compile(r"/[^\s\"']*/site-packages/")
_LOSS = re.compile(r"loss", re.IGNORECASE)
_UNDEFINED = re.compile(r"undefined name '(\w+)'")


def clean_output(text: str) -> str:
    """Sandbox output as it may reach a result or a prompt: no secrets, relative paths."""
    return _SITE_PACKAGES.sub("site-packages/", _SANDBOX_DIR.sub("", redact(text)))


def auto_fix(texts: dict[str, str], skeleton: str | None = None) -> dict[str, list[str]]:
    """Fix in place, without a model call, the slips `text.code_fixes` knows: a file cut off
    while looping (salvaged; the entry point completed from `skeleton`, the single file's),
    a skeleton's `Config(...)` kept as it was, a skeleton layer used but no longer created, a
    lost well-known import, a config field the code uses but never declared. What was
    changed, by file."""
    added: dict[str, list[str]] = {}
    for path, text in texts.items():
        if not path.endswith(".py"):
            continue
        salvaged = salvage_looped(text, skeleton if path == ENTRY_POINT else None)
        if salvaged is not None:
            text, what = salvaged
            added[path] = [what]
        texts[path], calls = drop_placeholder_calls(text)
        added.setdefault(path, []).extend(calls)
        if skeleton is not None and path == ENTRY_POINT:
            texts[path], restored = restore_contract_layers(texts[path], skeleton)
            added[path].extend(restored)
    undefined: dict[str, list[str]] = {}
    for finding in check_files(texts).findings:
        if finding.check == "UndefinedName" and (match := _UNDEFINED.search(finding.message)):
            undefined.setdefault(finding.path, []).append(match.group(1))
    for path, names in undefined.items():
        texts[path], lines = add_known_imports(texts[path], names)
        added.setdefault(path, []).extend(lines)
    gap = config_gap(texts)
    if gap is not None and gap.missing:
        values = {f.name: placeholder(f.name) if f.passed is None else f.passed
                  for f in gap.missing}
        texts[gap.path], lines = add_config_fields(texts[gap.path], gap.class_name, values)
        added.setdefault(gap.path, []).extend(f"{gap.class_name}.{line}" for line in lines)
    return {path: lines for path, lines in added.items() if lines}


def entry_finding(texts: dict[str, str]) -> Finding | None:
    """The entry point must have a `__main__` block: without one the smoke run proves nothing."""
    source = texts.get(ENTRY_POINT, "")
    if has_main_guard(source):
        return None
    return Finding(path=ENTRY_POINT, kind="entry", line=1, blocking=True,
                   message='no `if __name__ == "__main__":` block to run')


def smoke_run(texts: dict[str, str], ctx: Paper2CodeContext, store: BlobStore) -> SmokeRun:
    """Run the entry point in the sandbox; the redacted tails go to the blob store."""
    result = run_sandboxed(texts, ENTRY_POINT, timeout=ctx.validate_timeout, trace_modules=True)
    stdout, stderr = clean_output(result.stdout_tail), clean_output(result.stderr_tail)
    ok, error = result.ok, clean_output(result.error_line) if result.error_line else None
    if ok and not _LOSS.search(stdout):
        ok, error = False, NO_LOSS
    output = json.dumps({"stdout": stdout, "stderr": stderr}, ensure_ascii=False)
    return SmokeRun(
        ok=ok, seconds=result.seconds, error=error, killed_reason=result.killed_reason,
        network_isolated=result.network_isolated, output_key=store.put(output),
        trace=result.trace if not ok and result.error_line else None,
    )


def transpose_layer(texts: dict[str, str], smoke: SmokeRun) -> tuple[str, str, list[str]] | None:
    """(path, new text, calls changed) when the smoke run failed in a channels-first layer fed
    channels last and the file calling it is found; else None."""
    trace = smoke.trace
    if smoke.ok or trace is None or not trace.channels_last() or not trace.name:
        return None
    parts = trace.name.split(".")
    if trace.attribute not in parts:
        return None
    # the layer's name below its owner: `conv`, or `layers.0` for an indexed container element
    layer = ".".join(parts[len(parts) - 1 - parts[::-1].index(trace.attribute):])
    for path, text in texts.items():
        if path.endswith(".py"):
            fixed, calls = transpose_layer_calls(text, trace.owner, layer)
            if calls:
                return path, fixed, calls
    return None


def fix_layout(
    texts: dict[str, str], smoke: SmokeRun, ctx: Paper2CodeContext, store: BlobStore
) -> tuple[SmokeRun, dict[str, list[str]]]:
    """Transpose around the layers the smoke run failed in for their input's layout, one at a
    time, each kept only when the run then passes or fails otherwise or in another layer;
    `texts` is updated. The last smoke run and the calls changed, by file."""
    changed: dict[str, list[str]] = {}
    for _ in range(MAX_LAYOUT_FIXES):
        found = transpose_layer(texts, smoke)
        if found is None:
            break
        path, text, calls = found
        again = smoke_run({**texts, path: text}, ctx, store)
        if not again.ok and (again.error, again.trace) == (smoke.error, smoke.trace):
            break  # the same failure at the same layer: the edit did not help
        texts[path], smoke = text, again
        changed.setdefault(path, []).extend(
            f"{call} (the layer takes (batch, channels, length))" for call in calls)
    return smoke, changed


def check_code(state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]) -> dict[str, Any]:
    ctx = runtime.context
    store = ctx.store()
    files = state["draft_files"]
    number = state["repairs"]
    name = "check" if number == 0 else f"check after repair {number}"
    announce_stage(name, 1)
    texts = {path: store.get(key) for path, key in files.items()}
    added = auto_fix(texts, skeleton_source() if ctx.layout == "file" else None)
    files = {**files, **{path: store.put(texts[path]) for path in added}}
    if number and any(files == earlier.files for earlier in state["attempts"]):
        # a repair gave back code already checked (a cached or deterministic answer): checking
        # it again cannot help, and neither can asking again
        unit_done(name, ok=False, error="code already checked")
        return {"repair_stopped": f"repair round {number} returned code already checked"}
    fixes = [f"{path}: {line}" for path, lines in added.items() for line in lines]
    findings = list(check_files(texts).findings)
    # like the static check, a file that does not compile gets only its syntax finding
    if not any(f.kind == "syntax" for f in findings):
        findings += config_findings(texts)
        for path, text in texts.items():
            if path.endswith(".py"):
                findings += placeholder_findings(text, path)
        if (missing := entry_finding(texts)) is not None:
            findings.append(missing)
    passed = all(not f.blocking for f in findings)
    kept = sorted(findings, key=lambda f: not f.blocking)[:MAX_FINDINGS]
    smoke = smoke_run(texts, ctx, store) if ctx.validate and passed else None
    if smoke is not None and not smoke.ok:
        smoke, transposed = fix_layout(texts, smoke, ctx, store)
        files = {**files, **{path: store.put(texts[path]) for path in transposed}}
        fixes += [f"{path}: {line}" for path, lines in transposed.items() for line in lines]
    attempt = CodeAttempt(number=number, files=dict(files), findings=kept, static_passed=passed,
                          smoke=smoke, auto_fixes=fixes)
    unit_done(name, ok=attempt_passed(attempt), error=attempt.error_line())
    return {"attempts": [*state["attempts"], attempt]}


def attempt_passed(attempt: CodeAttempt) -> bool:
    return attempt.static_passed and (attempt.smoke is None or attempt.smoke.ok)


def route_after_check(
    state: Paper2CodeState, runtime: Runtime[Paper2CodeContext]
) -> Literal["repair_code", "finalize"]:
    """Repair while the last attempt fails and rounds are left."""
    if state["repair_stopped"] or attempt_passed(state["attempts"][-1]):
        return "finalize"
    return "repair_code" if state["repairs"] < runtime.context.max_repairs else "finalize"
