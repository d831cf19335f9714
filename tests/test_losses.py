"""observed_mse's gradient for wide embeddings (multiplied in column blocks)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from recsys_course.losses import FAST_SPARSE_MATMUL_COLUMNS, observed_mse


@pytest.mark.parametrize("dim", [FAST_SPARSE_MATMUL_COLUMNS, FAST_SPARSE_MATMUL_COLUMNS + 1, 70])
def test_gradient_matches_the_straightforward_loss_for_any_width(dim):
    rng = np.random.default_rng(dim)
    # Big enough that observed_mse takes its sparse (not its dense) route.
    num_users, num_movies, num_ratings = 900, 1600, 3000
    cells = rng.choice(num_users * num_movies, num_ratings, replace=False)
    indices = np.stack([cells // num_movies, cells % num_movies], axis=1).astype(np.int64)
    ratings = tf.SparseTensor(indices, rng.integers(1, 6, num_ratings).astype(np.float32),
                              [num_users, num_movies])
    U = tf.Variable(rng.normal(0, 0.5, (num_users, dim)).astype(np.float32))
    V = tf.Variable(rng.normal(0, 0.5, (num_movies, dim)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        fast = observed_mse(ratings, U, V)
        predictions = tf.reduce_sum(tf.gather(U, indices[:, 0]) * tf.gather(V, indices[:, 1]), axis=1)
        reference = tf.reduce_mean(tf.square(predictions - ratings.values))
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-5)
    for variable in (U, V):
        np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(fast, variable)).numpy(),
                                   tf.convert_to_tensor(tape.gradient(reference, variable)).numpy(),
                                   rtol=1e-4, atol=1e-7)
