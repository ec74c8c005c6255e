"""Spur: the embeddable AI customer-support engine, from Python.

    engine = spur.Engine()                      # in memory, offline responder, demo shop
    reply = engine.send_message("Do you ship to India?")

The engine is Rust (spur-core): the same one the Spur server runs.
"""

from ._spur import (
    AsyncEngine,
    Classification,
    ConfigError,
    ConflictError,
    Engine,
    FetchError,
    Knowledge,
    Message,
    NotFoundError,
    OpenAI,
    OpenAIEmbeddings,
    Passage,
    ProviderError,
    Reply,
    ReplyStream,
    SpurError,
    StoreError,
    ValidationError,
    __version__,
    build_prompt,
    classify,
    count_tokens,
    default_taxonomy,
    import_url,
    load_knowledge,
    trim_history,
)

__all__ = [
    "AsyncEngine",
    "Classification",
    "ConfigError",
    "ConflictError",
    "Engine",
    "FetchError",
    "Knowledge",
    "Message",
    "NotFoundError",
    "OpenAI",
    "OpenAIEmbeddings",
    "Passage",
    "ProviderError",
    "Reply",
    "ReplyStream",
    "SpurError",
    "StoreError",
    "ValidationError",
    "__version__",
    "build_prompt",
    "classify",
    "count_tokens",
    "default_taxonomy",
    "import_url",
    "load_knowledge",
    "trim_history",
]
