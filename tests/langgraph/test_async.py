"""`ainvoke` / `astream`: model calls do not block the event loop, so a host runs several graphs
concurrently in one process. Overlap and loop progress are counted, not timed."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from chunkwise.graphs.generate import graph as generate_graph
from chunkwise.graphs.rephrase import graph as rephrase_graph
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.state.generate import GenerateContext
from chunkwise.state.rephrase import RephraseContext
from tests.generate.support import manual_plan, writer_model
from tests.rephrase.support import echo

TEXT = "The committee met in Geneva. It agreed on three rules for the treaty.\n\n" * 12


class Overlap:
    """Counts model calls in flight across every graph, and the most seen at once."""

    def __init__(self) -> None:
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def slow(self, answer: Any) -> Any:
        def respond(call: ScriptedCall) -> Any:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.05)  # a model call: blocking I/O in the node's worker thread
            with self.lock:
                self.active -= 1
            return answer(call)

        return respond


def test_two_graphs_run_concurrently_without_blocking_the_loop() -> None:
    overlap = Overlap()
    rewriter = ScriptedChatModel(responders={"rewrite": overlap.slow(echo)})
    writer = writer_model()
    writer.responders = {task: overlap.slow(r) for task, r in writer.responders.items()}
    settings = ModelSettings(cache=False, max_attempts=1)
    rephrase_context = RephraseContext(rewriter_model=rewriter, models=settings,
                                       blob_store=":memory:", tokenizer="whitespace",
                                       chunk_tokens=30, overlap_tokens=6)
    generate_context = GenerateContext(planner_model=writer, writer_model=writer,
                                       judge_model=writer, models=settings, blob_store=":memory:")

    async def main() -> tuple[Any, Any, int, list[str]]:
        ticks = 0
        stop = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        events: list[str] = []

        async def rephrase() -> Any:
            final = None
            async for mode, chunk in rephrase_graph.astream(
                {"text": TEXT}, context=rephrase_context, stream_mode=["custom", "values"]
            ):
                if mode == "custom":
                    events.append(chunk["event"])
                else:
                    final = chunk
            return final

        done = await asyncio.gather(
            rephrase(),
            generate_graph.ainvoke({"manual_plan": manual_plan(3)}, context=generate_context),
        )
        stop.set()
        await beat
        return done[0], done[1], ticks, events

    rephrased, generated, ticks, events = asyncio.run(main())
    assert rephrased["result"]["success"] and generated["result"]["success"]
    assert overlap.peak >= 2  # calls of the two graphs were in flight together
    calls = len(rewriter.calls) + len(writer.calls)
    assert ticks > calls  # the loop kept turning while the calls blocked their threads
    assert "stage" in events and "unit_done" in events
