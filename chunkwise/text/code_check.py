"""Static check of generated Python: it compiles, imports only what a smoke run can provide,
and uses no undefined names. Nothing here executes the code.

The check is always on, so it must be cheap and pure: `compile()` for syntax (it also catches
what only the compiler sees, e.g. `return` outside a function), an AST walk for imports, and
pyflakes (a maintained checker) for names. A file that does not compile yields only its syntax
finding: the rest would describe a file the repair has to change anyway.

Imports: the first dotted component must be the standard library (`sys.stdlib_module_names`),
an allowed third-party package (torch, numpy by default) or another generated file. A local
import must name a module or package that exists among the generated files. An import inside a
`try` whose handler catches ImportError/ModuleNotFoundError (or Exception, or bare `except`) is
reported but does not block: the code has a fallback. Relative imports resolve against the
importing file's package; in a top-level file they block, because the entry point runs as a
script and Python has no parent package to resolve them against. Dynamic imports
(`importlib.import_module`, `__import__`) are not seen.

Which pyflakes messages block (`Finding.blocking`), and why:

- undefined names, always (kind "undefined-name"): `UndefinedName`, `UndefinedLocal`,
  `UndefinedExport`, and `ImportStarUsage` (a name that only a `*` import could define: the
  check cannot prove it exists, so the repair is asked for explicit imports);
- code that raises when it runs, or does not compile (kind "pyflakes"): `raise NotImplemented`,
  `print >>`, `%`-format and `str.format` calls whose placeholders and arguments cannot match
  (count, mapping vs sequence, missing or invalid placeholders, mixed numbering), and the
  compile-time errors (`return`/`yield`/`break`/`continue` misplaced, duplicate arguments,
  late or unknown `__future__` imports, `import *` in a function, default `except:` not last,
  bad starred assignments, misplaced lazy imports);
- everything else is informational (kind "pyflakes", `blocking=False`): unused imports and
  variables, redefinitions, shadowing, f-strings without placeholders, `is` with a literal,
  always-true `if`/`assert` tuples, repeated dict keys, unused `.format` arguments, a
  `*` import itself, forward-annotation syntax. A message class this table does not know
  (a newer pyflakes) is informational too: an unknown warning never fails a run.

Columns are 1-based, as editors and tracebacks show them.
"""

from __future__ import annotations

import ast
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pyflakes import checker as pyflakes_checker

__all__ = [
    "ALLOWED_THIRD_PARTY",
    "BLOCKING_PYFLAKES",
    "UNDEFINED_NAME_PYFLAKES",
    "CodeCheck",
    "Finding",
    "FindingKind",
    "check_code",
    "check_files",
    "local_module_names",
]

# Set by callers' own checks: "entry" (the entry point lacks its `__main__` block),
# "attribute" (a config field that is read or passed but not declared) and "placeholder" (a
# function left as `...`), the last two from `text.code_fixes`.
FindingKind = Literal[
    "syntax", "import", "undefined-name", "pyflakes", "entry", "attribute", "placeholder"
]

ALLOWED_THIRD_PARTY = frozenset({"torch", "numpy"})

UNDEFINED_NAME_PYFLAKES = frozenset(
    {"UndefinedName", "UndefinedLocal", "UndefinedExport", "ImportStarUsage"}
)
BLOCKING_PYFLAKES = UNDEFINED_NAME_PYFLAKES | frozenset(
    {
        # raise (TypeError, ValueError, KeyError, IndexError) when the line runs
        "RaiseNotImplemented",
        "InvalidPrintSyntax",
        "StringDotFormatMissingArgument",
        "StringDotFormatMixingAutomatic",
        "StringDotFormatInvalidFormat",
        "PercentFormatInvalidFormat",
        "PercentFormatMixedPositionalAndNamed",
        "PercentFormatUnsupportedFormatCharacter",
        "PercentFormatPositionalCountMismatch",
        "PercentFormatMissingArgument",
        "PercentFormatExpectedMapping",
        "PercentFormatExpectedSequence",
        "PercentFormatStarRequiresSequence",
        # rejected by the compiler (usually caught by compile() first)
        "ReturnOutsideFunction",
        "YieldOutsideFunction",
        "ContinueOutsideLoop",
        "BreakOutsideLoop",
        "DuplicateArgument",
        "LateFutureImport",
        "FutureFeatureNotDefined",
        "ImportStarNotPermitted",
        "DefaultExceptNotLast",
        "TwoStarredExpressions",
        "TooManyExpressionsInStarredAssignment",
        "LazyImportStarNotPermitted",
        "LazyImportNotAtModuleScope",
    }
)

_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


class Finding(BaseModel):
    """One problem in one file; `check` names the pyflakes message class when it has one."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: FindingKind
    line: int
    col: int = 0
    message: str
    blocking: bool
    check: str = ""

    def render(self) -> str:
        """`path:line:col: message`, the form a repair prompt or a log line shows."""
        where = f"{self.path}:{self.line}" + (f":{self.col}" if self.col else "")
        return f"{where}: {self.message}"


class CodeCheck(BaseModel):
    """All findings of one check; `passed` is False as soon as one finding blocks."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    findings: tuple[Finding, ...] = ()

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> CodeCheck:
        ordered = tuple(sorted(findings, key=lambda f: (f.path, f.line, f.col)))
        return cls(passed=not any(f.blocking for f in ordered), findings=ordered)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)


def local_module_names(paths: Iterable[str]) -> frozenset[str]:
    """Dotted module and package names the generated `.py` files provide, from their paths.

    `model.py` gives `model`; `pkg/layers.py` gives `pkg.layers` and the package `pkg`;
    `pkg/__init__.py` gives `pkg`. Paths are relative to the directory the entry point runs in.
    """
    names: set[str] = set()
    for raw in paths:
        path = PurePosixPath(raw.replace("\\", "/"))
        if path.suffix != ".py":
            continue
        parts = list(path.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        for depth in range(1, len(parts) + 1):
            names.add(".".join(parts[:depth]))
    return frozenset(names)


def check_code(
    source: str,
    *,
    path: str = "main.py",
    local_modules: Iterable[str] = (),
    allowed_third_party: Iterable[str] = ALLOWED_THIRD_PARTY,
) -> CodeCheck:
    """Check one file; `local_modules` are the other generated files' dotted module names."""
    return CodeCheck.of(
        _check_one(source, path, frozenset(local_modules), frozenset(allowed_third_party))
    )


def check_files(
    files: Mapping[str, str],
    *,
    allowed_third_party: Iterable[str] = ALLOWED_THIRD_PARTY,
) -> CodeCheck:
    """Check every `.py` file of a generated tree ({path: source}); other files are skipped."""
    local = local_module_names(files)
    allowed = frozenset(allowed_third_party)
    findings: list[Finding] = []
    for path, source in files.items():
        if PurePosixPath(path).suffix == ".py":
            findings.extend(_check_one(source, path, local, allowed))
    return CodeCheck.of(findings)


def _check_one(
    source: str, path: str, local: frozenset[str], allowed: frozenset[str]
) -> list[Finding]:
    syntax = _syntax_finding(source, path)
    if syntax is not None:
        return [syntax]
    tree = ast.parse(source, filename=path)
    return [*_import_findings(tree, path, local, allowed), *_pyflakes_findings(tree, path)]


def _syntax_finding(source: str, path: str) -> Finding | None:
    """Full compile (not just parse): the compiler rejects more than the parser does."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are pyflakes' business
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        message = f"{type(exc).__name__}: {exc.msg}"
        return Finding(path=path, kind="syntax", line=exc.lineno or 1, col=exc.offset or 0,
                       message=message, blocking=True)
    except ValueError as exc:  # e.g. NUL bytes in the source (a SyntaxError from 3.12 on)
        return Finding(path=path, kind="syntax", line=1, message=f"SyntaxError: {exc}",
                       blocking=True)
    return None


def _pyflakes_findings(tree: ast.Module, path: str) -> list[Finding]:
    found = []
    for msg in pyflakes_checker.Checker(tree, filename=path).messages:
        name = type(msg).__name__
        kind: FindingKind = "undefined-name" if name in UNDEFINED_NAME_PYFLAKES else "pyflakes"
        found.append(Finding(path=path, kind=kind, line=msg.lineno, col=msg.col + 1,
                             message=msg.message % msg.message_args,
                             blocking=name in BLOCKING_PYFLAKES, check=name))
    return found


def _import_findings(
    tree: ast.Module, path: str, local: frozenset[str], allowed: frozenset[str]
) -> list[Finding]:
    package = _package_of(path)
    found = []
    for node, guarded in _imports(tree):
        for module, problem in _imported_modules(node, package):
            reason = problem or _disallowed(module, local, allowed)
            if reason is None:
                continue
            if guarded:
                reason += " (guarded by an ImportError handler: informational)"
            found.append(Finding(path=path, kind="import", line=node.lineno,
                                 col=node.col_offset + 1, message=reason, blocking=not guarded))
    return found


def _package_of(path: str) -> str | None:
    """Dotted package of a file, or None for a top-level file (run as a script)."""
    parts = PurePosixPath(path.replace("\\", "/")).parent.parts
    return ".".join(parts) if parts else None


def _imported_modules(
    node: ast.Import | ast.ImportFrom, package: str | None
) -> list[tuple[str, str | None]]:
    """(absolute module name, or a problem that makes it unresolvable) for each import."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    if node.level == 0:
        return [(node.module or "", None)]
    shown = "." * node.level + (node.module or "")
    if package is None:
        return [(shown, f"relative import {shown!r} in a top-level file fails when it runs "
                        "as a script: import the sibling module by name")]
    parts = package.split(".")
    if node.level - 1 >= len(parts):
        return [(shown, f"relative import {shown!r} goes above the generated tree")]
    base = ".".join(parts[: len(parts) - (node.level - 1)])
    # like `from pkg import name`, only the module part is checked: `name` may be an attribute
    return [(f"{base}.{node.module}" if node.module else base, None)]


def _disallowed(module: str, local: frozenset[str], allowed: frozenset[str]) -> str | None:
    top = module.split(".")[0]
    if top in local:
        return None if module in local else f"module {module!r} is not among the generated files"
    if top in sys.stdlib_module_names or top in allowed:
        return None
    permitted = ", ".join(sorted(allowed))
    return (f"import of {module!r}: only the standard library, {permitted} "
            "and the generated files are available")


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import with whether an ImportError handler around it gives it a fallback."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, guarded))
            return
        if isinstance(node, ast.Try | ast.TryStar):
            body_guarded = guarded or any(_catches_import_error(h) for h in node.handlers)
            for statement in node.body:
                visit(statement, body_guarded)
            rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
            for other in rest:
                visit(other, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (isinstance(t, ast.Name) and t.id in _IMPORT_ERRORS)
        or (isinstance(t, ast.Attribute) and t.attr in _IMPORT_ERRORS)
        for t in types
    )
