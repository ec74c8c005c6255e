"""Shared fixtures: the fake OpenAI-compatible server and fresh PostgreSQL databases."""

import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[str]:
    """The `spur-fake-llm` binary on a free port; yields its /v1 base URL.

    The model name picks its behaviour: `slow`, `broken` (500), `rate-limited`,
    `malformed`, anything else answers at once."""
    binary = os.environ.get("SPUR_FAKE_LLM", str(ROOT / "target/debug/spur-fake-llm"))
    proc = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), url
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def postgres_url() -> str:
    """A fresh database on the real PostgreSQL (required: fails, never skips)."""
    admin = os.environ.get("SPUR_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"spur_py_{uuid.uuid4().hex}"
    subprocess.run(["psql", admin, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return admin.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'spur.db'}"


@pytest.fixture
def tiny_model(tmp_path: Path) -> str:
    """A three-topic static embedding model in the real model2vec format
    (returns, shipping, payment): words of a topic point the same way."""
    import json
    import struct

    topics = [["return", "returns", "refund", "regret"], ["ship", "shipping", "parcel"], ["pay", "card"]]
    vocab: dict[str, int] = {"[UNK]": 0}
    rows = [[0.0, 0.0, 0.0]]
    for topic, words in enumerate(topics):
        for word in words:
            vocab[word] = len(rows)
            rows.append([1.0 if i == topic else 0.0 for i in range(3)])
    model = tmp_path / "model"
    model.mkdir()
    tokenizer: dict[str, object] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    }
    (model / "tokenizer.json").write_text(json.dumps(tokenizer))
    data = b"".join(struct.pack("<f", x) for row in rows for x in row)
    header = json.dumps(
        {"embeddings": {"dtype": "F32", "shape": [len(rows), 3], "data_offsets": [0, len(data)]}}
    )
    header += " " * (-len(header) % 8)
    (model / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + data)
    (model / "config.json").write_text(json.dumps({"model_type": "model2vec", "normalize": True}))
    return str(model)
