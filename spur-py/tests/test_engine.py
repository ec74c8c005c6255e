"""The blocking Engine: sessions, history, idempotency, handoff, errors, restarts, threads."""

import datetime
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import spur


def test_a_conversation_in_memory() -> None:
    engine = spur.Engine()
    first = engine.send_message("Do you ship to India?")
    assert first.reply is not None and "India" in first.reply
    assert first.status == "automated"
    assert first.used_fallback is False
    second = engine.send_message("What is your return policy?", session_id=first.session_id)
    assert second.session_id == first.session_id
    assert second.reply is not None and "14 days" in second.reply

    history = engine.history(first.session_id)
    assert [m.sender for m in history] == ["customer", "assistant", "customer", "assistant"]
    assert [m.seq for m in history] == [1, 2, 3, 4]
    created = history[0].created_at
    assert isinstance(created, datetime.datetime)
    assert created.tzinfo is not None and created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 60
    older = engine.history(first.session_id, before=3, limit=10)
    assert [m.seq for m in older] == [1, 2]


def test_idempotent_retries_are_not_stored_twice() -> None:
    engine = spur.Engine()
    key = "3f2b8c1e-5d4a-4b6f-9e7d-2c1a0b9f8e7d"
    a = engine.send_message("When is support open?", idempotency_key=key)
    b = engine.send_message("When is support open?", idempotency_key=key)
    assert a.message_id == b.message_id and a.reply == b.reply
    assert len(engine.history(a.session_id)) == 2


def test_handoff_and_close() -> None:
    engine = spur.Engine()
    r = engine.send_message("Do you ship to Europe?")
    assert engine.escalate(r.session_id) == "agent"
    held = engine.send_message("Hello?", session_id=r.session_id)
    assert held.reply is None and held.status == "agent"
    assert engine.close(r.session_id) == "closed"
    senders = [m.sender for m in engine.history(r.session_id)]
    assert "system" in senders


def test_a_customer_leaves_an_email_when_nobody_may_be_there(tmp_path: Path) -> None:
    (tmp_path / "policies.md").write_text("## Gift wrapping\nWe gift wrap any order for 3 euros.\n")
    # No hours configured: nobody can promise a time, so the address is asked for.
    engine = spur.Engine(knowledge=str(tmp_path), facts={"name": "Nordlicht"})
    r = engine.send_message("Do you offer gift wrapping?")
    engine.escalate(r.session_id)
    notice = engine.history(r.session_id)[-1]
    assert notice.sender == "system" and "email address" in notice.text, notice.text
    with pytest.raises(spur.ValidationError, match="email"):
        engine.leave_email(r.session_id, "not an address")
    said = engine.leave_email(r.session_id, " Ana@Example.com ")
    assert "ana@example.com" in said and "can't promise a time" in said, said
    assert engine.history(r.session_id)[-1].text == said


def test_every_exception() -> None:
    engine = spur.Engine(message_max_chars=10)
    with pytest.raises(spur.ValidationError, match="empty"):
        engine.send_message("   ")
    with pytest.raises(spur.ValidationError, match="limit is 10"):
        engine.send_message("x" * 11)
    with pytest.raises(spur.ValidationError):
        engine.send_message("hi", session_id="not-a-session")
    with pytest.raises(spur.NotFoundError):
        engine.send_message("hi", session_id="6f1d5a52-3a5c-4a8e-9a53-6c9b8f0d1e2f")
    with pytest.raises(spur.NotFoundError):
        engine.history("6f1d5a52-3a5c-4a8e-9a53-6c9b8f0d1e2f")
    with pytest.raises(spur.ConfigError, match="database_url"):
        spur.Engine(database_url="mysql://nope")
    with pytest.raises(spur.ConfigError, match="knowledge"):
        spur.Engine(knowledge="/no/such/dir")
    with pytest.raises(spur.StoreError):
        spur.Engine(database_url="postgres://no_such_role@127.0.0.1:5432/none")
    with pytest.raises(spur.ConfigError):
        spur.OpenAI(timeout=0)
    r = engine.send_message("hi")
    engine.close(r.session_id)
    with pytest.raises(spur.ConflictError):
        engine.close(r.session_id)
    for cls in (spur.ValidationError, spur.NotFoundError, spur.StoreError, spur.ProviderError, spur.ConfigError, spur.ConflictError):
        assert issubclass(cls, spur.SpurError)


def _restart(url: str) -> None:
    first = spur.Engine(database_url=url)
    r = first.send_message("Do you ship to India?")
    del first
    again = spur.Engine(database_url=url)
    r2 = again.send_message("How long does delivery take?", session_id=r.session_id)
    assert r2.session_id == r.session_id
    assert len(again.history(r.session_id)) == 4


def test_sessions_survive_a_restart_on_sqlite(sqlite_url: str) -> None:
    _restart(sqlite_url)


def test_sessions_survive_a_restart_on_postgres(postgres_url: str) -> None:
    _restart(postgres_url)


def test_threads_share_one_engine(sqlite_url: str) -> None:
    engine = spur.Engine(database_url=sqlite_url)

    def customer(i: int) -> int:
        r = engine.send_message(f"Do you ship to India? ({i})")
        r = engine.send_message("What is your return policy?", session_id=r.session_id)
        return len(engine.history(r.session_id))

    with ThreadPoolExecutor(max_workers=16) as pool:
        counts = list(pool.map(customer, range(64)))
    assert counts == [4] * 64


def test_a_knowledge_directory(tmp_path: Path) -> None:
    (tmp_path / "policies.md").write_text("## Gift wrapping\nWe gift wrap any order for 3 euros.\n")
    engine = spur.Engine(knowledge=str(tmp_path))
    r = engine.send_message("Do you offer gift wrapping?")
    assert r.reply is not None and "3 euros" in r.reply


def test_the_shops_facts(tmp_path: Path) -> None:
    (tmp_path / "policies.md").write_text("## Gift wrapping\nWe gift wrap any order for 3 euros.\n")
    engine = spur.Engine(
        knowledge=str(tmp_path),
        facts={"name": "Nordlicht", "time_zone": "Europe/Berlin", "hours": "Mon-Fri 08:00-17:00"},
    )
    r = engine.send_message("when is your team available?")
    assert r.reply is not None and "08:00-17:00 (Berlin time)" in r.reply
    hello = engine.send_message("hello")
    assert hello.reply is not None and "Nordlicht" in hello.reply
    with pytest.raises(spur.ConfigError):
        spur.Engine(knowledge=str(tmp_path), facts={"time_zone": "Mars/Olympus"})
    with pytest.raises(spur.ConfigError):
        spur.Engine(facts={"name": "no knowledge"})


def test_an_engine_with_an_embedding_model(tmp_path: Path, tiny_model: str) -> None:
    (tmp_path / "policies.md").write_text(
        "## Change of mind\nItems can be returned within 30 days.\n## Shipping\nWe ship parcels to Canada.\n"
    )
    engine = spur.Engine(knowledge=str(tmp_path), embedding_model=tiny_model)
    r = engine.send_message("can I return it?")
    assert r.reply is not None and "30 days" in r.reply, r.reply
    demo = spur.Engine(embedding_model=tiny_model)
    assert demo.send_message("Do you ship to India?").reply is not None
    with pytest.raises(spur.ConfigError, match="embedding_model"):
        spur.Engine(knowledge=str(tmp_path), embedding_model=str(tmp_path / "missing"))


def test_values_print_as_python_values() -> None:
    engine = spur.Engine()
    r = engine.send_message("Do you ship to India?")
    assert repr(r).startswith("Reply(reply='"), repr(r)
    assert "used_fallback=False" in repr(r)
    assert "Some(" not in repr(r)
    engine.escalate(r.session_id)
    waiting = engine.send_message("hello?", session_id=r.session_id)
    assert waiting.reply is None
    assert "reply=None" in repr(waiting), repr(waiting)
    m = engine.history(r.session_id)[0]
    assert repr(m) == "Message(seq=1, sender='customer', text='Do you ship to India?')"
    assert repr(spur.OpenAI(model="m")) == "OpenAI(model='m', base_url=None, api_key=None)"
