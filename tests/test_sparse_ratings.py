"""Tests of recsys_course.sparse_ratings.build_rating_sparse_tensor (notebook 2's reference)."""

import numpy as np
import pandas as pd
import pytest

from recsys_course.notebook import quiet_tensorflow

quiet_tensorflow()
import tensorflow as tf  # noqa: E402

from recsys_course.sparse_ratings import build_rating_sparse_tensor  # noqa: E402


def random_ratings(num_users, num_movies, num_ratings, seed=0):
    """Ratings on distinct pairs, shuffled, with extra columns and a non-range index."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(num_users * num_movies, size=num_ratings, replace=False)
    return pd.DataFrame({
        "unix_timestamp": rng.integers(0, 10**9, num_ratings),
        "rating": rng.integers(1, 6, num_ratings).astype("float64"),
        "movie_id": flat % num_movies, "user_id": flat // num_movies,
    }, index=rng.permutation(num_ratings) + 500)


def test_types_and_shape_given_not_inferred():
    ratings = random_ratings(4, 6, 10)
    ratings = ratings[(ratings.user_id < 3) & (ratings.movie_id < 5)]  # last user and movie unrated
    sparse = build_rating_sparse_tensor(ratings, num_users=4, num_movies=6)
    assert isinstance(sparse, tf.SparseTensor)
    assert sparse.indices.dtype == tf.int64 and sparse.values.dtype == tf.float32
    assert sparse.dense_shape.numpy().tolist() == [4, 6]
    assert sparse.indices.shape == (len(ratings), 2)


def test_values_and_canonical_order():
    ratings = random_ratings(7, 11, 30, seed=2)
    sparse = build_rating_sparse_tensor(ratings, 7, 11)
    indices = sparse.indices.numpy()
    keys = indices[:, 0] * 11 + indices[:, 1]
    assert np.all(np.diff(keys) > 0)  # row-major order, no duplicates
    dense = np.zeros((7, 11))
    dense[ratings.user_id, ratings.movie_id] = ratings.rating
    assert np.array_equal(tf.sparse.to_dense(sparse).numpy(), dense.astype(np.float32))


def test_empty_ratings():
    sparse = build_rating_sparse_tensor(random_ratings(3, 3, 3).iloc[:0], 3, 3)
    assert sparse.indices.shape == (0, 2) and sparse.dense_shape.numpy().tolist() == [3, 3]


def test_ids_out_of_range_are_an_error():
    ratings = random_ratings(5, 4, 8)
    with pytest.raises(ValueError, match="out of range"):
        build_rating_sparse_tensor(ratings, num_users=4, num_movies=5)  # swapped shape
