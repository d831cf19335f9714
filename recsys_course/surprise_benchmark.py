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
        seconds = time.perf_counter() - start
        if n_jobs != 1:
            release_joblib_workers()  # after every call, not once at the end: see its docstring
        rows.append({"algorithm": name, "rmse": float(np.mean(result["test_rmse"])),
                     "mae": float(np.mean(result["test_mae"])),
                     "fit_seconds": float(np.mean(result["fit_time"])),
                     "test_seconds": float(np.mean(result["test_time"])),
                     "total_seconds": seconds,
                     **PUBLISHED_ML100K.get(name, NOT_PUBLISHED)})
    return pd.DataFrame(rows).set_index("algorithm")


def release_joblib_workers() -> None:
    """Stop joblib's reusable worker processes and unregister the temporary folders made for them.

    Surprise's ``cross_validate(..., n_jobs=2)`` runs on joblib's ``loky``
    backend. Each ``joblib.Parallel`` call registers a temporary "memmapping"
    folder (in ``/dev/shm``) with loky's resource tracker, a child process,
    and the workers stay alive for the next call. Only the executor's own
    ``terminate`` deletes and unregisters its folders; and when a call reuses
    the workers, joblib (1.6) forgets the folder it registered for that call,
    leaving it to an ``atexit`` hook (joblib issue #1620). A Jupyter kernel
    does not get to run that hook: at shutdown it signals its child processes
    and waits, the tracker ignores the signal, and the kernel manager kills
    the kernel first. The tracker then finds the folders still registered and
    prints "There appear to be N leaked folder objects to clean up at
    shutdown" on the kernel's stderr. Terminating the executor after every
    ``Parallel`` call leaves nothing registered; the next call starts two
    fresh workers (under a second).
    """
    from joblib.externals.loky import reusable_executor

    # The executor joblib reuses; loky's public get_reusable_executor() would start one to return it.
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None:
        return
    if hasattr(executor, "terminate"):  # joblib's MemmappingExecutor: shutdown, then its temporary folders
        executor.terminate(kill_workers=False)
    else:
        executor.shutdown(wait=True)


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
