"""Item-based k nearest neighbours: the memory-based method of notebook 11.

>>> similarity = item_similarity(train, num_movies)          # [num_movies, num_movies]
>>> knn_predict(similarity, train, user_id=0, movie_id=49)   # one rating, a float
>>> predictor = KnnPredictor(similarity, train, k=20)
>>> predictor.predict(test["user_id"], test["movie_id"])     # many at once, the same values

The reference for the exercises of notebook 11. The rules:

- **Similarity.** Each user's mean rating is subtracted from their ratings
  (the *centred* ratings), and each movie becomes the vector of its centred
  ratings over all users (0 where a user did not rate it). Two movies'
  similarity is the cosine of their vectors ("adjusted cosine"). A movie
  whose vector is all zeros (nobody rated it, or only users who gave every
  movie the same rating) has similarity 0 with every movie, itself included.
- **Prediction.** To predict user ``u``'s rating of movie ``j``, take the
  other movies ``u`` rated (``j`` itself excluded) whose similarity with
  ``j`` is positive, keep the ``k`` most similar (ties at the ``k``-th place
  broken by the smaller movie id), and return the mean of ``u``'s ratings of
  them weighted by their similarities. When no movie qualifies, return
  ``u``'s mean training rating; for a user with no training rating, the mean
  of all training ratings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

# A centred vector whose norm is below this is all zeros up to rounding.
ZERO_NORM = 1e-9


def centred_rating_matrix(ratings: pd.DataFrame, num_movies: int) -> sp.csr_matrix:
    """``[num_users, num_movies]`` sparse matrix of the ratings minus each user's mean rating."""
    users = ratings["user_id"].to_numpy(dtype=np.int64)
    movies = ratings["movie_id"].to_numpy(dtype=np.int64)
    values = ratings["rating"].to_numpy(dtype=np.float64)
    num_users = int(users.max()) + 1 if len(users) else 0
    sums = np.bincount(users, weights=values, minlength=num_users)
    counts = np.bincount(users, minlength=num_users)
    means = sums / np.maximum(counts, 1)
    return sp.csr_matrix((values - means[users], (users, movies)), shape=(num_users, num_movies))


def item_similarity(ratings: pd.DataFrame, num_movies: int) -> np.ndarray:
    """Cosine similarity of the movies' mean-centred rating vectors: dense ``[num_movies, num_movies]`` float64.

    Args:
        ratings: the course's ratings frame (``user_id``, ``movie_id``, ``rating``).
        num_movies: the number of movies (given, not inferred: the last movies may have no rating).
    """
    centred = centred_rating_matrix(ratings, num_movies)
    gram = np.asarray((centred.T @ centred).todense(), dtype=np.float64)
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    nonzero = norms > ZERO_NORM
    inverse = np.where(nonzero, 1.0 / np.where(nonzero, norms, 1.0), 0.0)
    similarity = gram * inverse[:, None] * inverse[None, :]
    return np.clip(similarity, -1.0, 1.0)


def _weighted_mean(similarities: np.ndarray, candidate_movies: np.ndarray, candidate_ratings: np.ndarray,
                   k: int) -> float | None:
    """The k-nearest-neighbour prediction from one user's candidates, or None if none qualifies."""
    positive = similarities > 0
    if not positive.any():
        return None
    similarities, movies, ratings = similarities[positive], candidate_movies[positive], candidate_ratings[positive]
    order = np.lexsort((movies, -similarities))[:k]  # most similar first, then the smaller id
    weights = similarities[order]
    return float(np.dot(weights, ratings[order]) / weights.sum())


def knn_predict(similarity, train_ratings: pd.DataFrame, user_id: int, movie_id: int, k: int = 20) -> float:
    """Predict ``user_id``'s rating of ``movie_id`` from the ``k`` most similar movies they rated.

    Args:
        similarity: ``[num_movies, num_movies]`` array (numpy or tensor), e.g. :func:`item_similarity`.
        train_ratings: the ratings the prediction may use.
        user_id, movie_id: the pair to predict.
        k: how many neighbours at most.

    Returns:
        A float: see the module's docstring for the rules and the fallbacks.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    user_rows = train_ratings[train_ratings["user_id"] == user_id]
    if len(user_rows) == 0:
        return float(train_ratings["rating"].mean())
    movies = user_rows["movie_id"].to_numpy(dtype=np.int64)
    ratings = user_rows["rating"].to_numpy(dtype=np.float64)
    others = movies != movie_id
    prediction = _weighted_mean(similarity[movie_id, movies[others]], movies[others], ratings[others], k)
    return float(ratings.mean()) if prediction is None else prediction


class KnnPredictor:
    """:func:`knn_predict` for many pairs: each user's ratings are looked up once."""

    def __init__(self, similarity, train_ratings: pd.DataFrame, k: int = 20):
        self.similarity = np.asarray(similarity, dtype=np.float64)
        self.k = k
        self.global_mean = float(train_ratings["rating"].mean())
        ordered = train_ratings.sort_values("user_id", kind="stable")
        users = ordered["user_id"].to_numpy(dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.array([], int)
        ends = np.r_[starts[1:], len(users)]
        movies = ordered["movie_id"].to_numpy(dtype=np.int64)
        ratings = ordered["rating"].to_numpy(dtype=np.float64)
        self.rated = {int(users[s]): (movies[s:e], ratings[s:e]) for s, e in zip(starts, ends)}

    def predict_one(self, user_id: int, movie_id: int) -> float:
        if int(user_id) not in self.rated:
            return self.global_mean
        movies, ratings = self.rated[int(user_id)]
        others = movies != movie_id
        prediction = _weighted_mean(self.similarity[movie_id, movies[others]], movies[others],
                                    ratings[others], self.k)
        return float(ratings.mean()) if prediction is None else prediction

    def predict(self, user_ids, movie_ids) -> np.ndarray:
        """Predictions for aligned sequences of user and movie ids."""
        return np.array([self.predict_one(u, m) for u, m in zip(np.asarray(user_ids), np.asarray(movie_ids))],
                        dtype=np.float64)
