"""Retrieval with two towers: the in-batch softmax, brute-force top k, and its evaluation (notebook 10).

The references of notebook 10's exercises:

- :func:`in_batch_softmax_loss`: a batch of (query, candidate) pairs; each
  query's positive is its own candidate, the batch's other candidates are
  its negatives; the mean softmax cross entropy of ``queries @ candidates^T``;
- :func:`retrieve_top_k`: the ``k`` best candidates of every query by dot
  product, leaving out excluded ones (the movies a user rated in training).

And what the notebook builds on them: :func:`logq_correction` (the in-batch
softmax meets popular movies as negatives more often than rare ones; this
subtracts the log of each candidate's frequency from its logits),
:func:`cold_start_split` (a split with movies and users the model never
trains on), :func:`exclusion_mask`, :func:`relevant_lists`,
:func:`ranking_table` (notebook 8's metrics for several lists side by side)
and :func:`top_k_accuracy` (TensorFlow Recommenders' "factorized top-k"
accuracy, for comparison with its tutorials).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import tensorflow as tf

from . import ranking_metrics as rm

PADDING = -1
RELEVANT_RATING = 4.0


# --- The exercises' references ---------------------------------------------------------


def in_batch_softmax_loss(query_embeddings, candidate_embeddings) -> tf.Tensor:
    """Mean softmax cross entropy of ``query_embeddings @ candidate_embeddings^T``, diagonal positive.

    Args:
        query_embeddings: ``[batch, d]`` float32 tensor, one query per example.
        candidate_embeddings: ``[batch, d]`` float32 tensor; row i is query i's
            positive, the other rows its negatives.

    Returns:
        A scalar float32 tensor, differentiable with respect to both inputs.
    """
    logits = tf.matmul(query_embeddings, candidate_embeddings, transpose_b=True)
    labels = tf.range(tf.shape(logits)[0])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def retrieve_top_k(query_embeddings, candidate_embeddings, k: int = 100, exclude=None) -> np.ndarray:
    """The ``k`` best candidate rows of every query by dot product.

    Args:
        query_embeddings: ``[num_queries, d]`` (numpy or tensor).
        candidate_embeddings: ``[num_candidates, d]``.
        k: length of each list.
        exclude: None, or ``[num_queries, num_candidates]`` marking what each
            query must not get: a ``tf.SparseTensor`` or scipy sparse matrix
            (every stored entry counts) or a dense array (nonzero counts).

    Returns:
        An int64 ``[num_queries, k]`` numpy array of candidate rows, best
        first, ties broken by the smaller row, padded with -1 where fewer
        than ``k`` candidates remain.
    """
    queries = np.asarray(query_embeddings, dtype=np.float64)
    candidates = np.asarray(candidate_embeddings, dtype=np.float64)
    scores = queries @ candidates.T
    if exclude is None:
        exclude = np.zeros(scores.shape, dtype=bool)
    return rm.top_k_unseen(scores, exclude, k=k)


def retrieve_top_k_random_ties(query_embeddings, candidate_embeddings, k: int = 100, exclude=None,
                               seed: int = 0) -> np.ndarray:
    """:func:`retrieve_top_k` with ties broken at random, in a new order for every query.

    For a model that gives many candidates the same score (every new movie
    of an id-only model): ties by the smaller row would rank those by id,
    which in MovieLens is a hidden popularity order (the first ids are the
    most rated movies). With random ties, such a model scores at chance level.
    """
    scores = np.asarray(query_embeddings, dtype=np.float64) @ np.asarray(candidate_embeddings, dtype=np.float64).T
    excluded = (np.zeros(scores.shape, dtype=bool) if exclude is None
                else rm.seen_mask(exclude, scores.shape))
    tie_breaker = np.random.default_rng(seed).random(scores.shape)
    # Sort by decreasing score, then by the random key; excluded candidates last.
    order = np.lexsort((tie_breaker, -np.where(excluded, -np.inf, scores)), axis=-1)[:, :k]
    top = np.full((len(scores), k), PADDING, dtype=np.int64)
    top[:, :order.shape[1]] = order
    remaining = scores.shape[1] - excluded.sum(axis=1)
    top[np.arange(k)[None, :] >= remaining[:, None]] = PADDING
    return top


def rerank(recommended, scores) -> np.ndarray:
    """Each row of ``recommended`` re-ordered by decreasing ``scores`` (same shape); padding stays last.

    The sort is stable: equal scores keep the order they had.
    """
    recommended = np.asarray(recommended)
    scores = np.where(recommended == PADDING, -np.inf, np.asarray(scores, dtype=np.float64))
    return np.take_along_axis(recommended, np.argsort(-scores, axis=1, kind="stable"), axis=1)


# --- Training helpers --------------------------------------------------------------------


def logq_correction(query_embeddings, candidate_embeddings, log_frequency):
    """Embeddings whose products are the logits minus each candidate's log frequency.

    A movie rated by many users is a negative in many batches: an
    uncorrected in-batch softmax learns to score popular movies down. The
    correction (Yi et al., 2019) subtracts ``log q_j``, the log of candidate
    j's share of the training examples, from every logit of column j. Done
    here by one extra dimension, so that ``in_batch_softmax_loss`` applies
    unchanged: ``[q, 1] . [c, -log q_j] = q . c - log q_j``.
    """
    queries = tf.convert_to_tensor(query_embeddings)
    candidates = tf.convert_to_tensor(candidate_embeddings)
    ones = tf.ones_like(queries[:, :1])
    log_frequency = tf.reshape(tf.cast(log_frequency, candidates.dtype), [-1, 1])
    return tf.concat([queries, ones], axis=1), tf.concat([candidates, -log_frequency], axis=1)


# --- Splits ---------------------------------------------------------------------------------


class ColdStartSplit(NamedTuple):
    """Ratings split for warm and cold evaluation (every frame keeps the ratings' columns).

    ``train``/``test``: the ratings of warm users on warm movies, split at
    random; ``cold_movie_test``: every rating of a warm user on a cold movie
    (no cold movie is in ``train``); ``cold_user_test``: every rating of a
    cold user on a warm movie (no cold user is in ``train``).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    cold_movie_test: pd.DataFrame
    cold_user_test: pd.DataFrame
    cold_movies: np.ndarray
    cold_users: np.ndarray


def cold_start_split(ratings: pd.DataFrame, holdout_fraction: float = 0.2,
                     cold_movie_fraction: float = 0.05, cold_user_fraction: float = 0.05,
                     min_cold_movie_ratings: int = 10, seed: int = 42) -> ColdStartSplit:
    """Hold out cold movies and cold users with all their ratings, then split the rest at random.

    Cold movies are drawn among the movies with at least
    ``min_cold_movie_ratings`` ratings (so that they have test ratings),
    ``round(cold_movie_fraction * number of movies rated)`` of them; cold
    users among all users who rated something. Ratings of a cold user on a
    cold movie are dropped. The random split of the rest holds out
    ``round(holdout_fraction * n)`` ratings, like ``split_dataframe``.
    """
    rng = np.random.default_rng(seed)
    counts = ratings["movie_id"].value_counts()
    rated_movies = np.sort(counts.index.to_numpy())
    eligible = np.sort(counts.index[counts >= min_cold_movie_ratings].to_numpy())
    num_cold_movies = min(len(eligible), round(cold_movie_fraction * len(rated_movies)))
    cold_movies = np.sort(rng.choice(eligible, size=num_cold_movies, replace=False))
    all_users = np.sort(ratings["user_id"].unique())
    cold_users = np.sort(rng.choice(all_users, size=round(cold_user_fraction * len(all_users)),
                                    replace=False))
    movie_is_cold = ratings["movie_id"].isin(cold_movies).to_numpy()
    user_is_cold = ratings["user_id"].isin(cold_users).to_numpy()
    warm = ratings[~movie_is_cold & ~user_is_cold]
    in_test = np.zeros(len(warm), dtype=bool)
    in_test[rng.choice(len(warm), size=round(holdout_fraction * len(warm)), replace=False)] = True
    return ColdStartSplit(
        train=warm[~in_test], test=warm[in_test],
        cold_movie_test=ratings[movie_is_cold & ~user_is_cold],
        cold_user_test=ratings[user_is_cold & ~movie_is_cold],
        cold_movies=cold_movies, cold_users=cold_users,
    )


# --- Evaluation -------------------------------------------------------------------------------


def exclusion_mask(user_ids: Iterable[int], num_movies: int, seen: pd.DataFrame | None = None,
                   movies: Iterable[int] = (), keep_only: Iterable[int] | None = None) -> np.ndarray:
    """``[len(user_ids), num_movies]`` bool: True for what a user's list must leave out.

    ``seen``'s (user, movie) pairs (the training ratings), every movie of
    ``movies`` for everyone, and, with ``keep_only``, every movie not in it.
    """
    user_ids = np.asarray(list(user_ids), dtype=np.int64)
    mask = np.zeros((len(user_ids), num_movies), dtype=bool)
    if seen is not None and len(seen):
        row_of = pd.Series(np.arange(len(user_ids)), index=user_ids)
        pairs = seen[seen["user_id"].isin(user_ids)]
        mask[row_of.loc[pairs["user_id"]].to_numpy(), pairs["movie_id"].to_numpy()] = True
    mask[:, np.asarray(list(movies), dtype=np.int64)] = True
    if keep_only is not None:
        keep = np.zeros(num_movies, dtype=bool)
        keep[np.asarray(list(keep_only), dtype=np.int64)] = True
        mask[:, ~keep] = True
    return mask


def relevant_lists(test: pd.DataFrame, user_ids: Iterable[int],
                   min_rating: float = RELEVANT_RATING) -> list[np.ndarray]:
    """Each user's relevant movies: those they rated ``min_rating`` or more in ``test``."""
    liked = test[test["rating"] >= min_rating]
    by_user = {user: movie_ids.to_numpy() for user, movie_ids in liked.groupby("user_id")["movie_id"]}
    empty = np.array([], dtype=np.int64)
    return [by_user.get(user, empty) for user in user_ids]


def list_metrics(recommended: np.ndarray, relevant: list[np.ndarray],
                 ks: Iterable[int] = (10, 100)) -> dict[str, float]:
    """Recall at each k, precision and nDCG at the smallest k, averaged over users (nan skipped)."""
    ks = sorted(ks)
    first = ks[0]
    rows = {f"recall@{k}": [rm.recall_at_k(r, rel, k) for r, rel in zip(recommended, relevant)]
            for k in ks}
    rows[f"precision@{first}"] = [rm.precision_at_k(r, rel, first) for r, rel in zip(recommended, relevant)
                                  if len(rel)]
    rows[f"nDCG@{first}"] = [rm.ndcg_at_k(r, rel, first) for r, rel in zip(recommended, relevant)]
    return {name: _mean_skipping_nan(values) for name, values in rows.items()}


def _mean_skipping_nan(values) -> float:
    """np.nanmean without its warning when every value is nan (nan then)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def ranking_table(lists: Mapping[str, np.ndarray], relevant: list[np.ndarray],
                  train_counts: np.ndarray, num_users: int,
                  movie_embeddings: np.ndarray | None = None,
                  ks: Iterable[int] = (10, 100)) -> pd.DataFrame:
    """Notebook 8's metrics for several ``[num_users, >= max(ks)]`` lists, one row each.

    Columns: recall at each k, precision and nDCG at the smallest k, and, for
    the first k movies of each list, novelty (mean self-information, higher is
    less popular), coverage (share of the catalogue recommended to someone)
    and, with ``movie_embeddings``, intra-list diversity.
    """
    first = min(ks)
    rows = {}
    for name, recommended in lists.items():
        row = list_metrics(recommended, relevant, ks)
        top = np.asarray(recommended)[:, :first]
        row[f"novelty@{first}"] = float(rm.novelty(top, train_counts, num_users))
        row[f"coverage@{first}"] = len(np.unique(top[top != PADDING])) / len(train_counts)
        if movie_embeddings is not None:
            row[f"diversity@{first}"] = float(rm.intra_list_diversity(top, movie_embeddings))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def top_k_accuracy(query_embeddings: np.ndarray, candidate_embeddings: np.ndarray,
                   test: pd.DataFrame, k: int = 100) -> float:
    """TensorFlow Recommenders' factorized top-k accuracy on ``test``.

    The share of the test *ratings* (any value) whose movie is among the
    ``k`` best-scored movies of the whole catalogue for that user, nothing
    excluded (not even the movies the user rated in training).
    ``query_embeddings`` is indexed by user id, ``candidate_embeddings`` by movie id.
    """
    queries = np.asarray(query_embeddings, dtype=np.float32)[test["user_id"].to_numpy()]
    candidates = np.asarray(candidate_embeddings, dtype=np.float32)
    positive = np.einsum("ij,ij->i", queries, candidates[test["movie_id"].to_numpy()])
    hits = 0
    for start in range(0, len(queries), 4096):  # a block at a time: [4096, num_movies] scores
        scores = queries[start:start + 4096] @ candidates.T
        better = (scores > positive[start:start + 4096, None]).sum(axis=1)
        hits += int((better < k).sum())
    return hits / max(len(test), 1)
