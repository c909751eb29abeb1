"""Plain text functions seen as chat models, so their calls go through the model seam.

The original APIs took objects with `rewrite(RewriteRequest) -> str` or
`generate(LLMRequest) -> str`. Wrapping them as chat models gives them the same retry
classification, rate limits, usage and progress events as any provider; the seam tags every
call `chunkwise:<task>`, which is how an adapter (or a scripted test model) knows the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from chunkwise.errors import ConfigError

TASK_TAG = "chunkwise:"


def task_from_tags(tags: Sequence[str] | None) -> str:
    """The task the seam tagged a call with, or "unknown"."""
    for tag in tags or ():
        if tag.startswith(TASK_TAG):
            return tag[len(TASK_TAG):]
    return "unknown"


class TextFunctionChatModel(BaseChatModel):
    """A chat model whose answer comes from `answer(task, messages)`; subclasses define it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "text-function"

    @property
    def _llm_type(self) -> str:
        return f"chunkwise-{type(self).__name__}"

    def answer(self, task: str, messages: list[BaseMessage]) -> str:
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.answer(task_from_tags(getattr(run_manager, "tags", None)), messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def adapt_model(model: Any, protocol: str, wrap: Callable[[Any], BaseChatModel]) -> Any:
    """A spec string, a chat model or None as given; an object of an original API's model
    protocol (`protocol` names its method, e.g. "rewrite(RewriteRequest) -> str") wrapped as a
    chat model by `wrap`; anything else is a `ConfigError`."""
    if model is None or isinstance(model, str | BaseChatModel):
        return model
    method = protocol.partition("(")[0]
    if callable(getattr(model, method, None)):
        return wrap(model)
    raise ConfigError(
        "model must be a spec string, a LangChain chat model or an object with "
        f"{protocol}, not {type(model).__name__}"
    )
