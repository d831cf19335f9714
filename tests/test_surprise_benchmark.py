"""Surprise on the course's frames (recsys_course.surprise_benchmark): no download, the published table beside."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys_course import surprise_benchmark as sb
from recsys_course.spark_als import synthetic_ratings
from recsys_course.splits import split_dataframe


@pytest.fixture(scope="module")
def ratings():
    return synthetic_ratings(3_000, num_users=120, num_movies=60, seed=2)


def test_dataset_is_built_from_the_frame(ratings):
    trainset = sb.surprise_dataset(ratings).build_full_trainset()
    assert trainset.n_ratings == len(ratings)
    assert trainset.n_users == ratings["user_id"].nunique() and trainset.rating_scale == (1.0, 5.0)


def test_cross_validation_table(ratings):
    table = sb.cross_validate_table(ratings, ["BaselineOnly", "SVD", "NormalPredictor"], folds=3)
    assert list(table.index) == ["BaselineOnly", "SVD", "NormalPredictor"]
    assert table.loc["SVD", "published_rmse"] == 0.934 and math.isnan(table.loc["NormalPredictor", "published_rmse"])
    assert (table["fit_seconds"] >= 0).all() and (table["total_seconds"] > 0).all()
    # The planted structure: biases beat random predictions by far.
    assert table.loc["BaselineOnly", "rmse"] < table.loc["NormalPredictor", "rmse"] - 0.2
    again = sb.cross_validate_table(ratings, ["SVD"], folds=3)
    assert again.loc["SVD", "rmse"] == pytest.approx(table.loc["SVD", "rmse"])  # seeded folds and model


def test_rmse_on_split_handles_unseen_users(ratings):
    train, test = split_dataframe(ratings, seed=1)
    test = test.copy()
    test.loc[test.index[0], "user_id"] = 10_000  # nobody in training
    result = sb.rmse_on_split(sb.make_algorithm("BaselineOnly"), train, test)
    assert len(result["predictions"]) == len(test) and np.isfinite(result["predictions"]).all()
    assert 0.3 < result["rmse"] < 1.5


# A process that dies without running its atexit hooks, as a Jupyter kernel does at shutdown when a child
# process (loky's resource tracker) ignores its signal: whatever joblib left registered, the tracker reports.
_DIES_AFTER_CROSS_VALIDATION = """
import os
from recsys_course import surprise_benchmark as sb
from recsys_course.spark_als import synthetic_ratings

ratings = synthetic_ratings(600, num_users=40, num_movies=30, seed=2)
sb.cross_validate_table(ratings, ["BaselineOnly", "SVD"], folds=2, n_jobs=2)  # the second call reused the workers
os._exit(0)
"""


@pytest.mark.slow  # a subprocess with two joblib workers: about 5 s
def test_parallel_cross_validation_leaves_nothing_for_the_resource_tracker():
    """n_jobs=2, then death without atexit: loky's tracker has no leaked folder (nor semaphore) to report."""
    done = subprocess.run([sys.executable, "-c", _DIES_AFTER_CROSS_VALIDATION], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    # The tracker writes to the stderr it shares with the process: read to its end (it exits when the pipe closes).
    assert "leaked" not in done.stderr and "Warning" not in done.stderr, done.stderr[-3000:]
