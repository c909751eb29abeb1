"""Progress events on a real LangGraph loop: the typed shape, stages announced once per run, again
for a resumed run, once per embedding of a subgraph, and nothing kept once the runs are over."""

from __future__ import annotations

import gc
from typing import Any, Literal

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from chunkwise.runtime import progress
from chunkwise.runtime.progress import announce_stage, unit_done

UNITS = 4


class LoopState(TypedDict):
    done: int


def _loop(fail_at: int | None = None) -> StateGraph[Any, Any, Any, Any]:
    def step(state: LoopState) -> dict[str, Any]:
        announce_stage("units", UNITS - state["done"])
        if state["done"] == fail_at:
            raise RuntimeError("crash")
        unit_done("units", state["done"], tokens=10)
        return {"done": state["done"] + 1}

    def again(state: LoopState) -> Literal["step", "__end__"]:
        return "step" if state["done"] < UNITS else END

    builder = StateGraph(LoopState)
    builder.add_node(step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", again, ["step", END])
    return builder


def _events(graph: Any, payload: Any, config: dict[str, Any] | None = None) -> list[Any]:
    return list(graph.stream(payload, config, stream_mode="custom"))


def test_a_loop_announces_its_stage_once_per_run() -> None:
    graph = _loop().compile()
    for _ in range(2):  # a second run of the same graph is announced again
        events = _events(graph, {"done": 0})
        stages = [e for e in events if e["event"] == "stage"]
        assert [(e["stage"], e["total"]) for e in stages] == [("units", UNITS)]
        units = [e for e in events if e["event"] == "unit_done"]
        assert [e["index"] for e in units] == list(range(UNITS))
        assert all(e["stage"] == "units" and e["total"] == UNITS and e["ok"] for e in units)
        assert all(e["tokens"] == 10 and e["pipeline"] == "" for e in units)
        assert [e["elapsed"] for e in events] == sorted(e["elapsed"] for e in events)


def test_a_resumed_run_announces_what_is_left() -> None:
    graph = _loop(fail_at=1).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(RuntimeError, match="crash"):
        _events(graph, {"done": 0}, config)
    graph = _loop().compile(checkpointer=graph.checkpointer)
    stages = [e for e in _events(graph, None, config) if e["event"] == "stage"]
    assert [(e["stage"], e["total"]) for e in stages] == [("units", UNITS - 1)]


def test_each_embedding_of_a_subgraph_announces_once() -> None:
    inner = _loop().compile()
    builder = StateGraph(LoopState)
    builder.add_node("first", inner)
    builder.add_node("second", inner)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    events = list(builder.compile().stream({"done": 0}, stream_mode="custom", subgraphs=True))
    stages = [e for _, e in events if e["event"] == "stage"]
    assert [s["total"] for s in stages] == [UNITS, 0]


def test_nothing_is_kept_once_the_runs_are_over() -> None:
    graph = _loop().compile()
    for _ in range(5):
        _events(graph, {"done": 0})
    gc.collect()
    assert len(progress._RUNS) == 0


def test_outside_a_run_nothing_happens() -> None:
    announce_stage("units", 3)  # no writer: no error, nothing kept
    assert len(progress._RUNS) == 0
