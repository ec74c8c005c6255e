"""Type stubs for the native module spur._spur."""

import datetime
import os
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypedDict,
    TypeVar,
    Union,
    overload,
)

__version__: str

class SpurError(Exception): ...
class ValidationError(SpurError): ...
class NotFoundError(SpurError): ...
class StoreError(SpurError): ...
class ProviderError(SpurError): ...
class ConfigError(SpurError): ...
class ConflictError(SpurError): ...
class FetchError(SpurError): ...

class ImportedFile(TypedDict):
    name: str
    url: str
    sections: int

class SkippedUrl(TypedDict):
    url: str
    reason: str

class WebImport(TypedDict):
    files: List[ImportedFile]
    skipped: List[SkippedUrl]

class Reply:
    @property
    def reply(self) -> Optional[str]: ...
    @property
    def session_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def reply_id(self) -> Optional[str]:
        """The reply's id (what ``rate_reply`` rates); None with no reply."""
    @property
    def used_fallback(self) -> bool: ...
    @property
    def confirm(self) -> bool:
        """The reply asks to confirm a change (a ``writes=True`` tool); "yes" runs it."""

class Message:
    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def sender(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def used_fallback(self) -> bool: ...
    @property
    def created_at(self) -> datetime.datetime: ...

class Classification:
    @property
    def category(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def source(self) -> str: ...

class Passage:
    @property
    def article_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def confidence(self) -> float: ...
    @property
    def excerpt(self) -> str: ...
    @property
    def notes(self) -> List[str]: ...
    @property
    def similarity(self) -> Optional[float]: ...
    @property
    def focus(self) -> Optional[float]: ...

class Knowledge:
    @staticmethod
    def demo() -> Knowledge: ...
    def search(self, query: str, k: int = 3) -> List[Passage]: ...
    def __len__(self) -> int: ...

class OpenAI:
    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 15.0,
        max_output_tokens: int = 250,
        max_retries: int = 2,
    ) -> None: ...
    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> Optional[str]: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_output_tokens(self) -> int: ...
    @property
    def max_retries(self) -> int: ...

class OpenAIEmbeddings:
    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        dims: int = 256,
        timeout: float = 15.0,
        max_retries: int = 2,
    ) -> None: ...
    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> Optional[str]: ...
    @property
    def dims(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_retries(self) -> int: ...

_F = TypeVar("_F", bound=Callable[..., Any])

class Engine:
    def __init__(
        self,
        database_url: Optional[str] = None,
        knowledge: Optional[str] = None,
        llm: Optional[OpenAI] = None,
        *,
        facts: Optional[dict[str, object]] = None,
        embedding_model: Union[str, OpenAIEmbeddings, None] = None,
        llm_timeout: Optional[float] = None,
        history_limit: Optional[int] = None,
        max_input_tokens: Optional[int] = None,
        message_max_chars: Optional[int] = None,
    ) -> None: ...
    def send_message(
        self,
        text: str,
        session_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        *,
        customer: Optional[str] = None,
    ) -> Reply:
        """`customer`: the id of a customer your backend verified; tools taking
        a `customer` parameter are offered only with it."""
    @overload
    def tool(self, func: _F) -> _F: ...
    @overload
    def tool(
        self,
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        timeout: Optional[float] = None,
        writes: bool = False,
    ) -> Callable[[_F], _F]: ...
    def history(self, session_id: str, before: Optional[int] = None, limit: int = 50) -> List[Message]: ...
    def escalate(self, session_id: str) -> str: ...
    def leave_email(self, session_id: str, email: str) -> str:
        """Stores where the customer wants the answer; returns the notice saying when to expect it."""
    def close(self, session_id: str) -> str: ...
    def rate_reply(
        self, session_id: str, message_id: str, rating: Literal["up", "down"], comment: Optional[str] = None
    ) -> None:
        """A thumbs up or down on an answer of the session's conversation; rating again replaces it."""
    def rate_conversation(self, session_id: str, score: int, comment: Optional[str] = None) -> None:
        """The conversation's score, 1 to 5 (once someone answered); scoring again replaces it."""
    def analytics(
        self,
        from_day: Optional[str] = None,
        to_day: Optional[str] = None,
        *,
        channel: Optional[str] = None,
        quiet_hours: float = 24.0,
        prices: Optional[Tuple[float, float]] = None,
    ) -> Dict[str, Any]:
        """Resolution, handoffs, feedback, response times and cost per day (``GET /v1/admin/analytics``'s JSON)."""

class ReplyStream:
    def __aiter__(self) -> ReplyStream: ...
    async def __anext__(self) -> str: ...
    @property
    def reply(self) -> Optional[Reply]: ...

class AsyncEngine:
    def __init__(
        self,
        database_url: Optional[str] = None,
        knowledge: Optional[str] = None,
        llm: Optional[OpenAI] = None,
        *,
        facts: Optional[dict[str, object]] = None,
        embedding_model: Union[str, OpenAIEmbeddings, None] = None,
        llm_timeout: Optional[float] = None,
        history_limit: Optional[int] = None,
        max_input_tokens: Optional[int] = None,
        message_max_chars: Optional[int] = None,
    ) -> None: ...
    async def send_message(
        self,
        text: str,
        session_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        *,
        customer: Optional[str] = None,
    ) -> Reply: ...
    @overload
    def tool(self, func: _F) -> _F: ...
    @overload
    def tool(
        self,
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        timeout: Optional[float] = None,
        writes: bool = False,
    ) -> Callable[[_F], _F]: ...
    async def history(self, session_id: str, before: Optional[int] = None, limit: int = 50) -> List[Message]: ...
    async def escalate(self, session_id: str) -> str: ...
    async def leave_email(self, session_id: str, email: str) -> str: ...
    async def close(self, session_id: str) -> str: ...
    async def rate_reply(
        self, session_id: str, message_id: str, rating: Literal["up", "down"], comment: Optional[str] = None
    ) -> None: ...
    async def rate_conversation(self, session_id: str, score: int, comment: Optional[str] = None) -> None: ...
    async def analytics(
        self,
        from_day: Optional[str] = None,
        to_day: Optional[str] = None,
        *,
        channel: Optional[str] = None,
        quiet_hours: float = 24.0,
        prices: Optional[Tuple[float, float]] = None,
    ) -> Dict[str, Any]: ...
    def stream(
        self,
        text: str,
        session_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        *,
        customer: Optional[str] = None,
    ) -> ReplyStream: ...

_M = TypeVar("_M", bound=Mapping[str, object])

def _register_tool(
    engine: Union[Engine, AsyncEngine],
    name: str,
    description: str,
    parameters: str,
    call: Callable[[str, Optional[str], Optional[str]], str],
    requires_customer: bool,
    timeout: Optional[float],
    writes: bool,
) -> None: ...
def count_tokens(text: str, model: str = "gpt-4o-mini") -> int: ...
def classify(
    text: str, categories: Optional[Union[List[str], Dict[str, List[str]]]] = None
) -> Classification: ...
def load_knowledge(path: str, embedding_model: Union[str, OpenAIEmbeddings, None] = None) -> Knowledge: ...
def import_url(
    url: str,
    directory: Union[str, "os.PathLike[str]"],
    *,
    max_pages: int = 50,
    allow_private: bool = False,
) -> WebImport: ...
def default_taxonomy() -> Dict[str, Any]: ...
def trim_history(
    history: Sequence[_M], max_messages: int = 20, max_tokens: int = 4000, model: str = "gpt-4o-mini"
) -> List[_M]: ...
def build_prompt(
    message: str,
    history: Optional[Sequence[Mapping[str, object]]] = None,
    knowledge: Optional[Knowledge] = None,
    *,
    passages: Optional[Sequence[Union[Passage, Mapping[str, str]]]] = None,
    max_messages: int = 20,
    max_tokens: int = 4000,
    model: str = "gpt-4o-mini",
    k: int = 3,
) -> List[Dict[str, str]]: ...
