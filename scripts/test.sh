#!/usr/bin/env bash
# Set up (if needed) and run every test, the slow suites included.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not notebooks"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"  # nbgrader calls the alembic executable
# --durations: the slowest notebooks and tests are listed at the end of every run.
exec .venv/bin/python -m pytest --durations=15 "$@"
