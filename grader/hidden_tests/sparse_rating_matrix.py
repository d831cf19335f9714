"""Hidden-test helpers of notebook 2 (the rating matrix as a sparse tensor): build_rating_sparse_tensor.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import numpy as np
import pandas as pd
import tensorflow as tf


def _ratings(seed, num_users, num_movies, num_ratings, rated_users=None, rated_movies=None):
    """Distinct random pairs among the first rated_users x rated_movies ids (the others
    have no rating), half-star ratings, shuffled rows, extra column, odd column order."""
    rng = np.random.default_rng(seed)
    rated_users, rated_movies = rated_users or num_users, rated_movies or num_movies
    flat = rng.choice(rated_users * rated_movies, size=num_ratings, replace=False)
    return pd.DataFrame({
        "rating": rng.integers(2, 11, num_ratings) / 2,
        "unix_timestamp": rng.integers(800_000_000, 900_000_000, num_ratings),
        "movie_id": flat % rated_movies,
        "user_id": flat // rated_movies,
    }, index=rng.permutation(num_ratings) + 77)


def _checked(result):
    """The answer, after checking it is a tf.SparseTensor."""
    assert isinstance(result, tf.SparseTensor), f"expected a tf.SparseTensor, got {type(result).__name__}"
    return result


def _canonical(sparse):
    """Indices (int64) and values (float64) in row-major order."""
    ordered = tf.sparse.reorder(_checked(sparse))
    return (np.asarray(ordered.indices.numpy(), dtype=np.int64),
            np.asarray(ordered.values.numpy(), dtype=np.float64))


def _reference(table):
    """The table's (user, movie) keys in row-major order and their ratings."""
    keys = table[["user_id", "movie_id"]].to_numpy(dtype=np.int64)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    return keys[order], table["rating"].to_numpy(dtype=np.float64)[order]
