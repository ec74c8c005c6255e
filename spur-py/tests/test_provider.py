"""The OpenAI-compatible provider against a local fake server."""

import time
from pathlib import Path

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


def test_an_embedding_model_on_the_server(fake_llm: str, tmp_path: Path) -> None:
    (tmp_path / "policies.md").write_text(
        "## Change of mind\nReturns of unworn items are accepted within 30 days.\n\n"
        "## Parcels abroad\nParcels leave within two days.\n"
    )
    embeddings = spur.OpenAIEmbeddings(base_url=fake_llm, api_key="sk-secret-9", dims=16)
    assert "sk-secret-9" not in repr(embeddings)
    kb = spur.load_knowledge(str(tmp_path), embedding_model=embeddings)
    best = kb.search("I regret it, can I get a refund?", k=1)[0]
    assert best.title == "Change of mind"
    assert best.similarity is not None and best.similarity > 0.5
    engine = spur.Engine(knowledge=str(tmp_path), embedding_model=embeddings)
    assert "text-embedding-3-small" in repr(engine), "the engine's knowledge is embedded by the server"
    assert "30 days" in (engine.send_message("how many days do I have for returns?").reply or "")
    broken = spur.OpenAIEmbeddings("broken", base_url=fake_llm, max_retries=0)
    with pytest.raises(spur.ConfigError, match="embedding"):
        spur.load_knowledge(str(tmp_path), embedding_model=broken)


def test_a_server_models_vectors_are_kept_in_the_database(
    fake_llm: str, tmp_path: Path, sqlite_url: str
) -> None:
    import subprocess
    import sys

    # The knowledge apart from the database file and its WAL companions.
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "policies.md").write_text(
        "## Change of mind\nReturns of unworn items are accepted within 30 days.\n"
    )
    embeddings = spur.OpenAIEmbeddings(base_url=fake_llm, api_key="sk-test", dims=16)
    spur.Engine(sqlite_url, knowledge=str(kb), embedding_model=embeddings)
    # Counted from another process: a second SQLite library in this one
    # (Python's) would release the engine's file locks when it closes and
    # can corrupt the database ("database disk image is malformed").
    count = (
        "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
        "\"SELECT count(*) FROM embedding_vectors WHERE model = 'text-embedding-3-small'"
        " AND dims = 16\").fetchone()[0])"
    )
    path = sqlite_url.removeprefix("sqlite://")
    rows = int(subprocess.run([sys.executable, "-c", count, path], capture_output=True, text=True, check=True).stdout)
    assert rows >= 2, "the section and its sentence"
    # Restarted while the endpoint is unreachable: the knowledge loads from
    # the database (without it, this raises ConfigError).
    down = spur.OpenAIEmbeddings(base_url="http://127.0.0.1:9/v1", dims=16, max_retries=0, timeout=2.0)
    engine = spur.Engine(sqlite_url, knowledge=str(kb), embedding_model=down)
    assert "30 days" in (engine.send_message("how long do I have for returns?").reply or "")
