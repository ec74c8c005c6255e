#!/usr/bin/env bash
# The Python extension as a user gets it: a release abi3 wheel built by
# maturin, installed into a fresh virtual environment, then pytest (engine,
# async, streaming, PostgreSQL, the fake LLM) and mypy --strict.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SPUR_PY_VENV:-target/py-venv}"
rm -rf "$VENV"
python3 -m venv "$VENV"
. "$VENV/bin/activate"
pip install -q --upgrade pip
pip install -q "maturin>=1.7,<2" pytest pytest-asyncio mypy fastapi httpx
cargo build -q -p spur-benches --bin spur-fake-llm
rm -rf target/wheels
(cd spur-py && maturin build --release --quiet -o ../target/wheels)
pip install -q target/wheels/spur-*.whl
export SPUR_FAKE_LLM="$PWD/target/debug/spur-fake-llm"
python -m pytest -q -p no:cacheprovider spur-py/tests
(cd examples/python-fastapi && python -m pytest -q -p no:cacheprovider .)
mypy --strict spur-py/tests examples/python-fastapi/app.py examples/python-fastapi/test_app.py
