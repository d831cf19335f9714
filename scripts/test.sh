#!/usr/bin/env bash
# Set up (if needed) and run every test, the slow suites included: what CI runs.
# First the fast gate (lint and the quick tests, scripts/fast_gate.sh), which
# stops the run at its first failure, then every other test (notebooks, grader,
# slow, browser), so that no test runs twice.
# Extra arguments run pytest on them instead, over every test,
# e.g. `bash scripts/test.sh -m "not notebooks"` or `bash scripts/test.sh tests/test_fetch.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"  # nbgrader calls the alembic executable
# --durations: the slowest notebooks and tests are listed at the end of every run.
status=0
if [ "$#" = 0 ]; then
  bash scripts/fast_gate.sh
  echo "==> every other test (notebooks, grader, slow, browser)"
  started=$SECONDS
  .venv/bin/python -m pytest --durations=25 -m "notebooks or grader or slow or browser" || status=$?
  echo "slow suites: $((SECONDS - started)) s, exit $status"
else
  .venv/bin/python -m pytest --durations=15 "$@" || status=$?
fi
if [ "$status" = 5 ]; then  # pytest's "no tests collected": a selection that matched nothing
  echo "no test selected by: $*"
  status=0
fi
exit "$status"
