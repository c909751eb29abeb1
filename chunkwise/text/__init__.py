"""Pure-text layer: loading documents, counting tokens, and cutting long texts into spans.

Nothing here imports LangChain or LangGraph, so it can be used and tested on its own.
"""

from chunkwise.text.headings import Heading
from chunkwise.text.loaders import (
    SUPPORTED_EXTENSIONS,
    FolderPaperSource,
    LoadedDocument,
    PaperSource,
    load_document,
)
from chunkwise.text.paper_split import split_paper
from chunkwise.text.sections import Span
from chunkwise.text.tokens import (
    TiktokenTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    count_tokens,
    default_tokenizer,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "FolderPaperSource",
    "Heading",
    "LoadedDocument",
    "PaperSource",
    "Span",
    "TiktokenTokenizer",
    "Tokenizer",
    "WhitespaceTokenizer",
    "count_tokens",
    "default_tokenizer",
    "load_document",
    "split_paper",
]
