"""Rating-prediction baselines, and matrix factorization with biases in Keras 3.

What a recommender's test error should be compared with, on the course's
90/10 split (:func:`recsys_course.splits.split_dataframe`):

- :func:`fit_global_mean`: predict the mean training rating for everyone;
- :func:`fit_bias_baseline`: ``mu + b_user + b_movie``, regularized biases
  fitted by alternating least squares (what Surprise calls ``BaselineOnly``);
- :func:`build_keras_mf_with_biases` and :func:`fit_keras_mf`: the same
  factorization as the notebooks, ``<U_i, V_j>``, plus the biases and the
  global mean, as a Keras 3 model trained with ``model.fit`` on minibatches
  (Adam, L2 on the embeddings): the model of notebook 9, "beyond one notebook".

Every function takes a ratings DataFrame with the course's columns
(``user_id``, ``movie_id`` starting at 0, ``rating``) and is seeded.

>>> train, test = split_dataframe(ratings)
>>> baseline = fit_bias_baseline(train, num_users, num_movies)
>>> rmse(baseline.predict(test["user_id"], test["movie_id"]), test["rating"])   # about 0.94
>>> model, _ = fit_keras_mf(train, num_users, num_movies)                       # about 12 s
>>> rmse(predict_ratings(model, test["user_id"], test["movie_id"]), test["rating"])  # about 0.91
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd

# Chosen on a validation tenth of the training ratings of MovieLens 100K
# (split_dataframe(train, 0.1, seed=7)), never on the test ratings.
KERAS_MF_DEFAULTS = {"embedding_dim": 32, "l2": 1.5e-4, "epochs": 14, "batch_size": 1024,
                     "learning_rate": 4e-3, "init_stddev": 0.05}


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


def build_keras_mf_with_biases(num_users: int, num_movies: int, embedding_dim: int = 32,
                               l2: float = 1.5e-4, global_mean: float = 0.0,
                               init_stddev: float = 0.05, seed: int | None = 0) -> keras.Model:
    """Matrix factorization with biases as a Keras 3 model.

    The prediction for user ``i`` and movie ``j`` is
    ``global_mean + b_i + c_j + <U_i, V_j>``: four ``keras.layers.Embedding``
    tables (``user_embedding``, ``movie_embedding``, ``user_bias``,
    ``movie_bias``) looked up by id. The factor tables carry an L2 penalty
    ``l2 * sum(U^2)`` (and ``V``) added to every minibatch's loss, i.e. a
    weight decay (with minibatches of ``B`` ratings, about ``l2 * n / B``
    per epoch); the biases are not penalized.

    Args:
        num_users, num_movies: rows of the tables (ids are 0-based indices).
        embedding_dim: ``d``.
        l2: weight of the L2 penalty on the factors (0: none).
        global_mean: the constant added to every prediction (the mean
            training rating), so that the rest learns deviations from it.
        init_stddev: standard deviation of the normal initial factors.
        seed: seed of the initial factors.

    Returns:
        An uncompiled ``keras.Model`` whose input is a dict of two int
        tensors, ``{'user_id': [batch], 'movie_id': [batch]}``, and whose
        output is the ``[batch]`` predicted ratings.
    """
    user_id = keras.Input(shape=(), dtype="int32", name="user_id")
    movie_id = keras.Input(shape=(), dtype="int32", name="movie_id")
    regularizer = keras.regularizers.L2(l2) if l2 else None

    def factors(rows: int, name: str, offset: int) -> keras.layers.Embedding:
        initializer = keras.initializers.RandomNormal(
            stddev=init_stddev, seed=None if seed is None else seed + offset)
        return keras.layers.Embedding(rows, embedding_dim, embeddings_initializer=initializer,
                                      embeddings_regularizer=regularizer, name=name)

    def bias(rows: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(rows, 1, embeddings_initializer="zeros", name=name)

    user_vector = factors(num_users, "user_embedding", 0)(user_id)
    movie_vector = factors(num_movies, "movie_embedding", 1)(movie_id)
    interaction = keras.ops.sum(user_vector * movie_vector, axis=-1)
    biases = (keras.ops.squeeze(bias(num_users, "user_bias")(user_id), axis=-1)
              + keras.ops.squeeze(bias(num_movies, "movie_bias")(movie_id), axis=-1))
    prediction = keras.layers.Identity(name="rating")(interaction + biases + float(global_mean))
    return keras.Model({"user_id": user_id, "movie_id": movie_id}, prediction,
                       name="mf_with_biases")


def _inputs(user_ids, movie_ids) -> dict[str, np.ndarray]:
    return {"user_id": np.asarray(user_ids, dtype=np.int32),
            "movie_id": np.asarray(movie_ids, dtype=np.int32)}


def fit_keras_mf(train: pd.DataFrame, num_users: int, num_movies: int,
                 validation: pd.DataFrame | None = None, *,
                 embedding_dim: int = KERAS_MF_DEFAULTS["embedding_dim"],
                 l2: float = KERAS_MF_DEFAULTS["l2"],
                 epochs: int = KERAS_MF_DEFAULTS["epochs"],
                 batch_size: int = KERAS_MF_DEFAULTS["batch_size"],
                 learning_rate: float = KERAS_MF_DEFAULTS["learning_rate"],
                 init_stddev: float = KERAS_MF_DEFAULTS["init_stddev"],
                 seed: int = 0, verbose: int = 0) -> tuple[keras.Model, keras.callbacks.History]:
    """Build :func:`build_keras_mf_with_biases` and train it with Adam and ``model.fit``.

    The loss is the mean squared error of each shuffled minibatch of
    ``batch_size`` ratings (plus the L2 penalty). The defaults
    (:data:`KERAS_MF_DEFAULTS`) were chosen on a validation part of the
    MovieLens 100K training ratings; on the course's split they reach a test
    RMSE of about 0.91 in about ten seconds on two CPU cores.

    Args:
        train: training ratings (``user_id``, ``movie_id``, ``rating``).
        num_users, num_movies: rows of the embedding tables.
        validation: ratings whose MSE ``fit`` reports after each epoch
            (``history.history['val_loss']``); None: none.
        seed: seeds Keras (weights, shuffling) before building: the same seed
            gives the same model.
        verbose: ``model.fit``'s verbosity (0: silent; 1: a progress bar).

    Returns:
        ``(model, history)``: the trained model and ``fit``'s history.
    """
    keras.utils.set_random_seed(seed)
    model = build_keras_mf_with_biases(num_users, num_movies, embedding_dim, l2,
                                       fit_global_mean(train), init_stddev, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    validation_data = None
    if validation is not None:
        validation_data = (_inputs(validation["user_id"], validation["movie_id"]),
                           validation["rating"].to_numpy(np.float32))
    history = model.fit(_inputs(train["user_id"], train["movie_id"]),
                        train["rating"].to_numpy(np.float32), batch_size=batch_size,
                        epochs=epochs, shuffle=True, validation_data=validation_data,
                        verbose=verbose)
    return model, history


def predict_ratings(model: keras.Model, user_ids, movie_ids,
                    clip: Sequence[float] | None = (1.0, 5.0),
                    batch_size: int = 8192) -> np.ndarray:
    """The model's predicted ratings for pairs of ids, clipped to the rating scale.

    ``clip=None`` returns the raw predictions.
    """
    predictions = np.asarray(model.predict(_inputs(user_ids, movie_ids), batch_size=batch_size,
                                           verbose=0), dtype=np.float64).reshape(-1)
    return predictions if clip is None else np.clip(predictions, *clip)
