#!/usr/bin/env bash
# Set up a virtual environment with the dev, local-model, postgres, validate (torch CPU), studio,
# ray and parquet extras, then lint, type-check and run the whole test suite. The README's test
# command and CI both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# llama-cpp-python compiles from source once per machine (~8 min); pip caches the wheel.
python -m pip install --quiet -e ".[dev,local,postgres,validate,studio,ray,parquet]"

# PostgreSQL for the checkpoint/blob-store tests (needs root or a local install); CI requires it.
if bash .ci/services.sh; then
  CHUNKWISE_TEST_POSTGRES=$(cat /tmp/chunkwise-pg.url)
  export CHUNKWISE_TEST_POSTGRES
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL could not be started" >&2
  exit 1
else
  echo "PostgreSQL not started: its tests will be skipped" >&2
fi

ruff check chunkwise tests benchmarks examples
mypy

set +e
python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
