"""The README's main job on a local model, in its own process, with llama.cpp's own timings.

    python -m benchmarks.workers.local_job PAPER MODEL_SPEC FOLDER OUT.json

Runs `ChunkedPyTorchGenerator` with the CLI's defaults (5 chunks, concurrency 4) on MODEL_SPEC
for both roles, like `chunkwise paper2code PAPER`. Around every `create_chat_completion` it
resets and reads llama.cpp's performance counters, so each call's time splits into prompt
evaluation (tokens evaluated, ms), generation (tokens, ms) and the rest (sampling, grammar
for structured output, Python). The model load and the progress events (stage times) are
recorded too. The generated file is written to FOLDER/model.py.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
TASKS = (  # how each prompt of paper2code announces itself
    ("summarize_chunk", re.compile(r"This is part \d+ of")),
    ("collapse_summaries", re.compile(r"Merge these notes on parts")),
    ("write_code", re.compile(r"Write ONE complete Python file")),
    ("recommend_datasets", re.compile(r"Name the learning task")),
)


def _task(messages: list[dict[str, Any]]) -> str:
    text = "\n".join(str(m.get("content") or "") for m in messages)
    return next((name for name, pattern in TASKS if pattern.search(text)), "other")


def instrument(calls: list[dict[str, Any]], loads: list[float]) -> None:
    """Wrap llama_cpp.Llama: time loads, and read perf counters around each completion."""
    import llama_cpp

    lock = threading.Lock()
    original_init = llama_cpp.Llama.__init__
    original_call = llama_cpp.Llama.create_chat_completion

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        original_init(self, *args, **kwargs)
        loads.append(time.perf_counter() - started)

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = self._ctx.ctx
        llama_cpp.llama_perf_context_reset(ctx)
        started = time.perf_counter()
        result = original_call(self, *args, **kwargs)
        seconds = time.perf_counter() - started
        perf = llama_cpp.llama_perf_context(ctx)
        usage: dict[str, Any] = dict(result.get("usage") or {}) if isinstance(result, dict) else {}
        record = {
            "task": _task(kwargs.get("messages") or (args[0] if args else [])),
            "structured": kwargs.get("response_format") is not None,
            "started": started - STARTED,
            "seconds": seconds,
            "prompt_tokens": usage.get("prompt_tokens"),
            "prompt_evaluated": perf.n_p_eval,
            "prompt_ms": perf.t_p_eval_ms,
            "generated": perf.n_eval,
            "generation_ms": perf.t_eval_ms,
        }
        with lock:
            calls.append(record)
        return result

    llama_cpp.Llama.__init__ = init  # type: ignore[method-assign]
    llama_cpp.Llama.create_chat_completion = create  # type: ignore[method-assign]


def main() -> None:
    paper, spec, folder, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    calls: list[dict[str, Any]] = []
    loads: list[float] = []
    instrument(calls, loads)
    from chunkwise.api.paper2code import ChunkedPyTorchGenerator

    stages: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "stage":
            stages.setdefault(str(event.get("stage")), time.perf_counter() - STARTED)

    started = time.perf_counter()
    result = ChunkedPyTorchGenerator(
        chunk_model=spec, code_model=spec, checkpoint_db=str(folder / "runs.sqlite"),
        on_event=on_event,
    ).generate_code_for_paper(path=paper, run_id="local-bench")
    finished = time.perf_counter()
    (folder / "model.py").write_text(result.get("code") or "", "utf-8")
    payload = {
        "success": result.get("success"), "error": result.get("error"),
        "chunks": result.get("num_chunks"), "successful_chunks": result.get("successful_chunks"),
        "code_syntax_error": result.get("code_syntax_error"),
        "code_chars": len(result.get("code") or ""), "usage": result.get("usage"),
        "recommended_dataset": result.get("recommended_dataset"),
        "pipeline_started": started - STARTED, "pipeline_seconds": finished - started,
        "stages": {**stages, "end": finished - STARTED}, "model_loads": loads, "calls": calls,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out.write_text(json.dumps(payload, indent=1), "utf-8")


if __name__ == "__main__":
    main()
