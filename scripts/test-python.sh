#!/usr/bin/env bash
# The Python extension as a user gets it: an abi3 wheel built by maturin,
# installed into a fresh virtual environment, then pytest (engine, async,
# streaming, PostgreSQL, the fake LLM) and mypy --strict. The wheel is built
# unoptimised (the code is the same; a release build would add ten minutes
# to CI); SPUR_PY_RELEASE=1 builds the release wheel users install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SPUR_PY_VENV:-target/py-venv}"
rm -rf "$VENV"
python3 -m venv "$VENV"
. "$VENV/bin/activate"
pip install -q --upgrade pip
pip install -q "maturin>=1.7,<2" pytest pytest-asyncio mypy fastapi httpx
# The workspace build nextest made (same packages, same features): a
# `-p` build would resolve features anew and rebuild the core.
cargo build -q --workspace --all-targets
rm -rf target/wheels
PROFILE=()
[ "${SPUR_PY_RELEASE:-0}" = 1 ] && PROFILE=(--profile release-py)
(cd spur-py && maturin build "${PROFILE[@]}" --quiet -o ../target/wheels)
pip install -q target/wheels/spur-*.whl
export SPUR_FAKE_LLM="$PWD/target/debug/spur-fake-llm"
python -m pytest -q -p no:cacheprovider spur-py/tests
(cd examples/python-fastapi && python -m pytest -q -p no:cacheprovider .)
mypy --strict spur-py/tests examples/python-fastapi/app.py examples/python-fastapi/test_app.py
