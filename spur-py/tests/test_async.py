"""AsyncEngine: awaitables on the extension's runtime, streaming, concurrency."""

import asyncio

import spur


async def test_send_and_history() -> None:
    engine = spur.AsyncEngine()
    r = await engine.send_message("Do you ship to India?")
    assert r.reply is not None and "India" in r.reply
    history = await engine.history(r.session_id)
    assert [m.sender for m in history] == ["customer", "assistant"]
    assert await engine.escalate(r.session_id) == "agent"
    assert "ana@example.com" in await engine.leave_email(r.session_id, "ana@example.com")
    assert await engine.close(r.session_id) == "closed"


async def test_stream_yields_the_stored_reply() -> None:
    engine = spur.AsyncEngine()
    stream = engine.stream("What is your return policy?")
    deltas = [d async for d in stream]
    assert deltas, "at least one delta"
    outcome = stream.reply
    assert outcome is not None
    assert "".join(deltas) == outcome.reply
    stored = await engine.history(outcome.session_id)
    assert stored[-1].text == outcome.reply


async def test_stream_from_an_llm_streams_in_pieces(fake_llm: str) -> None:
    engine = spur.AsyncEngine(llm=spur.OpenAI(base_url=fake_llm, api_key="sk-test", model="good"))
    stream = engine.stream("Where do you ship?")
    deltas = [d async for d in stream]
    # Released a sentence at a time, after the grounding guard checked it.
    assert deltas and "".join(deltas) == "We ship to the USA, India and Europe."
    assert stream.reply is not None and stream.reply.used_fallback is False


async def test_a_hundred_coroutines_at_once() -> None:
    engine = spur.AsyncEngine()
    replies = await asyncio.gather(*(engine.send_message(f"Do you ship to Europe? #{i}") for i in range(100)))
    assert len({r.session_id for r in replies}) == 100
    assert all(r.reply for r in replies)


async def test_the_event_loop_keeps_running_during_a_slow_llm(fake_llm: str) -> None:
    engine = spur.AsyncEngine(
        llm=spur.OpenAI(base_url=fake_llm, api_key="sk-test", model="slow", max_retries=0),
        llm_timeout=1.0,
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    r = await engine.send_message("Where is my parcel?")
    task.cancel()
    assert r.used_fallback is True
    # About 100 ticks in the 1 s the LLM took: the loop was never blocked.
    assert ticks > 50, ticks
