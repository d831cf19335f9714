"""Matrix factorization of the rating matrix: the pieces notebooks 3 to 6 share.

A model gives each user ``i`` an embedding ``U[i]`` and each movie ``j`` an
embedding ``V[j]`` (rows of two ``[num, d]`` matrices) and predicts the
rating as their dot product, ``<U[i], V[j]>``. It is trained on the observed
ratings only.

- :func:`build_mf_model`: the reference model of notebook 4 (split, sparse
  tensors, ``N(0, init_stddev)`` embeddings, observed MSE, train and test
  error metrics), which notebooks 5 and 6 train and extend;
- :func:`split_rating_tensors`, :func:`init_embeddings`: its parts, for
  models that add terms to the loss (notebook 6);
- :func:`plot_histories`: the error curves of several trained models in one
  chart (notebooks 4 and 6);
- :func:`dense_route_mse`, :func:`gather_route_mse`,
  :func:`route_memory_bytes`, :func:`benchmark_loss_routes`: the two ways of
  computing the observed error and what each costs (notebook 3);
- :func:`zero_filled_svd_predictions`: what the "missing means zero" objective
  predicts (notebook 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

import altair as alt
import numpy as np
import pandas as pd
import tensorflow as tf

from .cfmodel import CFModel
from .losses import observed_mse
from .sparse_ratings import build_rating_sparse_tensor
from .splits import DEFAULT_SPLIT_SEED, split_dataframe

FLOAT32_BYTES = 4

LossRoute = Callable[[tf.SparseTensor, tf.Tensor, tf.Tensor], tf.Tensor]


# --- The two routes to the observed error (notebook 3) ----------------------

def dense_route_mse(sparse_ratings: tf.SparseTensor, user_embeddings, movie_embeddings) -> tf.Tensor:
    """Observed-only MSE through the dense ``[N, M]`` prediction matrix ``U V^T``.

    Simple and, for small catalogues, fast (one matrix product), but it
    builds every one of the ``N * M`` predictions, and its gradient as many
    again, to use only the ``|Omega|`` observed ones.
    """
    predictions = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    observed = tf.gather_nd(predictions, sparse_ratings.indices)
    return tf.reduce_mean(tf.square(sparse_ratings.values - observed))


def gather_route_mse(sparse_ratings: tf.SparseTensor, user_embeddings, movie_embeddings) -> tf.Tensor:
    """Observed-only MSE computing only the observed predictions.

    Gathers the ``|Omega|`` user rows and movie rows the ratings need and
    takes their row-wise dot products: memory ``O(|Omega| d)``, whatever the
    size of the catalogue.
    """
    user_rows = tf.gather(user_embeddings, sparse_ratings.indices[:, 0])
    movie_rows = tf.gather(movie_embeddings, sparse_ratings.indices[:, 1])
    observed = tf.reduce_sum(user_rows * movie_rows, axis=1)
    return tf.reduce_mean(tf.square(sparse_ratings.values - observed))


def route_memory_bytes(num_users: int, num_movies: int, num_ratings: int,
                       embedding_dim: int) -> dict[str, int]:
    """Bytes of the largest float32 intermediate of each route's forward pass.

    The dense route holds the ``num_users x num_movies`` predictions; the
    gather route the two gathered ``num_ratings x embedding_dim`` blocks.
    The backward pass needs about as much again.
    """
    return {
        "dense": int(num_users) * int(num_movies) * FLOAT32_BYTES,
        "gather": 2 * int(num_ratings) * int(embedding_dim) * FLOAT32_BYTES,
    }


def widen_catalogue(sparse_ratings: tf.SparseTensor, factor: int) -> tf.SparseTensor:
    """The same ratings in a catalogue ``factor`` times larger in both directions.

    The new users and movies have no ratings: the observed error is the same,
    only the cost of routes that touch every cell changes.
    """
    shape = sparse_ratings.dense_shape * int(factor)
    return tf.SparseTensor(sparse_ratings.indices, sparse_ratings.values, shape)


def benchmark_loss_routes(routes: Mapping[str, LossRoute], sparse_ratings: tf.SparseTensor,
                          embedding_dim: int = 30, factors=(1,), repeats: int = 5,
                          seed: int = 0) -> pd.DataFrame:
    """Time one loss-and-gradient evaluation of each route on catalogues of growing size.

    Args:
        routes: name -> function ``(sparse_ratings, U, V) -> scalar loss``.
        sparse_ratings: the observed ratings.
        embedding_dim: ``d`` of the random embeddings.
        factors: catalogue sizes to try, as multiples of ``sparse_ratings``'s
            shape (see :func:`widen_catalogue`); the ratings stay the same.
        repeats: timed evaluations per route and size (after one warm-up call),
            of which the median is reported.
        seed: seed of the random embeddings.

    Returns:
        One row per (size, route): ``users``, ``movies``, ``ratings``,
        ``route``, ``largest_intermediate_MB`` (from :func:`route_memory_bytes`
        for routes named 'dense' or 'gather', else NaN), ``ms_per_step``
        (median wall time of loss plus gradient) and ``loss`` (its value, the
        same for every correct route and every size: the rated users and
        movies keep their embeddings).
    """
    rows = []
    num_ratings = int(tf.shape(sparse_ratings.values)[0])
    base_users, base_movies = (int(n) for n in sparse_ratings.dense_shape)
    generator = tf.random.Generator.from_seed(seed)
    base = [generator.normal([base_users, embedding_dim], stddev=0.5),
            generator.normal([base_movies, embedding_dim], stddev=0.5)]
    for factor in factors:
        ratings = widen_catalogue(sparse_ratings, factor)
        num_users, num_movies = (int(n) for n in ratings.dense_shape)
        # The rated users and movies keep their embeddings: the loss is the same at every size.
        user_embeddings, movie_embeddings = (
            tf.Variable(tf.concat([rows_, generator.normal([count - len(rows_), embedding_dim],
                                                           stddev=0.5)], axis=0))
            for rows_, count in zip(base, (num_users, num_movies)))
        memory = route_memory_bytes(num_users, num_movies, num_ratings, embedding_dim)
        for name, route in routes.items():
            def step():
                with tf.GradientTape() as tape:
                    loss = route(ratings, user_embeddings, movie_embeddings)
                gradients = tape.gradient(loss, [user_embeddings, movie_embeddings])
                for gradient in gradients:  # make sure the work is done, not just queued
                    if gradient is not None:
                        tf.convert_to_tensor(gradient).numpy()
                return float(loss)

            loss = step()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            kind = "dense" if "dense" in name else "gather" if "gather" in name else None
            rows.append({
                "users": num_users, "movies": num_movies, "ratings": num_ratings, "route": name,
                "largest_intermediate_MB": memory[kind] / 1e6 if kind else np.nan,
                "ms_per_step": 1000 * float(np.median(times)), "loss": loss,
            })
    return pd.DataFrame(rows)


def zero_filled_svd_predictions(ratings: pd.DataFrame, num_users: int, num_movies: int,
                                rank: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit the rank-``rank`` truncated SVD of the zero-filled rating matrix.

    This is the best rank-``rank`` approximation of the matrix in squared error
    over *all* cells (Eckart-Young), with every unobserved cell counted as a
    rating of 0. ``rank`` is capped below ``min(num_users, num_movies)``.

    Returns:
        ``(observed, unobserved_mean)``: the predictions for the rows of
        ``ratings`` (in their order), and the mean prediction over the cells
        without a rating.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    rows = ratings["user_id"].to_numpy()
    cols = ratings["movie_id"].to_numpy()
    matrix = sp.csr_matrix((ratings["rating"].to_numpy(dtype=np.float64), (rows, cols)),
                           shape=(num_users, num_movies))
    rank = max(1, min(int(rank), min(num_users, num_movies) - 1))
    v0 = np.random.default_rng(seed).uniform(-1, 1, min(num_users, num_movies))
    left, singular, right = svds(matrix, k=rank, v0=v0)
    user_part = left * singular                      # [N, rank]
    observed = np.einsum("ij,ij->i", user_part[rows], right[:, cols].T)
    total = float(user_part.sum(axis=0) @ right.sum(axis=1))  # sum of every prediction
    num_unobserved = num_users * num_movies - len(ratings)
    unobserved_mean = (total - observed.sum()) / num_unobserved if num_unobserved else float("nan")
    return observed, unobserved_mean


# --- The model of notebook 4 -------------------------------------------------

class RatingTensors(NamedTuple):
    """Training and test ratings as sparse tensors of the same shape."""

    train: tf.SparseTensor
    test: tf.SparseTensor
    num_users: int
    num_movies: int


def split_rating_tensors(ratings: pd.DataFrame | None = None, *, num_users: int | None = None,
                         num_movies: int | None = None, holdout_fraction: float = 0.1,
                         seed: int = DEFAULT_SPLIT_SEED, train_ratings: pd.DataFrame | None = None,
                         test_ratings: pd.DataFrame | None = None) -> RatingTensors:
    """Split the ratings and build the two ``[num_users, num_movies]`` sparse tensors.

    Either pass ``ratings``, split by :func:`recsys_course.splits.split_dataframe`
    with ``holdout_fraction`` and ``seed``, or a ready split as
    ``train_ratings`` and ``test_ratings`` (then ``ratings`` must be None).
    ``num_users`` and ``num_movies`` default to the largest id + 1 among the
    given ratings; pass ``len(users)`` and ``len(movies)`` when the last
    users or movies may have no ratings.
    """
    if (train_ratings is None) != (test_ratings is None):
        raise ValueError("pass both train_ratings and test_ratings, or neither")
    if train_ratings is None:
        if ratings is None:
            raise ValueError("pass ratings, or train_ratings and test_ratings")
        train_ratings, test_ratings = split_dataframe(ratings, holdout_fraction, seed)
    elif ratings is not None:
        raise ValueError("pass ratings or a ready split (train_ratings, test_ratings), not both")
    frames = (train_ratings, test_ratings)
    if num_users is None:
        num_users = 1 + max((int(f["user_id"].max()) for f in frames if len(f)), default=-1)
    if num_movies is None:
        num_movies = 1 + max((int(f["movie_id"].max()) for f in frames if len(f)), default=-1)
    return RatingTensors(build_rating_sparse_tensor(train_ratings, num_users, num_movies),
                         build_rating_sparse_tensor(test_ratings, num_users, num_movies),
                         int(num_users), int(num_movies))


def init_embeddings(num_rows: int, embedding_dim: int, init_stddev: float,
                    seed: int | None = None, name: str | None = None) -> tf.Variable:
    """A ``[num_rows, embedding_dim]`` float32 variable with ``N(0, init_stddev^2)`` entries.

    Without ``seed`` the draw follows TensorFlow's global seed (which
    ``setup_notebook`` sets), so a notebook is repeatable run after run.
    """
    shape = [int(num_rows), int(embedding_dim)]
    if seed is None:
        values = tf.random.normal(shape, stddev=init_stddev)
    else:
        values = tf.random.Generator.from_seed(seed).normal(shape, stddev=init_stddev)
    return tf.Variable(values, name=name)


def build_mf_model(ratings: pd.DataFrame | None = None, *, num_users: int | None = None,
                   num_movies: int | None = None, embedding_dim: int = 3, init_stddev: float = 1.0,
                   holdout_fraction: float = 0.1, seed: int = DEFAULT_SPLIT_SEED,
                   train_ratings: pd.DataFrame | None = None,
                   test_ratings: pd.DataFrame | None = None,
                   init_seed: int | None = None) -> CFModel:
    """Matrix factorization trained on the observed-only MSE (the model of notebook 4).

    Args:
        ratings: the ratings to split (``user_id``, ``movie_id``, ``rating``), or
            None when ``train_ratings`` and ``test_ratings`` are given.
        num_users, num_movies: rows of the embedding matrices; default: the
            largest id + 1 in the ratings.
        embedding_dim: ``d``.
        init_stddev: standard deviation of the normal initial embeddings.
        holdout_fraction, seed: how ``ratings`` is split.
        train_ratings, test_ratings: a ready split instead of ``ratings``.
        init_seed: seed of the initial embeddings (default: TensorFlow's global seed).

    Returns:
        A :class:`~recsys_course.cfmodel.CFModel` with embeddings ``'user_id'``
        (``[num_users, d]``) and ``'movie_id'`` (``[num_movies, d]``), the
        training MSE as its loss, and one metrics panel with ``'train_error'``
        and ``'test_error'`` (the MSE on the held-out ratings).
    """
    tensors = split_rating_tensors(ratings, num_users=num_users, num_movies=num_movies,
                                   holdout_fraction=holdout_fraction, seed=seed,
                                   train_ratings=train_ratings, test_ratings=test_ratings)
    user_seed, movie_seed = (None, None) if init_seed is None else (init_seed, init_seed + 1)
    user_embeddings = init_embeddings(tensors.num_users, embedding_dim, init_stddev, user_seed, "user_id")
    movie_embeddings = init_embeddings(tensors.num_movies, embedding_dim, init_stddev, movie_seed,
                                       "movie_id")

    def train_error() -> tf.Tensor:
        return observed_mse(tensors.train, user_embeddings, movie_embeddings)

    def test_error() -> tf.Tensor:
        return observed_mse(tensors.test, user_embeddings, movie_embeddings)

    return CFModel({"user_id": user_embeddings, "movie_id": movie_embeddings}, train_error,
                   [{"train_error": train_error, "test_error": test_error}])


def plot_histories(models: Mapping[str, CFModel], metrics=None) -> alt.Chart:
    """The metric curves of several models in one chart, coloured by model.

    Args:
        models: label -> trained model (its ``history``).
        metrics: which metrics to draw (default: every one); they are told
            apart by the line's dash.
    """
    frames = []
    for label, model in models.items():
        history = model.history
        if metrics is not None:
            history = history[history["metric"].isin(list(metrics))]
        frames.append(history.assign(model=label))
    data = pd.concat(frames, ignore_index=True)
    return (alt.Chart(data).mark_line(point=True)
            .encode(x=alt.X("iteration:Q"), y=alt.Y("value:Q", title="MSE", scale=alt.Scale(zero=False)),
                    color=alt.Color("model:N"), strokeDash=alt.StrokeDash("metric:N"),
                    tooltip=["model:N", "metric:N", "iteration:Q", alt.Tooltip("value:Q", format=".4f")])
            .properties(width=480, height=260).interactive())
