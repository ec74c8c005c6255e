"""Python functions as tools: a JSON Schema from the type hints and the
docstring, and the wrapper the engine calls (JSON in, JSON out)."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import types
import typing
from typing import Any, Callable

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
#: `X | Y` (Python 3.10+); `typing.Union` covers 3.9.
_UNIONS = tuple(u for u in (typing.Union, getattr(types, "UnionType", None)) if u is not None)

#: A parameter of this name receives the verified customer's id (never the
#: model's words), and makes the tool one that acts for a customer.
CUSTOMER = "customer"
#: A parameter of this name receives a confirmed action's idempotency key
#: (the same on every try of it; ``None`` for other calls).
IDEMPOTENCY_KEY = "idempotency_key"


def schema_of(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of one annotated type."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        # `list[X]`, `tuple[X, ...]`: items of X (a mixed tuple reads as its first type).
        items = args[0] if args else None
        return {"type": "array", **({"items": schema_of(items)} if items is not None else {})}
    if annotation is dict or origin is dict:
        return {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in _UNIONS:
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            return schema_of(kinds[0])
        return {"anyOf": [schema_of(a) for a in kinds]}
    raise TypeError(f"no JSON Schema for the type {annotation!r}")


def _optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in _UNIONS and type(None) in typing.get_args(annotation)


def _argument_docs(doc: str) -> dict[str, str]:
    """Per-argument text from reST (`:param x: text`) or Google (`Args:`) docstrings."""
    found = {m[1]: m[2].strip() for m in re.finditer(r"^\s*:param\s+(?:\w+\s+)?(\w+):\s*(.+)$", doc, re.M)}
    google = re.search(r"^\s*(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.+\n?)+)", doc, re.M)
    if google:
        for m in re.finditer(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$", google[1], re.M):
            found.setdefault(m[1], m[2].strip())
    return found


def describe(func: Callable[..., Any], name: str | None, description: str | None):
    """(name, description, parameters as JSON, the wrapper, whether it acts for a customer)."""
    doc = inspect.getdoc(func) or ""
    summary = doc.split("\n\n", 1)[0].strip()
    description = description or summary
    if not description:
        raise ValueError(f"the tool {func.__name__} needs a description: a docstring or description=")
    hints = typing.get_type_hints(func)
    docs = _argument_docs(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(func).parameters.values():
        if parameter.name in (CUSTOMER, IDEMPOTENCY_KEY):
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"the tool {func.__name__} takes *args or **kwargs: name its arguments")
        annotation = hints.get(parameter.name, inspect.Parameter.empty)
        schema = schema_of(annotation)
        if parameter.name in docs:
            schema["description"] = docs[parameter.name]
        properties[parameter.name] = schema
        if parameter.default is inspect.Parameter.empty and not _optional(annotation):
            required.append(parameter.name)
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    takes_customer = CUSTOMER in inspect.signature(func).parameters
    takes_key = IDEMPOTENCY_KEY in inspect.signature(func).parameters

    def call(arguments: str, customer: str | None, idempotency_key: str | None) -> str:
        kwargs = json.loads(arguments)
        if takes_customer:
            kwargs[CUSTOMER] = customer
        if takes_key:
            kwargs[IDEMPOTENCY_KEY] = idempotency_key
        result = func(**kwargs)
        if inspect.isawaitable(result):
            # The engine calls tools on a worker thread: a coroutine runs on a loop of its own there.
            result = asyncio.run(_awaited(result))
        return json.dumps(result, default=str)

    return name or func.__name__, description, json.dumps(parameters), call, takes_customer


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def register(
    engine: Any,
    func: Callable[..., Any] | None,
    name: str | None,
    description: str | None,
    timeout: float | None,
    writes: bool,
):
    """`@engine.tool` and `@engine.tool(name=..., description=..., timeout=..., writes=...)`.

    ``writes=True``: the tool changes something; each call waits for the
    customer's yes in the chat and may take an ``idempotency_key`` argument.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        from spur._spur import _register_tool

        _register_tool(engine, *describe(f, name, description), timeout, writes)
        return f

    return decorate if func is None else decorate(func)
