"""Regularized matrix factorization: L2 on the embeddings and gravity (notebook 6).

>>> from recsys_course import regularization as reg
>>> model = reg.build_regularized_model(ratings, embedding_dim=35, regularization_coeff=0.1,
...                                     gravity_coeff=1.0, init_stddev=0.05)
>>> model.train(num_iterations=2000, learning_rate=20.0)

The loss is the observed MSE of notebooks 3 and 4 plus two terms about the
embeddings themselves, with ``U`` the ``[N, d]`` user and ``V`` the ``[M, d]``
movie embeddings:

- ``r(U, V) = 1/N sum_i |U_i|^2 + 1/M sum_j |V_j|^2`` (:func:`l2_regularization`),
  the mean squared norm of a user's and of a movie's embedding;
- ``g(U, V) = 1/(N M) sum_i sum_j <U_i, V_j>^2`` (:func:`gravity`), the mean
  squared prediction over *all* (user, movie) pairs, rated or not. It is
  computed as ``1/(N M) sum((U^T U) * (V^T V))``, two ``d x d`` Gram
  matrices, in ``O((N + M) d^2)`` instead of the ``O(N M d)`` of
  :func:`gravity_naive`.

This module is the reference for the exercises of notebook 6, and what later
notebooks use to build a regularized model.
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import pandas as pd
import tensorflow as tf

from .cfmodel import CFModel
from .losses import observed_mse
from .matrix_factorization import init_embeddings, split_rating_tensors
from .splits import DEFAULT_SPLIT_SEED

ERROR_METRICS = ("train_error", "test_error")
LOSS_COMPONENTS = ("observed_loss", "regularization_loss", "gravity_loss")


def _num_rows(embeddings: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.shape(embeddings)[0], embeddings.dtype)


def gravity(U, V) -> tf.Tensor:
    """``1/(N M) sum_ij <U_i, V_j>^2``, through the ``d x d`` Gram matrices.

    ``sum_ij <U_i, V_j>^2 = sum_kl (U^T U)_kl (V^T V)_kl``: two ``d x d``
    products (``O((N + M) d^2)`` time, ``O(d^2)`` extra memory), never the
    ``N x M`` prediction matrix.

    Args:
        U: ``[N, d]`` user embeddings (tensor, variable or array).
        V: ``[M, d]`` movie embeddings, same dtype.

    Returns:
        A scalar tensor, differentiable with respect to ``U`` and ``V``.
    """
    U, V = tf.convert_to_tensor(U), tf.convert_to_tensor(V)
    user_gram = tf.matmul(U, U, transpose_a=True)   # [d, d]
    movie_gram = tf.matmul(V, V, transpose_a=True)  # [d, d]
    return tf.reduce_sum(user_gram * movie_gram) / (_num_rows(U) * _num_rows(V))


def gravity_naive(U, V) -> tf.Tensor:
    """The definition of :func:`gravity`, through the ``N x M`` predictions (``O(N M d)``)."""
    U, V = tf.convert_to_tensor(U), tf.convert_to_tensor(V)
    return tf.reduce_mean(tf.square(tf.matmul(U, V, transpose_b=True)))


def l2_regularization(U, V) -> tf.Tensor:
    """``1/N sum_i |U_i|^2 + 1/M sum_j |V_j|^2``: the mean squared norm of each side."""
    U, V = tf.convert_to_tensor(U), tf.convert_to_tensor(V)
    return (tf.reduce_sum(tf.square(U)) / _num_rows(U)
            + tf.reduce_sum(tf.square(V)) / _num_rows(V))


def build_regularized_model(ratings: pd.DataFrame | None = None, embedding_dim: int = 3,
                            regularization_coeff: float = 0.1, gravity_coeff: float = 1.0,
                            init_stddev: float = 0.1, *, num_users: int | None = None,
                            num_movies: int | None = None, holdout_fraction: float = 0.1,
                            seed: int = DEFAULT_SPLIT_SEED,
                            train_ratings: pd.DataFrame | None = None,
                            test_ratings: pd.DataFrame | None = None,
                            init_seed: int | None = None) -> CFModel:
    """Matrix factorization with L2 and gravity terms in its loss.

    The loss is ``observed MSE on the training ratings + regularization_coeff
    * r(U, V) + gravity_coeff * g(U, V)``.

    Args:
        ratings: the ratings to split (``user_id``, ``movie_id``, ``rating``),
            or None when ``train_ratings`` and ``test_ratings`` are given.
        embedding_dim: ``d``.
        regularization_coeff: ``lambda_r``, the weight of :func:`l2_regularization`.
        gravity_coeff: ``lambda_g``, the weight of :func:`gravity`.
        init_stddev: standard deviation of the normal initial embeddings.
        num_users, num_movies: rows of the embedding matrices; default: the
            largest id + 1 in the ratings.
        holdout_fraction, seed: how ``ratings`` is split
            (:func:`recsys_course.splits.split_dataframe`).
        train_ratings, test_ratings: a ready split instead of ``ratings``.
        init_seed: seed of the initial embeddings (default: TensorFlow's global seed).

    Returns:
        A :class:`~recsys_course.cfmodel.CFModel` with embeddings ``'user_id'``
        and ``'movie_id'`` and two metric panels: ``'train_error'`` and
        ``'test_error'`` (observed MSE on each part), and the three terms of
        the loss as they enter it, weights included, which add up to the
        loss: ``'observed_loss'``, ``'regularization_loss'``, ``'gravity_loss'``.
    """
    tensors = split_rating_tensors(ratings, num_users=num_users, num_movies=num_movies,
                                   holdout_fraction=holdout_fraction, seed=seed,
                                   train_ratings=train_ratings, test_ratings=test_ratings)
    user_seed, movie_seed = (None, None) if init_seed is None else (init_seed, init_seed + 1)
    U = init_embeddings(tensors.num_users, embedding_dim, init_stddev, user_seed, "user_id")
    V = init_embeddings(tensors.num_movies, embedding_dim, init_stddev, movie_seed, "movie_id")
    regularization_coeff, gravity_coeff = float(regularization_coeff), float(gravity_coeff)

    def train_error() -> tf.Tensor:
        return observed_mse(tensors.train, U, V)

    def test_error() -> tf.Tensor:
        return observed_mse(tensors.test, U, V)

    def regularization_loss() -> tf.Tensor:
        return regularization_coeff * l2_regularization(U, V)

    def gravity_loss() -> tf.Tensor:
        return gravity_coeff * gravity(U, V)

    def loss() -> tf.Tensor:
        return train_error() + regularization_loss() + gravity_loss()

    return CFModel({"user_id": U, "movie_id": V}, loss,
                   [{"train_error": train_error, "test_error": test_error},
                    {"observed_loss": train_error, "regularization_loss": regularization_loss,
                     "gravity_loss": gravity_loss}])


# --- Choosing the weights on a validation part -------------------------------------------

def ranking_recall(model_or_embeddings, seen_ratings: pd.DataFrame, heldout_ratings: pd.DataFrame,
                   k: int = 10) -> float:
    """Mean recall@k of every user's top ``k`` unseen movies by predicted rating.

    The protocol of notebook 8, in one call: each user's candidates are the
    movies not in ``seen_ratings``; the relevant ones are those the user rated
    4 or more in ``heldout_ratings``; the mean skips users without any.
    """
    from . import evaluation, ranking_metrics

    embeddings = getattr(model_or_embeddings, "embeddings", model_or_embeddings)
    U, V = (np.asarray(embeddings[name], np.float64) for name in ("user_id", "movie_id"))
    seen = evaluation.seen_matrix(seen_ratings, len(U), len(V))
    top = ranking_metrics.top_k_unseen(U @ V.T, seen, k)
    relevant = evaluation.relevant_matrix(heldout_ratings, len(U), len(V))
    recall = ranking_metrics.ranking_metrics(top, relevant, k)["recall"]
    return float(np.nanmean(recall)) if np.isfinite(recall).any() else float("nan")


@contextlib.contextmanager
def _quiet():
    """Swallow what the trainer prints or displays (its progress line)."""
    try:
        from IPython import get_ipython
        from IPython.utils.capture import capture_output
    except ImportError:
        get_ipython = None
    with contextlib.redirect_stdout(io.StringIO()):
        if get_ipython is not None and get_ipython() is not None:
            with capture_output(stdout=True, stderr=False, display=True):
                yield
        else:
            yield


def validation_grid(fit_ratings: pd.DataFrame, validation_ratings: pd.DataFrame, *,
                    num_users: int, num_movies: int, regularization_coeffs=(0.1, 0.3, 1.0),
                    gravity_coeffs=(1.0, 3.0, 10.0), checkpoints=(250, 500),
                    embedding_dim: int = 35, init_stddev: float = 0.05,
                    learning_rate: float = 20.0, k: int = 10, init_seed: int = 0) -> pd.DataFrame:
    """Train one regularized model per pair of weights and score it on a validation part.

    Each model trains on ``fit_ratings`` (gradient descent, ``learning_rate``)
    and is scored after each number of steps in ``checkpoints`` (training
    continues from one checkpoint to the next): the observed MSE on
    ``validation_ratings`` and :func:`ranking_recall` at ``k`` (candidates:
    the movies a user has no rating of in ``fit_ratings``; relevant: their
    validation ratings of 4 or more). Every model starts from the same
    initial embeddings (``init_seed``).

    Returns:
        One row per (``regularization_coeff``, ``gravity_coeff``,
        ``iterations``): ``validation_mse``, ``validation_recall`` and
        ``seconds`` (training time so far); ``attrs['seconds']`` is the total.
    """
    rows, start = [], time.perf_counter()
    for regularization_coeff in regularization_coeffs:
        for gravity_coeff in gravity_coeffs:
            model = build_regularized_model(
                embedding_dim=embedding_dim, regularization_coeff=regularization_coeff,
                gravity_coeff=gravity_coeff, init_stddev=init_stddev, num_users=num_users,
                num_movies=num_movies, train_ratings=fit_ratings, test_ratings=validation_ratings,
                init_seed=init_seed)
            model_start = time.perf_counter()
            for iterations in sorted(checkpoints):
                with _quiet():  # one progress line per model would crowd the notebook
                    results = model.train(num_iterations=iterations - model.iteration,
                                          learning_rate=learning_rate, plot_results=False)
                rows.append({"regularization_coeff": regularization_coeff, "gravity_coeff": gravity_coeff,
                             "iterations": iterations, "validation_mse": results["test_error"],
                             "validation_recall": ranking_recall(model, fit_ratings, validation_ratings, k),
                             "seconds": time.perf_counter() - model_start})
    table = pd.DataFrame(rows)
    table.attrs["seconds"] = time.perf_counter() - start
    return table
