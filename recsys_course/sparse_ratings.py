"""The rating matrix as a ``tf.SparseTensor``.

>>> sparse_ratings = build_rating_sparse_tensor(ratings, num_users=len(users), num_movies=len(movies))

Row ``i`` of the matrix is user ``i``, column ``j`` movie ``j`` (the course's
ids start at 0, so they are the positions); only the rated entries are
stored. This is the reference for the exercise of notebook 2, used by the
later notebooks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf


def build_rating_sparse_tensor(ratings_df: pd.DataFrame, num_users: int,
                               num_movies: int) -> tf.SparseTensor:
    """Return the ratings as a ``[num_users, num_movies]`` sparse tensor.

    Args:
        ratings_df: a DataFrame with (at least) the columns ``user_id``,
            ``movie_id`` (0-based integer ids) and ``rating``; one row per rated
            (user, movie) pair.
        num_users, num_movies: the shape of the matrix. They are given, not
            inferred from the largest ids: the last users or movies may have
            no rating in ``ratings_df`` (a test split, say).

    Returns:
        A ``tf.SparseTensor`` with int64 indices ``[user_id, movie_id]``,
        float32 values and dense shape ``[num_users, num_movies]``, its
        indices in canonical (row-major) order, so that ops that need sorted
        indices, like ``tf.sparse.to_dense``, accept it directly.
    """
    indices = ratings_df[["user_id", "movie_id"]].to_numpy(dtype=np.int64)
    values = ratings_df["rating"].to_numpy(dtype=np.float32)
    if len(indices) and (indices.min() < 0 or indices[:, 0].max() >= num_users
                         or indices[:, 1].max() >= num_movies):
        raise ValueError(f"ids out of range for a [{num_users}, {num_movies}] matrix")
    sparse = tf.SparseTensor(indices=indices, values=values,
                             dense_shape=[int(num_users), int(num_movies)])
    return tf.sparse.reorder(sparse)
