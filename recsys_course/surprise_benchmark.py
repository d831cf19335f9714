"""The neighbourhood and factorization families from a well-known library, Surprise (notebook 11).

>>> table = cross_validate_table(ratings, ["KNNBaseline", "SVD"], folds=5)
>>> rmse_on_split(make_algorithm("SVD"), train, test)

Surprise (``scikit-surprise``) is built from the course's own frame
(:func:`surprise_dataset`): nothing is downloaded (Surprise's
``Dataset.load_builtin`` would fetch MovieLens itself). Its documentation
publishes a table of 5-fold cross-validated errors on MovieLens 100K with
default settings (:data:`PUBLISHED_ML100K`), which the notebook puts beside
the errors measured here.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

# Surprise's documentation and README, "Benchmarks", MovieLens 100K, 5-fold
# cross-validation, default parameters: RMSE, MAE and the time of the whole
# cross-validation on the author's laptop (an Intel i5), in seconds.
PUBLISHED_ML100K = {
    "SVD": {"published_rmse": 0.934, "published_mae": 0.737, "published_seconds": 6},
    "SVDpp": {"published_rmse": 0.919, "published_mae": 0.721, "published_seconds": 82},
    "KNNBaseline": {"published_rmse": 0.931, "published_mae": 0.733, "published_seconds": 13},
    "KNNBasic": {"published_rmse": 0.980, "published_mae": 0.774, "published_seconds": 8},
    "BaselineOnly": {"published_rmse": 0.944, "published_mae": 0.748, "published_seconds": 2},
}
NOT_PUBLISHED = {"published_rmse": np.nan, "published_mae": np.nan, "published_seconds": np.nan}


def surprise_dataset(ratings: pd.DataFrame):
    """A ``surprise.Dataset`` of the course's ratings frame (``user_id``, ``movie_id``, ``rating``)."""
    from surprise import Dataset, Reader

    low, high = float(ratings["rating"].min()), float(ratings["rating"].max())
    frame = ratings[["user_id", "movie_id", "rating"]].astype({"rating": np.float64})
    return Dataset.load_from_df(frame, Reader(rating_scale=(min(low, 1.0), max(high, 5.0))))


def make_algorithm(name: str, seed: int = 0, **options):
    """A Surprise algorithm by name, with its documented defaults (seeded where it draws at random)."""
    import surprise

    cls = getattr(surprise, name)
    if name in ("SVD", "SVDpp", "NMF"):
        options.setdefault("random_state", seed)
    if name.startswith("KNN") or name == "BaselineOnly":
        options.setdefault("verbose", False)
    return cls(**options)


def cross_validate_table(ratings: pd.DataFrame, names=("KNNBaseline", "SVD"), folds: int = 5,
                         seed: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """Cross-validated RMSE, MAE and times of each algorithm, beside Surprise's published figures.

    One row per algorithm: ``rmse``, ``mae`` (means over the folds),
    ``fit_seconds``, ``test_seconds`` (means per fold), ``total_seconds`` (the
    whole cross-validation), ``published_rmse``, ``published_mae`` and
    ``published_seconds`` (NaN where Surprise publishes none). The folds are the
    same for every algorithm (``KFold`` with ``seed``).
    """
    from surprise.model_selection import KFold, cross_validate

    data = surprise_dataset(ratings)
    rows = []
    for name in names:
        start = time.perf_counter()
        result = cross_validate(make_algorithm(name, seed), data, measures=["RMSE", "MAE"],
                                cv=KFold(folds, random_state=seed), n_jobs=n_jobs)
        rows.append({"algorithm": name, "rmse": float(np.mean(result["test_rmse"])),
                     "mae": float(np.mean(result["test_mae"])),
                     "fit_seconds": float(np.mean(result["fit_time"])),
                     "test_seconds": float(np.mean(result["test_time"])),
                     "total_seconds": time.perf_counter() - start,
                     **PUBLISHED_ML100K.get(name, NOT_PUBLISHED)})
    if n_jobs != 1:
        # joblib keeps its worker processes for reuse; left running they outlive the kernel, and
        # loky's resource tracker then warns about leaked semaphores on the kernel's stderr.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    return pd.DataFrame(rows).set_index("algorithm")


def rmse_on_split(algorithm, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Fit a Surprise algorithm on ``train``, predict ``test``: ``{'rmse', 'fit_seconds', 'predictions'}``.

    Users or movies unseen in training get Surprise's fallback (the training mean).
    """
    trainset = surprise_dataset(train).build_full_trainset()
    start = time.perf_counter()
    algorithm.fit(trainset)
    seconds = time.perf_counter() - start
    predictions = np.array([algorithm.predict(u, m).est for u, m in
                            zip(test["user_id"].to_numpy(), test["movie_id"].to_numpy())], dtype=np.float64)
    rmse = float(np.sqrt(np.mean((predictions - test["rating"].to_numpy(dtype=np.float64)) ** 2)))
    return {"rmse": rmse, "fit_seconds": seconds, "predictions": predictions}
