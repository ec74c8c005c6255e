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
