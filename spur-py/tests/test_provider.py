"""The OpenAI-compatible provider against a local fake server."""

import time

import pytest

import spur


def test_an_answering_llm(fake_llm: str) -> None:
    engine = spur.Engine(llm=spur.OpenAI(base_url=fake_llm, api_key="sk-test", model="good"))
    r = engine.send_message("Where do you ship?")
    assert r.reply == "We ship to the USA, India and Europe."
    assert r.used_fallback is False


@pytest.mark.parametrize("model", ["slow", "broken", "rate-limited", "malformed"])
def test_failures_fall_back_in_time_and_keep_the_message(fake_llm: str, model: str) -> None:
    llm = spur.OpenAI(base_url=fake_llm, api_key="sk-test", model=model, timeout=1.0, max_retries=1)
    engine = spur.Engine(llm=llm, llm_timeout=1.0)
    started = time.monotonic()
    r = engine.send_message("Where is my parcel?")
    assert time.monotonic() - started < 2.5
    assert r.used_fallback is True
    assert r.reply
    history = engine.history(r.session_id)
    assert history[0].text == "Where is my parcel?"
    assert history[1].used_fallback is True


def test_the_key_never_shows() -> None:
    llm = spur.OpenAI(api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(llm)
