"""Ranking metrics: how good is a top-k list? (the references of notebook 8)

Rating metrics (:func:`recsys_course.baselines.rmse`, the observed MSE) score
predicted *ratings* on pairs the users chose to rate. A recommender shows a
short ranked list of movies the user has *not* rated; these functions score
such lists against held-out data. The conventions of notebooks 8-11:

- a *relevant* movie for a user is one they rated 4 or more in the held-out part;
- the *candidates* of a user are all movies minus those of their training part;
- a list of recommendations is a row of movie ids, best first, padded with -1.

Per list (one user), the exercises of notebook 8:

- :func:`top_k_unseen`: the top ``k`` unseen movies of every user, from a
  ``[num_users, num_movies]`` score matrix (vectorised: one sort for all users);
- :func:`precision_at_k`, :func:`recall_at_k`, :func:`ndcg_at_k`: one user's
  list against their relevant movies;
- :func:`popularity_scores`: the most-popular baseline's scores;
- :func:`novelty`, :func:`intra_list_diversity`: beyond accuracy;

and, not exercises, :func:`catalogue_coverage`, :func:`hits_matrix` and
:func:`ranking_metrics` (the per-user metrics of every user at once, as
arrays, for :mod:`recsys_course.evaluation`).

For one held-out *label* per example (the softmax model of notebook 7):
:func:`label_hits_at_k`, :func:`label_precision_at_k`, :func:`label_recall_at_k`,
TensorFlow functions usable inside a model's metrics.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

PADDING = -1


# --- Top k ------------------------------------------------------------------------

def seen_mask(seen, shape: tuple[int, int]) -> np.ndarray:
    """A dense ``[num_users, num_movies]`` bool array from any form of ``seen``.

    ``seen`` is a ``tf.SparseTensor`` or a scipy sparse matrix (every stored
    entry counts, whatever its value, an explicit 0 included) or a dense
    array (every nonzero entry counts).
    """
    mask = np.zeros(shape, dtype=bool)
    if hasattr(seen, "indices") and hasattr(seen, "dense_shape"):  # tf.SparseTensor
        indices = np.asarray(seen.indices).reshape(-1, 2).astype(np.int64)
        mask[indices[:, 0], indices[:, 1]] = True
    elif hasattr(seen, "tocoo"):  # scipy.sparse matrix or array
        coo = seen.tocoo()
        mask[np.asarray(coo.row, np.int64), np.asarray(coo.col, np.int64)] = True
    else:
        dense = np.asarray(seen)
        if dense.shape != tuple(shape):
            raise ValueError(f"seen has shape {dense.shape}, the scores {tuple(shape)}")
        mask = dense != 0
    return mask


def top_k_unseen(scores, seen, k: int = 10) -> np.ndarray:
    """The ``k`` best-scored unseen movies of every user.

    Args:
        scores: ``[num_users, num_movies]`` numbers (numpy array or tensor).
        seen: the same shape, what each user rated in training: a
            ``tf.SparseTensor``, a scipy sparse matrix or a dense array
            (see :func:`seen_mask`).
        k: length of each list.

    Returns:
        An int64 ``[num_users, k]`` array of movie ids, best first, never a
        seen movie; ties go to the smaller movie id; a row is padded with -1
        where the user has fewer than ``k`` unseen movies.

    One stable sort of every row by score, then one stable sort that moves
    the seen movies to the end: no Python loop over users.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be [num_users, num_movies], got shape {scores.shape}")
    k = int(k)
    num_users, num_movies = scores.shape
    mask = seen_mask(seen, scores.shape)
    by_score = np.argsort(-scores, axis=1, kind="stable")
    seen_sorted = np.take_along_axis(mask, by_score, axis=1)
    unseen_first = np.argsort(seen_sorted, axis=1, kind="stable")
    order = np.take_along_axis(by_score, unseen_first, axis=1)[:, :k]
    top = np.full((num_users, k), PADDING, dtype=np.int64)
    top[:, :order.shape[1]] = order
    num_unseen = num_movies - mask.sum(axis=1)
    top[np.arange(k)[None, :] >= num_unseen[:, None]] = PADDING
    return top


# --- One user's list ----------------------------------------------------------------

def _id_set(relevant) -> set[int]:
    """The distinct movie ids of any collection (a Series counts by its values)."""
    if isinstance(relevant, (pd.Series, pd.Index)):
        values = relevant.to_numpy()
    elif isinstance(relevant, np.ndarray):
        values = relevant
    else:  # a list, a set, a tensor, any iterable
        values = list(relevant)
    return {int(m) for m in np.asarray(values).reshape(-1)}


def _first_k(recommended, k: int) -> list[int]:
    return [int(m) for m in np.asarray(recommended).reshape(-1)[:int(k)]]


def _hits(recommended, relevant: set[int], k: int) -> np.ndarray:
    """1.0 at each of the first ``k`` ranks that holds a relevant movie (never padding)."""
    return np.array([m != PADDING and m in relevant for m in _first_k(recommended, k)], float)


def precision_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Hits among the first ``k`` recommendations, divided by ``k`` (0 with no relevant movie)."""
    return float(_hits(recommended, _id_set(relevant), k).sum() / int(k))


def recall_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Hits among the first ``k`` divided by the number of relevant movies (nan with none)."""
    relevant = _id_set(relevant)
    if not relevant:
        return float("nan")
    return float(_hits(recommended, relevant, k).sum() / len(relevant))


def dcg_discounts(k: int) -> np.ndarray:
    """``1 / log2(rank + 1)`` for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, int(k) + 2))


def ndcg_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Normalized discounted cumulative gain with binary gains (nan with no relevant movie).

    ``DCG = sum over the first k ranks r holding a relevant movie of 1/log2(r + 1)``,
    divided by the DCG of ``min(k, number relevant)`` hits at the top.
    """
    relevant = _id_set(relevant)
    if not relevant:
        return float("nan")
    hits = _hits(recommended, relevant, k)
    ideal = dcg_discounts(min(int(k), len(relevant))).sum()
    return float((hits * dcg_discounts(int(k))[:len(hits)]).sum() / ideal)


# --- Beyond accuracy ---------------------------------------------------------------

def popularity_scores(train_ratings: pd.DataFrame, num_movies: int) -> np.ndarray:
    """Float array ``[num_movies]``: each movie's number of training ratings (0 for none)."""
    ids = np.asarray(train_ratings["movie_id"], dtype=np.int64)
    return np.bincount(ids, minlength=int(num_movies)).astype(np.float64)


def novelty(recommended, train_counts, num_users: int) -> float:
    """Mean self-information ``-log2((count + 1) / (num_users + 1))`` of the recommended movies.

    Over every non-padding id of ``recommended`` (``[num_users, k]``); nan if none.
    A movie everybody rated carries about 0 bits; one nobody rated ``log2(num_users + 1)``.
    """
    ids = np.asarray(recommended, dtype=np.int64).reshape(-1)
    ids = ids[ids != PADDING]
    if ids.size == 0:
        return float("nan")
    counts = np.asarray(train_counts, dtype=np.float64)[ids]
    return float(np.mean(-np.log2((counts + 1.0) / (float(num_users) + 1.0))))


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return np.divide(embeddings, norms, out=np.zeros_like(embeddings), where=norms > 0)


def intra_list_diversity(recommended, item_embeddings) -> float:
    """Mean over users of the mean pairwise cosine distance within their list.

    Padding (-1) is skipped, users with fewer than two movies too (nan if no
    user is left). A movie with a zero embedding has cosine similarity 0
    with everything. Vectorised: for unit vectors ``x_1..x_n``,
    ``sum_{a<b} <x_a, x_b> = (|sum x|^2 - sum |x|^2) / 2``.
    """
    top = np.asarray(recommended, dtype=np.int64)
    if top.ndim == 1:
        top = top[None, :]
    unit = _unit_rows(np.asarray(item_embeddings, dtype=np.float64))
    valid = top != PADDING
    vectors = unit[np.where(valid, top, 0)] * valid[:, :, None]
    sizes = valid.sum(axis=1)
    total = vectors.sum(axis=1)
    similarity_sum = (np.einsum("ud,ud->u", total, total)
                      - np.einsum("ukd,ukd->u", vectors, vectors)) / 2.0
    pairs = sizes * (sizes - 1) / 2.0
    keep = sizes >= 2
    if not keep.any():
        return float("nan")
    return float(np.mean(1.0 - similarity_sum[keep] / pairs[keep]))


def catalogue_coverage(recommended, num_movies: int) -> float:
    """Fraction of the catalogue that appears in at least one list."""
    ids = np.asarray(recommended, dtype=np.int64).reshape(-1)
    return float(np.unique(ids[ids != PADDING]).size / int(num_movies))


# --- Every user at once -------------------------------------------------------------

def hits_matrix(recommended, relevant: np.ndarray) -> np.ndarray:
    """``[num_users, k]`` bool: whether each recommended movie is relevant to its user.

    ``relevant`` is a dense ``[num_users, num_movies]`` bool array; padding is never a hit.
    """
    top = np.asarray(recommended, dtype=np.int64)
    valid = top != PADDING
    rows = np.arange(top.shape[0])[:, None]
    return np.asarray(relevant, bool)[rows, np.where(valid, top, 0)] & valid


def ranking_metrics(recommended, relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user precision, recall and nDCG at ``k`` for every user at once.

    The same values as :func:`precision_at_k`, :func:`recall_at_k` and
    :func:`ndcg_at_k` called user by user (nan recall and nDCG for users
    without a relevant movie). ``recommended`` needs at least ``k`` columns
    (padding counts as misses).
    """
    relevant = np.asarray(relevant, bool)
    hits = hits_matrix(np.asarray(recommended)[:, :int(k)], relevant).astype(np.float64)
    num_relevant = relevant.sum(axis=1)
    discounts = dcg_discounts(k)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(num_relevant, int(k))]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(num_relevant > 0, hits.sum(axis=1) / num_relevant, np.nan)
        ndcg = np.where(num_relevant > 0, (hits * discounts[:hits.shape[1]]).sum(axis=1) / ideal,
                        np.nan)
    return {"precision": hits.sum(axis=1) / float(k), "recall": recall, "ndcg": ndcg}


# --- One held-out label per example (notebook 7) -------------------------------------

def label_hits_at_k(logits, labels, k: int = 10, exclude=None):
    """``[batch]`` float32 tensor: 1 where the label is among the ``k`` highest logits.

    ``exclude``, a ``[batch, num_movies]`` mask (nonzero = exclude), takes
    movies out of the ranking: the movies of the input bag, which the user
    has already rated (the label never is one of them). Ties are broken
    in favour of the lower movie id.
    """
    import tensorflow as tf  # only these functions need TensorFlow

    logits = tf.convert_to_tensor(logits, tf.float32)
    if exclude is not None:
        logits = tf.where(tf.cast(exclude, tf.bool), tf.constant(-np.inf, tf.float32), logits)
    k = min(int(k), int(logits.shape[1]))
    _, top = tf.math.top_k(logits, k=k)
    labels = tf.cast(labels, top.dtype)[:, None]
    return tf.reduce_max(tf.cast(tf.equal(top, labels), tf.float32), axis=1)


def label_recall_at_k(logits, labels, k: int = 10, exclude=None):
    """Fraction of the labels found in the top ``k`` (the hit rate, with one label per example)."""
    import tensorflow as tf

    return tf.reduce_mean(label_hits_at_k(logits, labels, k, exclude))


def label_precision_at_k(logits, labels, k: int = 10, exclude=None):
    """Fraction of the top ``k`` that are labels, averaged over the examples.

    With one label per example at most one of the ``k`` can be right, so
    precision@k = recall@k / k <= 1/k.
    """
    import tensorflow as tf

    return tf.reduce_mean(label_hits_at_k(logits, labels, k, exclude)) / float(k)
