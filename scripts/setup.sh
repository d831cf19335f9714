#!/usr/bin/env bash
# Set up the course on this machine: a virtual environment in .venv with the
# pinned packages of requirements.lock, the helper package, and MovieLens 100K
# in data/. Safe to run again: it only does what is missing.
#
# Needs Python 3.11 (PYTHON=/path/to/python3.11 to choose one) and pip.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "error: the course needs Python 3.11; $PYTHON is $("$PYTHON" --version 2>&1)." >&2
  echo "hint: install Python 3.11 and run again with PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating the virtual environment .venv"
  "$PYTHON" -m venv .venv
fi
# uv installs the ~2 GB of TensorFlow and Jupyter in seconds rather than minutes;
# compiling the bytecode at install time saves every first import (and the
# read-only grading sandbox) from doing it again.
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip --upgrade >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
# Reinstall only when the lock changed since the last install.
stamp=.venv/.installed-lock
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  echo "==> installing the pinned packages (requirements.lock)"
  VIRTUAL_ENV=.venv .venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -r requirements.lock
  VIRTUAL_ENV=.venv .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
  # The charts' JavaScript (built offline, ~5 s) once for every kernel of the
  # environment, graded ones included (recsys_course/notebook.py).
  .venv/bin/python -c "from recsys_course.notebook import environment_chart_folder as f, save_chart_library as s; s(f())"
  cp requirements.lock "$stamp"
fi

# MathJax for the grader's feedback pages (grader/mathjax_offline.py): from the
# npm registry, checked against its pinned sha512; a quick check once installed.
# Only where the grader is (the student edition has no grader/).
if [ -f grader/mathjax_offline.py ]; then
  .venv/bin/python -m grader.mathjax_offline
fi

echo "==> MovieLens 100K"
.venv/bin/python data_scripts/fetch_movielens.py
