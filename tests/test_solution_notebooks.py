"""Every solution notebook runs end to end on the real data, under nbval, in the course's environment.

The notebooks assert their own key numbers (guarded by ``num_users == 943``:
MovieLens 100K itself), so a run that finishes is a run whose numbers hold.
Each notebook runs in a pytest process of its own, two at a time
(:mod:`nbval_runner`): a notebook's kernel keeps about one core busy. To run
one notebook cell by cell while working on it: ``pytest solutions/NN_name``
(nbval makes a test of each cell).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nbval_runner import REPO, report, run_all

WORKERS = 2  # the CI machine's cores
NOTEBOOK_TIMEOUT = 600
# Seconds of each notebook under nbval alone (CI, 2 cores): only the order of the jobs depends on
# them (the slowest first, so that the workers finish together); a notebook not listed goes first.
MEASURED_SECONDS = {
    "09_keras_matrix_factorization": 81, "11_neighbourhoods_and_spark": 64, "10_two_towers": 40,
    "06_regularization": 48, "07_softmax_model": 35, "08_evaluating_recommenders": 33,
    "05_inspecting_embeddings": 30, "04_matrix_factorization": 25, "03_measuring_error": 16,
    "01_exploring_movielens": 12, "02_sparse_rating_matrix": 11,
}


@pytest.mark.slow
@pytest.mark.notebooks
def test_solution_notebooks_run_end_to_end(movielens_dir: Path) -> None:
    notebooks = sorted((REPO / "solutions").glob("*/*.ipynb"))
    assert notebooks, "no solution notebooks found"
    env = {**os.environ, "RECSYS_COURSE_DATA": str(movielens_dir.parent)}
    results = run_all(Path(sys.executable), notebooks, env, workers=WORKERS, timeout=NOTEBOOK_TIMEOUT,
                      measured=MEASURED_SECONDS)
    failures = report(results, "in the course's environment")
    assert not failures, "\n\n".join(failures)
