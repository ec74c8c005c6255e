"""Python functions as tools: `@engine.tool`, sync and async, schemas from
type hints, exceptions as tool errors, tools for a verified customer.

The fake LLM's `tool-caller` model calls the first tool offered (every
required argument "1042") and then answers "The tool said: <result>"."""

import asyncio
import json
import threading
from typing import Literal, Optional

import pytest

import spur
from spur._tools import describe


def llm(fake_llm: str) -> spur.OpenAI:
    return spur.OpenAI(base_url=fake_llm, api_key="sk-test", model="tool-caller")


def test_a_decorated_function_answers_the_model(fake_llm: str) -> None:
    engine = spur.Engine(llm=llm(fake_llm))
    calls: list[tuple[str, bool]] = []

    @engine.tool
    def lookup_order(order_number: str) -> dict[str, str]:
        """Where an order is.

        :param order_number: as printed on the receipt
        """
        calls.append((order_number, threading.current_thread() is threading.main_thread()))
        return {"order": order_number, "status": "shipped"}

    r = engine.send_message("Where is order 1042?")
    assert r.reply == 'The tool said: {"order":"1042","status":"shipped"}'
    assert calls == [("1042", False)], "called once, off the caller's thread"
    assert lookup_order("7") == {"order": "7", "status": "shipped"}, "still the plain function"


def test_an_exception_is_told_to_the_model_not_the_customer(fake_llm: str) -> None:
    engine = spur.Engine(llm=llm(fake_llm))

    @engine.tool(name="lookup_order", description="Where an order is.")
    def broken(order_number: str) -> None:
        raise LookupError(f"no order {order_number}")

    r = engine.send_message("Where is order 1042?")
    assert r.used_fallback is False and r.reply is not None
    said = json.loads(r.reply.removeprefix("The tool said: "))
    assert said == {"error": "failed", "message": "LookupError: no order 1042"}


def test_a_tool_for_the_customer_gets_the_verified_one(fake_llm: str) -> None:
    engine = spur.Engine(llm=llm(fake_llm))

    @engine.tool
    def my_orders(customer: str) -> dict[str, object]:
        """The customer's orders."""
        return {"customer": customer, "orders": 2}

    anonymous = engine.send_message("How many orders do I have?")
    assert anonymous.reply == "The tool said: How many orders do I have?", "not offered"
    mine = engine.send_message("How many orders do I have?", customer="cus_7")
    assert mine.reply == 'The tool said: {"customer":"cus_7","orders":2}'


def test_a_change_waits_for_the_customers_yes_and_runs_once(fake_llm: str) -> None:
    engine = spur.Engine(llm=llm(fake_llm))
    keys: list[Optional[str]] = []

    @engine.tool(writes=True)
    def cancel_order(order_number: str, customer: str, idempotency_key: Optional[str] = None) -> dict[str, str]:
        """Cancels an order that has not shipped."""
        keys.append(idempotency_key)
        return {"order": order_number, "status": "cancelled", "for": customer}

    asked = engine.send_message("Please cancel order 1042", customer="cus_7")
    assert asked.confirm is True
    assert asked.reply is not None and "Please confirm: cancel order (order number: 1042)" in asked.reply
    assert keys == [], "nothing done before the yes"
    done = engine.send_message("yes", asked.session_id, customer="cus_7")
    assert done.confirm is False
    assert done.reply == 'The tool said: {"for":"cus_7","order":"1042","status":"cancelled"}'
    again = engine.send_message("yes", asked.session_id, customer="cus_7")
    assert again.reply is not None
    assert len(keys) == 1 and keys[0] is not None and len(keys[0]) >= 32, keys


async def test_an_async_tool_on_the_async_engine(fake_llm: str) -> None:
    engine = spur.AsyncEngine(llm=llm(fake_llm))

    @engine.tool
    async def lookup_order(order_number: str) -> dict[str, str]:
        """Where an order is."""
        await asyncio.sleep(0.01)
        return {"order": order_number, "status": "packed"}

    r = await engine.send_message("Where is order 1042?")
    assert r.reply == 'The tool said: {"order":"1042","status":"packed"}'
    stream = engine.stream("And order 1042 now?")
    deltas = [d async for d in stream]
    assert "".join(deltas) == 'The tool said: {"order":"1042","status":"packed"}'


def test_schemas_come_from_type_hints_and_docstrings() -> None:
    def search(
        query: str,
        limit: int = 5,
        sort: Literal["new", "old"] = "new",
        tags: Optional[list[str]] = None,
        customer: Optional[str] = None,
    ) -> list[str]:
        """Searches the catalogue.

        Args:
            query: words to look for
            limit (int): at most this many
        """
        return []

    name, description, parameters, _call, for_customer = describe(search, None, None)
    schema = json.loads(parameters)
    assert (name, description, for_customer) == ("search", "Searches the catalogue.", True)
    assert schema["required"] == ["query"]
    assert schema["properties"] == {
        "query": {"type": "string", "description": "words to look for"},
        "limit": {"type": "integer", "description": "at most this many"},
        "sort": {"enum": ["new", "old"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    }
    assert schema["additionalProperties"] is False


def test_bad_tools_are_refused_when_registered() -> None:
    engine = spur.Engine()

    def undocumented(x: str) -> str:
        return x

    with pytest.raises(ValueError):
        engine.tool(undocumented)

    def star(*args: str) -> str:
        """Takes anything."""
        return ""

    with pytest.raises(TypeError):
        engine.tool(star)

    @engine.tool
    def twice(x: str) -> str:
        """Once."""
        return x

    with pytest.raises(spur.ConfigError):
        engine.tool(name="twice", description="Again.")(twice)
