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
