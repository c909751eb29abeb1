"""chunkwise: LangGraph pipelines for documents too long for one model call."""

__version__ = "0.1.0"
