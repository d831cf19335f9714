"""Rating-prediction baselines, and matrix factorization with biases in Keras 3.

What a recommender's test error should be compared with, on the course's
90/10 split (:func:`recsys_course.splits.split_dataframe`):

- :func:`fit_global_mean`: predict the mean training rating for everyone;
- :func:`fit_bias_baseline`: ``mu + b_user + b_movie``, regularized biases
  fitted by alternating least squares (what Surprise calls ``BaselineOnly``);
- :func:`build_keras_mf_with_biases` and :func:`fit_keras_mf` (from
  :mod:`recsys_course.keras_mf`): the same factorization as the notebooks,
  ``<U_i, V_j>``, plus the biases and a global bias, as a Keras 3 model
  trained with ``model.fit`` on minibatches (Adam, L2 on the embeddings):
  the model of notebook 9.

Every function takes a ratings DataFrame with the course's columns
(``user_id``, ``movie_id`` starting at 0, ``rating``) and is seeded.

>>> train, test = split_dataframe(ratings)
>>> baseline = fit_bias_baseline(train, num_users, num_movies)
>>> rmse(baseline.predict(test["user_id"], test["movie_id"]), test["rating"])   # about 0.94
>>> model, _ = fit_keras_mf(train, num_users, num_movies)                       # a few seconds
>>> rmse(predict_ratings(model, test["user_id"], test["movie_id"]), test["rating"])  # about 0.91
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

# Matrix factorization with biases lives in recsys_course.keras_mf (notebook 9);
# these names stay importable from here.
from .keras_mf import (  # noqa: F401
    KERAS_MF_DEFAULTS,
    build_keras_mf_with_biases,
    fit_keras_mf,
    predict_ratings,
)


def rmse(predictions, ratings) -> float:
    """Root mean squared error between two sequences of numbers."""
    predictions = np.asarray(predictions, dtype=np.float64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if predictions.shape != ratings.shape:
        raise ValueError(f"{predictions.shape[0]} predictions for {ratings.shape[0]} ratings")
    return float(np.sqrt(np.mean((predictions - ratings) ** 2)))


def fit_global_mean(train: pd.DataFrame) -> float:
    """The mean training rating: the prediction of a model that knows nothing else."""
    return float(train["rating"].mean())


class BiasBaseline(NamedTuple):
    """Predicts ``global_mean + user_bias[user] + movie_bias[movie]``."""

    global_mean: float
    user_bias: np.ndarray   # [num_users]; 0 for a user without training ratings
    movie_bias: np.ndarray  # [num_movies]; 0 for a movie without training ratings

    def predict(self, user_ids, movie_ids) -> np.ndarray:
        user_ids, movie_ids = np.asarray(user_ids), np.asarray(movie_ids)
        return self.global_mean + self.user_bias[user_ids] + self.movie_bias[movie_ids]


def fit_bias_baseline(train: pd.DataFrame, num_users: int, num_movies: int,
                      user_reg: float = 15.0, movie_reg: float = 10.0,
                      num_iterations: int = 10) -> BiasBaseline:
    """Fit ``r_ij ~ mu + b_i + c_j`` by alternating regularized least squares.

    Minimizes ``sum_(i,j) (r_ij - mu - b_i - c_j)^2 + user_reg sum_i b_i^2 +
    movie_reg sum_j c_j^2`` with ``mu`` the mean training rating: each
    half-step solves one side exactly given the other,
    ``c_j = sum_i (r_ij - mu - b_i) / (movie_reg + n_j)``, and the same for
    ``b_i``. The regularization shrinks the bias of a movie (user) with few
    ratings towards 0, i.e. its prediction towards the global mean. The
    defaults are Surprise's ``BaselineOnly`` ALS settings.

    Args:
        train: training ratings (``user_id``, ``movie_id``, ``rating``).
        num_users, num_movies: lengths of the bias vectors (ids are indices).
        user_reg, movie_reg: the L2 weights of the two sides.
        num_iterations: alternations (movies, then users); 10 converge.
    """
    users = train["user_id"].to_numpy()
    movies = train["movie_id"].to_numpy()
    ratings = train["rating"].to_numpy(dtype=np.float64)
    mu = float(ratings.mean()) if len(ratings) else 0.0
    user_count = np.bincount(users, minlength=num_users)
    movie_count = np.bincount(movies, minlength=num_movies)
    user_bias, movie_bias = np.zeros(num_users), np.zeros(num_movies)
    def solve(residual_sums: np.ndarray, reg: float, count: np.ndarray) -> np.ndarray:
        denominator = reg + count  # 0 only for an id without ratings and no regularization
        return np.divide(residual_sums, denominator, out=np.zeros(len(count)),
                         where=denominator > 0)

    for _ in range(num_iterations):
        movie_bias = solve(np.bincount(movies, ratings - mu - user_bias[users], minlength=num_movies),
                           movie_reg, movie_count)
        user_bias = solve(np.bincount(users, ratings - mu - movie_bias[movies], minlength=num_users),
                          user_reg, user_count)
    return BiasBaseline(mu, user_bias, movie_bias)
