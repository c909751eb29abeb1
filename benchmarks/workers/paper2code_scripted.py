"""paper2code with a zero-latency model, in its own process: time by stage and peak RSS.

    python -m benchmarks.workers.paper2code_scripted PAPER DB_FOLDER OUT.json [--profile]
    python -m benchmarks.workers.paper2code_scripted PAPER DB_FOLDER OUT.json --components

The model answers instantly and keeps nothing, so every second measured is chunkwise's own
(imports, load, tokenize, split, fan-out, checkpoints, blob store, combine). `--components`
instead times the text steps one by one, cold, with the peak RSS each one adds (the kernel's
high-water mark is reset between steps through /proc/self/clear_refs). `--profile` adds the
functions with the most cumulative and own time (cProfile).
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
CHUNK_WINDOW = 200_000  # Claude 3 Haiku's context: the seed's chunk model


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB, from /proc/self/status."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            name, amount = line.split(":")
            values[name] = int(amount.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _model() -> Any:
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    from chunkwise.models.adapter import task_from_tags
    from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel

    part = re.compile(r"This is part (\d+) of")

    class Instant(ScriptedChatModel):
        """Answers by task and records nothing (the recording would hold every prompt).

        Its usage is a character count: the scripted model's word count splits every prompt
        twice per call (about 0.5 s over the 18M characters), and that is the model's work,
        not chunkwise's."""

        def _answer(self, call: ScriptedCall) -> Any:
            return self.responders[call.task](call)

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            call = ScriptedCall(task_from_tags(getattr(run_manager, "tags", None)),
                                tuple(messages))
            text = str(self._answer(call))
            sent = sum(len(str(m.content)) for m in messages) // 4
            usage = {"input_tokens": sent, "output_tokens": len(text) // 4,
                     "total_tokens": sent + len(text) // 4}
            return ChatResult(generations=[ChatGeneration(
                message=AIMessage(text, usage_metadata=usage))])

    def summarize(call: ScriptedCall) -> str:
        match = part.search(call.last)
        return f"Notes on part {match.group(1) if match else '?'}: attention, E = mc^2. " * 20

    return Instant(responders={
        "summarize_chunk": summarize,
        "collapse_summaries": lambda c: "Merged notes.",
        "recommend_datasets": lambda c: {"task": "lm", "recommended_dataset": "wikitext-103"},
        "write_code": lambda c: "```python\nimport torch\n```",
    })


def pipeline(paper: Path, folder: Path, profile: bool) -> dict[str, Any]:
    imports = time.perf_counter()
    from chunkwise.api.paper2code import ChunkedPyTorchGenerator
    from chunkwise.models.settings import ModelSettings

    imported = time.perf_counter()
    stages: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "stage":
            stages.setdefault(str(event.get("stage")), time.perf_counter() - imported)

    model = _model()
    generator = ChunkedPyTorchGenerator(
        chunk_model=model, code_model=model, checkpoint_db=str(folder / "runs.sqlite"),
        model_settings=ModelSettings(context_window=CHUNK_WINDOW), on_event=on_event,
    )
    profilers = _profile_every_thread() if profile else []
    result = generator.generate_code_for_paper(path=str(paper), run_id="overhead")
    threading.setprofile(None)
    done = time.perf_counter() - imported
    out: dict[str, Any] = {
        "success": result.get("success"),
        "error": result.get("error"),
        "chunks": result.get("num_chunks"),
        "interpreter_to_imports": imports - STARTED,
        "import_seconds": imported - imports,
        "run_seconds": done,
        "stages": {**stages, "end": done},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if profilers:
        out["profile"] = _top(profilers, dump=folder / "profile.pstats")
    return out


def _profile_every_thread() -> list[Any]:
    """A cProfile profiler in this thread and in every thread started from now on (LangGraph
    runs nodes in a thread pool, which a single cProfile run would not see)."""
    import cProfile

    profilers: list[Any] = []

    def start(*_: Any) -> None:
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()  # replaces this hook in the new thread

    threading.setprofile(start)
    start()
    return profilers


def _top(profilers: list[Any], dump: Path, limit: int = 25) -> dict[str, list[list[Any]]]:
    """The top functions by cumulative and by own time; every thread's stats go to `dump`."""
    import pstats

    stats = pstats.Stats(profilers[0])
    for profiler in profilers[1:]:
        stats.add(profiler)
    stats.dump_stats(dump)
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = name if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line}"
        where += "" if file == "~" else f" {name}"
        rows.append([where, calls, round(own, 3), round(cumulative, 3)])
    return {
        "cumulative": sorted(rows, key=lambda r: -r[3])[:limit],
        "own": sorted(rows, key=lambda r: -r[2])[:limit],
    }


def components(paper: Path) -> dict[str, Any]:
    """Each text step alone, cold: seconds and the peak RSS it adds (MB)."""
    steps: dict[str, dict[str, float]] = {}
    state: dict[str, Any] = {}

    def step(name: str, fn: Any) -> None:
        before, _ = _rss_mb()
        _reset_peak()
        started = time.perf_counter()
        state[name] = fn()
        seconds = time.perf_counter() - started
        after, peak = _rss_mb()
        steps[name] = {"seconds": round(seconds, 3), "peak_added_mb": round(peak - before, 1),
                       "kept_mb": round(after - before, 1)}

    step("import chunkwise.text", lambda: __import__("chunkwise.text.paper_split"))
    from chunkwise.text.loaders import load_document
    from chunkwise.text.paper_split import split_paper
    from chunkwise.text.tokens import TiktokenTokenizer

    step("load_document", lambda: load_document(paper))
    doc = state["load_document"]
    tok = TiktokenTokenizer()
    step("load the BPE encoding", lambda: tok.encoding)
    step("count tokens (encode)", lambda: tok.count(doc.text))
    step("token offsets", lambda: len(tok.offsets(doc.text)))
    budget = 200_000 - 4096 - 600  # the budget paper2code gives a 200k-context chunk model
    step("split_paper", lambda: split_paper(doc.text, headings=doc.headings, num_chunks=5,
                                            max_tokens=int(budget * 0.9)))
    return {"steps": steps, "tokens": state["count tokens (encode)"],
            "spans": len(state["split_paper"]), "chars": len(doc.text)}


def main() -> None:
    paper, folder, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    flags = set(sys.argv[4:])
    if "--components" in flags:
        payload = components(paper)
    else:
        payload = pipeline(paper, folder, "--profile" in flags)
    out.write_text(json.dumps(payload, indent=1), "utf-8")


if __name__ == "__main__":
    main()
