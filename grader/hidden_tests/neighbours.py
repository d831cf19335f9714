"""Hidden-test helpers of notebook 11 (neighbourhoods and Spark).

References written plainly (loops over movies and users, float64), independent of
``recsys_course.neighbours``, small hand-made and random rating frames. Inlined
into the hidden cells at release (see ``grader/inline_hidden_helpers.py``):
top-level definitions only. The guard against the library's versions
of the exercises is ``common.forbid_library`` (table ``common.LIBRARY_VERSIONS``).
"""

import math

import numpy as np
import pandas as pd
import tensorflow as tf

from grader.hidden_tests.common import as_number


def ratings_frame(rows):
    """A ratings frame with the course's columns from ``(user_id, movie_id, rating)`` triples."""
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    return frame.astype({"user_id": np.int64, "movie_id": np.int64, "rating": np.float64})


def random_ratings(num_users, num_movies, density, seed, shuffle=True):
    """Random ratings 1-5 on a random ``density`` share of the cells, rows in random order."""
    rng = np.random.default_rng(seed)
    cells = np.flatnonzero(rng.random(num_users * num_movies) < density)
    users, movies = np.divmod(cells, num_movies)
    frame = ratings_frame({"user_id": users, "movie_id": movies,
                           "rating": rng.integers(1, 6, size=len(cells)).astype(np.float64)})
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame


def reference_item_similarity(ratings, num_movies):
    """Cosine of the movies' mean-centred rating vectors, by loops; 0 for an all-zero vector."""
    user_ids = sorted(set(int(u) for u in ratings["user_id"]))
    position = {user: row for row, user in enumerate(user_ids)}
    centred = np.zeros((len(user_ids), num_movies))
    for user in user_ids:
        mine = ratings[ratings["user_id"] == user]
        mean = float(mine["rating"].mean())
        for movie, rating in zip(mine["movie_id"], mine["rating"]):
            centred[position[user], int(movie)] = float(rating) - mean
    similarity = np.zeros((num_movies, num_movies))
    norms = [math.sqrt(float(np.dot(centred[:, j], centred[:, j]))) for j in range(num_movies)]
    for i in range(num_movies):
        for j in range(num_movies):
            if norms[i] > 1e-9 and norms[j] > 1e-9:
                similarity[i, j] = float(np.dot(centred[:, i], centred[:, j])) / (norms[i] * norms[j])
    return similarity


def reference_knn_predict(similarity, train_ratings, user_id, movie_id, k=20):
    """The k-nearest-neighbour prediction by the contract of notebook 11, by a plain sort."""
    similarity = np.asarray(similarity, dtype=np.float64)
    mine = train_ratings[train_ratings["user_id"] == user_id]
    if len(mine) == 0:
        return float(train_ratings["rating"].mean())
    candidates = [(float(similarity[movie_id, int(m)]), int(m), float(r))
                  for m, r in zip(mine["movie_id"], mine["rating"])
                  if int(m) != movie_id and similarity[movie_id, int(m)] > 0]
    if not candidates:
        return float(mine["rating"].mean())
    chosen = sorted(candidates, key=lambda c: (-c[0], c[1]))[:k]
    return sum(s * r for s, _, r in chosen) / sum(s for s, _, _ in chosen)


def as_similarity_matrix(result, num_movies):
    """The answer of item_similarity as a float64 numpy array, after checking its type and shape."""
    if isinstance(result, (tf.Tensor, tf.Variable)):
        result = result.numpy()
    assert isinstance(result, np.ndarray), (
        f"item_similarity: expected a numpy array (or a tensor), got {type(result).__name__}")
    assert result.dtype.kind == "f", f"item_similarity: expected a float array, got dtype {result.dtype}"
    assert result.shape == (num_movies, num_movies), (
        f"item_similarity: expected shape {(num_movies, num_movies)}, got {result.shape}")
    return result.astype(np.float64)


def as_prediction(result):
    """The answer of knn_predict as a finite Python float, after checking it is one number."""
    value = as_number(result, "knn_predict")
    assert math.isfinite(value), f"knn_predict: got {value}"
    return value


def random_similarity(num_movies, seed):
    """A symmetric random similarity matrix with entries in [-1, 1], distinct, and 1 on the diagonal."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.uniform(-1.0, 1.0, size=(num_movies, num_movies)), 1)
    return upper + upper.T + np.eye(num_movies)
