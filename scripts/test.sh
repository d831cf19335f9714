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
  # The slow suites run in two lanes at once. The wide lane holds the suites that keep
  # both cores busy by themselves (notebooks two at a time, grading with two jobs or two
  # Dask workers); the narrow lane, everything else, mostly one process at a time or
  # waiting on a timeout, a server or a browser: alone, it would leave a core idle.
  wide=(tests/test_grade_series.py tests/test_colab_stack.py tests/test_solution_notebooks.py
        tests/test_grading_corpus.py tests/test_nbgrader_validate.py)
  slow=(-m "notebooks or grader or slow or browser")
  ignored=()
  for file in "${wide[@]}"; do ignored+=(--ignore="$file"); done
  narrow_log=$(mktemp)
  narrow_temp=$(mktemp -d)  # its own pytest temporary folder (and no cache): nothing shared between the lanes
  echo "==> every other test (notebooks, grader, slow, browser): the wide lane here, the narrow lane's report after it"
  started=$SECONDS
  .venv/bin/python -m pytest -p no:cacheprovider --basetemp="$narrow_temp/t" --durations=15 \
    "${slow[@]}" "${ignored[@]}" >"$narrow_log" 2>&1 &
  narrow=$!
  # A background job ignores Ctrl-C: it stops with the run.
  trap 'kill "$narrow" 2>/dev/null; rm -rf "$narrow_log" "$narrow_temp"' EXIT
  trap 'exit 130' INT TERM
  wide_status=0
  .venv/bin/python -m pytest --durations=15 "${slow[@]}" "${wide[@]}" || wide_status=$?
  echo "wide lane: $((SECONDS - started)) s, exit $wide_status"
  narrow_status=0
  wait "$narrow" || narrow_status=$?
  echo "==> the narrow lane's report (exit $narrow_status)"
  cat "$narrow_log"
  [ "$wide_status" = 0 ] || status=$wide_status
  [ "$narrow_status" = 0 ] || status=$narrow_status
  echo "slow suites: $((SECONDS - started)) s, exit $status"
else
  .venv/bin/python -m pytest --durations=15 "$@" || status=$?
fi
if [ "$status" = 5 ]; then  # pytest's "no tests collected": a selection that matched nothing
  echo "no test selected by: $*"
  status=0
fi
exit "$status"
