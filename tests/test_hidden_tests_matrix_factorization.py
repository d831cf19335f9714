"""The hidden-test helpers of notebook 4's hand gradient step (grader/hidden_tests/matrix_factorization.py).

The reference step agrees with the formula written out; the autodiff trap catches every route to
TensorFlow's automatic differentiation, lets a hand-written answer run, and restores TensorFlow.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from grader.hidden_tests import common
from grader.hidden_tests import matrix_factorization as hidden
from recsys_course.cfmodel import CFModel
from recsys_course.losses import observed_mse


def step_by_matrices(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    """A hand-written answer: E V and E^T U with a sparse matrix of errors."""
    indices = sparse_ratings.indices
    predictions = tf.reduce_sum(tf.gather(user_embeddings, indices[:, 0])
                                * tf.gather(movie_embeddings, indices[:, 1]), axis=1)
    errors = tf.SparseTensor(indices, sparse_ratings.values - predictions, sparse_ratings.dense_shape)
    scale = -2.0 / tf.cast(tf.size(predictions), tf.float32)
    return (user_embeddings - learning_rate * scale * tf.sparse.sparse_dense_matmul(errors, movie_embeddings),
            movie_embeddings - learning_rate * scale * tf.sparse.sparse_dense_matmul(
                errors, user_embeddings, adjoint_a=True))


def step_by_numpy(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    """A hand-written answer in NumPy, float64, with np.add.at."""
    indices = sparse_ratings.indices.numpy()
    U, V = user_embeddings.numpy().astype(np.float64), movie_embeddings.numpy().astype(np.float64)
    users, movies = indices[:, 0], indices[:, 1]
    errors = sparse_ratings.values.numpy() - np.einsum("nd,nd->n", U[users], V[movies])
    gradient_U, gradient_V = np.zeros_like(U), np.zeros_like(V)
    np.add.at(gradient_U, users, errors[:, None] * V[movies])
    np.add.at(gradient_V, movies, errors[:, None] * U[users])
    scale = -2.0 / len(errors)
    return U - learning_rate * scale * gradient_U, V - learning_rate * scale * gradient_V


def by_tape(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    U, V = tf.Variable(user_embeddings), tf.Variable(movie_embeddings)
    with tf.GradientTape() as tape:
        loss = observed_mse(sparse_ratings, U, V)
    gradient_U, gradient_V = tape.gradient(loss, [U, V])
    return U - learning_rate * gradient_U, V - learning_rate * gradient_V


def by_autodiff_alias(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    from tensorflow.python.eager.backprop import GradientTape as Tape

    U, V = tf.Variable(user_embeddings), tf.Variable(movie_embeddings)
    with Tape() as tape:
        loss = observed_mse(sparse_ratings, U, V)
    gradient_U, gradient_V = tape.gradient(loss, [U, V])
    return U - learning_rate * gradient_U, V - learning_rate * gradient_V


def by_keras_minimize(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    U, V = tf.Variable(user_embeddings), tf.Variable(movie_embeddings)
    optimizer = keras.optimizers.SGD(learning_rate)
    with tf.GradientTape() as tape:  # Keras 3 has no minimize for TF: what a student would write
        loss = observed_mse(sparse_ratings, U, V)
    optimizer.apply_gradients(zip(tape.gradient(loss, [U, V]), [U, V]))
    return U.value(), V.value()


def by_cfmodel(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    U, V = tf.Variable(user_embeddings), tf.Variable(movie_embeddings)
    CFModel({"user_id": U, "movie_id": V}, lambda: observed_mse(sparse_ratings, U, V)).train(
        1, learning_rate, plot_results=False)
    return U.value(), V.value()


def by_tf_gradients(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    @tf.function
    def gradients(U, V):
        return tf.gradients(observed_mse(sparse_ratings, U, V), [U, V])

    gradient_U, gradient_V = gradients(user_embeddings, movie_embeddings)
    return user_embeddings - learning_rate * gradient_U, movie_embeddings - learning_rate * gradient_V


def by_forward_accumulator(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    with tf.autodiff.ForwardAccumulator(user_embeddings, tf.ones_like(user_embeddings)):
        observed_mse(sparse_ratings, user_embeddings, movie_embeddings)
    return user_embeddings, movie_embeddings


def by_tape_with_a_fallback(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    try:
        return by_tape(sparse_ratings, user_embeddings, movie_embeddings, learning_rate)
    except Exception:  # noqa: BLE001 - what an answer dodging the trap would write
        return step_by_matrices(sparse_ratings, user_embeddings, movie_embeddings, learning_rate)


@tf.function(reduce_retracing=True)
def traced_tape(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    with tf.GradientTape() as tape:
        tape.watch([user_embeddings, movie_embeddings])
        loss = observed_mse(sparse_ratings, user_embeddings, movie_embeddings)
    gradient_U, gradient_V = tape.gradient(loss, [user_embeddings, movie_embeddings])
    return user_embeddings - learning_rate * gradient_U, movie_embeddings - learning_rate * gradient_V


CASE = common.random_rating_case(3, 9, 13, 40, 4, scale=0.5, unrated=2)


def test_reference_step_is_the_formula():
    indices, values, users, movies = CASE
    expected_U, expected_V = hidden._reference_step(indices, values, users, movies, 0.7)
    assert expected_U.dtype == np.float64 and expected_U.shape == users.shape
    sparse = tf.SparseTensor(indices, values, [len(users), len(movies)])
    got_U, got_V = step_by_numpy(sparse, tf.constant(users), tf.constant(movies), 0.7)
    np.testing.assert_allclose(expected_U, got_U, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(expected_V, got_V, rtol=1e-5, atol=1e-6)
    # The library's loss (its own hand-written gradient) agrees through the tape.
    tape_U, tape_V = by_tape(tf.sparse.reorder(sparse), tf.constant(users), tf.constant(movies), 0.7)
    np.testing.assert_allclose(expected_U, tape_U.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(expected_V, tape_V.numpy(), rtol=1e-4, atol=1e-5)


def test_random_rating_case_leaves_the_last_rows_unrated_and_has_no_duplicate_cell():
    indices, values, users, movies = CASE
    assert users.shape == (9, 4) and movies.shape == (13, 4) and len(values) == 40
    assert indices[:, 0].max() < 7 and indices[:, 1].max() < 11
    assert len({tuple(row) for row in indices.tolist()}) == 40
    assert set(values.tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


@pytest.mark.parametrize("answer", [step_by_matrices, step_by_numpy, tf.function(step_by_matrices)])
def test_a_hand_written_step_runs_under_the_trap(answer):
    indices, values, users, movies = CASE
    got_U, got_V = hidden._step_by_hand(answer, indices, values, users, movies, 0.7)
    expected_U, expected_V = hidden._reference_step(indices, values, users, movies, 0.7)
    np.testing.assert_allclose(got_U, expected_U, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_V, expected_V, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("answer", [by_tape, by_autodiff_alias, by_keras_minimize, by_cfmodel, by_tf_gradients,
                                    by_forward_accumulator, by_tape_with_a_fallback, traced_tape])
def test_the_trap_catches_automatic_differentiation_and_restores_it(answer):
    indices, values, users, movies = CASE
    sparse = tf.SparseTensor(indices, values, [len(users), len(movies)])
    if answer is traced_tape:  # traced before the test, outside the trap: its Python still runs
        answer(sparse, tf.constant(users), tf.constant(movies), 0.7)
    with pytest.raises(hidden._AutodiffError, match="automatic differentiation"):
        hidden._step_by_hand(answer, indices, values, users, movies, 0.7)
    # TensorFlow works again afterwards.
    new_U, _ = by_tape(tf.sparse.reorder(sparse), tf.constant(users), tf.constant(movies), 0.7)
    assert new_U.shape == users.shape
    for function in hidden._autodiff_entry_points().values():
        assert hidden._AUTODIFF_TRAP_GLOBAL not in function.__globals__
        assert function.__code__.co_name != "_trapped"


@pytest.mark.parametrize("result, message", [
    (None, "must return a pair"),
    (0, "must return a pair"),
    ((np.zeros((9, 4)),), "must return a pair"),
    ((np.zeros((9, 4)), [[0.0]]), "expected a tensor or a NumPy array"),
    ((np.zeros((9, 4), dtype=int), np.zeros((13, 4))), "expected floats"),
    ((np.zeros((4, 9)), np.zeros((13, 4))), "shape"),
])
def test_step_by_hand_checks_the_format(result, message):
    indices, values, users, movies = CASE
    with pytest.raises(AssertionError, match=message):
        hidden._step_by_hand(lambda *args: result, indices, values, users, movies, 0.7)
