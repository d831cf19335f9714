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


def test_ratings_are_prepared_once_per_tensor(monkeypatch):
    """Sorting the ratings is done once per sparse tensor, however often the loss is traced."""
    from recsys_course import losses

    rng = np.random.default_rng(0)
    indices = np.array([[2, 1], [0, 3], [1, 0], [0, 1]], dtype=np.int64)  # not in canonical order
    ratings = tf.SparseTensor(indices, np.array([1.0, 2.0, 3.0, 4.0], np.float32), [3, 4])
    U = tf.Variable(rng.normal(size=(3, 2)).astype(np.float32))
    V = tf.Variable(rng.normal(size=(4, 2)).astype(np.float32))
    reorders = []
    original = tf.sparse.reorder
    monkeypatch.setattr(tf.sparse, "reorder", lambda sp: reorders.append(1) or original(sp))
    first = observed_mse(ratings, U, V)
    # The closure's `ratings` is deleted below on purpose: the cache must not keep it alive.
    traced = tf.function(lambda: observed_mse(ratings, U, V))()  # noqa: F821
    assert len(reorders) == 1
    np.testing.assert_allclose(traced.numpy(), first.numpy(), rtol=1e-6)
    expected = np.mean([(U.numpy()[i] @ V.numpy()[j] - r) ** 2
                        for (i, j), r in zip(indices, [1.0, 2.0, 3.0, 4.0])])
    np.testing.assert_allclose(first.numpy(), expected, rtol=1e-5)
    other = tf.SparseTensor(indices[:2], np.array([5.0, 1.0], np.float32), [3, 4])
    observed_mse(other, U, V)  # another tensor: prepared anew
    assert len(reorders) == 2
    # The cache does not keep tensors alive. (Asked of this test's tensors: other tests may
    # still hold theirs, so the cache's size says nothing.)
    import gc
    import weakref

    prepared = [weakref.ref(ratings), weakref.ref(other)]
    assert all(ref() in losses._prepared for ref in prepared)
    del ratings, other, traced
    gc.collect()
    assert [ref() for ref in prepared] == [None, None]


@pytest.mark.parametrize("xla_forward", [True, False], ids=["xla-forward", "plain-forward"])
def test_dense_route_forward_with_and_without_xla_in_a_graph(monkeypatch, xla_forward):
    """Large rating sets compute the dense route's forward pass with XLA inside the graph."""
    from recsys_course import losses

    monkeypatch.setattr(losses, "XLA_FORWARD_MIN_RATINGS", 0 if xla_forward else None)
    rng = np.random.default_rng(5)
    num_users, num_movies, num_ratings = 30, 40, 500
    cells = rng.choice(num_users * num_movies, num_ratings, replace=False)
    indices = np.stack([cells // num_movies, cells % num_movies], axis=1).astype(np.int64)
    ratings = tf.SparseTensor(indices, rng.integers(1, 6, num_ratings).astype(np.float32),
                              [num_users, num_movies])
    U = tf.Variable(rng.normal(0, 0.5, (num_users, 4)).astype(np.float32))
    V = tf.Variable(rng.normal(0, 0.5, (num_movies, 4)).astype(np.float32))

    @tf.function
    def fast():
        with tf.GradientTape() as tape:
            loss = 2.0 * observed_mse(ratings, U, V)
        return loss, tape.gradient(loss, [U, V])

    loss, gradients = fast()
    assert (losses._prepared[ratings][num_movies].xla_errors is not None) == xla_forward
    with tf.GradientTape() as tape:
        predictions = tf.reduce_sum(tf.gather(U, indices[:, 0]) * tf.gather(V, indices[:, 1]), axis=1)
        reference = 2.0 * tf.reduce_mean(tf.square(predictions - ratings.values))
    np.testing.assert_allclose(loss.numpy(), reference.numpy(), rtol=1e-5)
    for got, want in zip(gradients, tape.gradient(reference, [U, V])):
        np.testing.assert_allclose(tf.convert_to_tensor(got).numpy(),
                                   tf.convert_to_tensor(want).numpy(), rtol=1e-4, atol=1e-7)
