"""recsys_course.regularization: gravity, L2 and the regularized model, on small synthetic data."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from recsys_course import regularization as reg  # noqa: E402
from recsys_course.cfmodel import CFModel  # noqa: E402
from recsys_course.splits import split_dataframe  # noqa: E402
from recsys_course.synthetic import make_synthetic_frames  # noqa: E402


def random_embeddings(seed, num_users, num_movies, dim):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(num_users, dim)) + 0.5, rng.normal(size=(num_movies, dim)) - 0.3)


def frame(num_users=15, num_movies=25, num_ratings=150, seed=0):
    _, _, ratings, _, _ = make_synthetic_frames(num_users=num_users, num_movies=num_movies,
                                                num_ratings=num_ratings, seed=seed)
    ratings = ratings.copy()
    ratings[["user_id", "movie_id"]] -= 1
    ratings["rating"] = ratings["rating"].astype(float)
    return ratings


@pytest.mark.parametrize("shape", [(7, 11, 3), (30, 4, 6), (1, 1, 1)])
def test_gravity_equals_its_definition(shape):
    U, V = random_embeddings(sum(shape), *shape)
    expected = np.mean((U @ V.T) ** 2)
    assert float(reg.gravity(U, V)) == pytest.approx(expected, rel=1e-10)  # float64 in, float64 out
    assert float(reg.gravity_naive(U, V)) == pytest.approx(expected, rel=1e-10)
    got32 = reg.gravity(tf.constant(U, tf.float32), tf.Variable(V.astype(np.float32)))
    assert got32.dtype == tf.float32 and float(got32) == pytest.approx(expected, rel=1e-5)


def test_gravity_gradient():
    U, V = random_embeddings(1, 9, 13, 4)
    users, movies = tf.Variable(U), tf.Variable(V)
    with tf.GradientTape() as tape:
        value = reg.gravity(users, movies)
    grad_u, grad_v = tape.gradient(value, [users, movies])
    np.testing.assert_allclose(grad_u.numpy(), 2 / (9 * 13) * U @ (V.T @ V), rtol=1e-10)
    np.testing.assert_allclose(grad_v.numpy(), 2 / (9 * 13) * V @ (U.T @ U), rtol=1e-10)


def test_gravity_builds_no_n_by_m_matrix():
    users = tf.Variable(tf.zeros([500, 3]))
    movies = tf.Variable(tf.zeros([400, 3]))
    graph = tf.function(lambda: reg.gravity(users, movies)).get_concrete_function().graph
    sizes = [out.shape.num_elements() or 0 for op in graph.get_operations() for out in op.outputs]
    assert max(sizes) <= 500 * 3
    naive = tf.function(lambda: reg.gravity_naive(users, movies)).get_concrete_function().graph
    assert max(out.shape.num_elements() or 0 for op in naive.get_operations() for out in op.outputs) == 500 * 400


def test_l2_regularization_is_a_mean_of_squared_norms():
    U, V = random_embeddings(2, 6, 10, 3)
    expected = np.sum(U ** 2) / 6 + np.sum(V ** 2) / 10
    assert float(reg.l2_regularization(U, V)) == pytest.approx(expected, rel=1e-12)
    doubled = np.concatenate([U, U])
    assert float(reg.l2_regularization(doubled, V)) == pytest.approx(expected, rel=1e-12)


def observed(ratings, U, V):
    errors = np.einsum("ij,ij->i", U[ratings["user_id"]], V[ratings["movie_id"]]) - ratings["rating"].to_numpy()
    return float(np.mean(errors ** 2))


@pytest.mark.parametrize("coefficients", [(0.1, 1.0), (0.0, 0.0), (0.7, 0.0), (0.0, 2.5)])
def test_regularized_model_loss_and_metrics(coefficients):
    reg_coeff, grav_coeff = coefficients
    ratings = frame()
    model = reg.build_regularized_model(ratings, embedding_dim=4, regularization_coeff=reg_coeff,
                                        gravity_coeff=grav_coeff, init_stddev=0.5, init_seed=3)
    assert isinstance(model, CFModel)
    U = model.embedding_vars["user_id"].numpy().astype(np.float64)
    V = model.embedding_vars["movie_id"].numpy().astype(np.float64)
    assert U.shape == (15, 4) and V.shape == (25, 4)
    train, test = split_dataframe(ratings)
    r = np.sum(U ** 2) / 15 + np.sum(V ** 2) / 25
    g = np.mean((U @ V.T) ** 2)
    expected = observed(train, U, V) + reg_coeff * r + grav_coeff * g
    assert float(model.loss()) == pytest.approx(expected, rel=1e-5)
    metrics = {name: float(fn()) for panel in model.metrics for name, fn in panel.items()}
    assert set(metrics) == set(reg.ERROR_METRICS) | set(reg.LOSS_COMPONENTS)
    assert metrics["train_error"] == pytest.approx(observed(train, U, V), rel=1e-5)
    assert metrics["test_error"] == pytest.approx(observed(test, U, V), rel=1e-5)
    assert metrics["observed_loss"] == metrics["train_error"]
    assert metrics["regularization_loss"] == pytest.approx(reg_coeff * r, rel=1e-5, abs=1e-12)
    assert metrics["gravity_loss"] == pytest.approx(grav_coeff * g, rel=1e-5, abs=1e-12)
    assert sum(metrics[name] for name in reg.LOSS_COMPONENTS) == pytest.approx(float(model.loss()), rel=1e-5)


def test_regularized_model_defaults_and_shapes():
    ratings = frame(seed=1)
    model = reg.build_regularized_model(ratings, init_seed=0)
    assert model.embedding_vars["user_id"].shape == (15, 3)
    big = reg.build_regularized_model(ratings, num_users=40, num_movies=30, embedding_dim=50, init_seed=0)
    values = big.embedding_vars["movie_id"].numpy()
    assert values.shape == (30, 50) and values.std() == pytest.approx(0.1, rel=0.1)
    train, test = split_dataframe(ratings, seed=5)
    ready = reg.build_regularized_model(train_ratings=train, test_ratings=test, num_users=15,
                                        num_movies=25, init_seed=0)
    assert ready.embedding_vars["user_id"].shape == (15, 3)


def test_regularization_shrinks_rarely_rated_movies():
    ratings = frame(num_users=40, num_movies=60, num_ratings=700, seed=2)
    plain = reg.build_regularized_model(ratings, embedding_dim=8, regularization_coeff=0.0,
                                        gravity_coeff=0.0, init_stddev=0.5, init_seed=4)
    shrunk = reg.build_regularized_model(ratings, embedding_dim=8, regularization_coeff=1.0,
                                         gravity_coeff=1.0, init_stddev=0.5, init_seed=4)
    for model in (plain, shrunk):
        before = float(model.loss())
        model.train(num_iterations=200, learning_rate=2.0, plot_results=False)
        assert float(model.loss()) < before
    norms = {label: np.linalg.norm(model.embeddings["movie_id"], axis=1)
             for label, model in [("plain", plain), ("shrunk", shrunk)]}
    assert norms["shrunk"].mean() < 0.7 * norms["plain"].mean()
    gravity = {label: float(reg.gravity(*(model.embeddings[k] for k in ("user_id", "movie_id"))))
               for label, model in [("plain", plain), ("shrunk", shrunk)]}
    assert gravity["shrunk"] < gravity["plain"]


def test_ranking_recall_counts_the_liked_heldout_movies():
    # 2 users, 4 movies; user 0 liked movie 3 in the held-out part, user 1 nothing (skipped).
    seen = pd.DataFrame({"user_id": [0, 1], "movie_id": [0, 0], "rating": [5.0, 5.0]})
    heldout = pd.DataFrame({"user_id": [0, 0, 1], "movie_id": [3, 2, 1], "rating": [5.0, 2.0, 3.0]})
    U = np.array([[1.0], [1.0]])
    good = {"user_id": U, "movie_id": np.array([[9.0], [1.0], [2.0], [3.0]])}  # movie 3 ranks first
    bad = {"user_id": U, "movie_id": np.array([[9.0], [3.0], [2.0], [1.0]])}
    assert reg.ranking_recall(good, seen, heldout, k=1) == 1.0
    assert reg.ranking_recall(bad, seen, heldout, k=1) == 0.0
    assert reg.ranking_recall(bad, seen, heldout, k=3) == 1.0


def test_validation_grid_scores_each_setting_at_each_checkpoint():
    ratings = frame(num_users=20, num_movies=30, num_ratings=300, seed=3)
    fit, validation = split_dataframe(ratings, holdout_fraction=0.2, seed=1)
    grid = reg.validation_grid(fit, validation, num_users=20, num_movies=30, regularization_coeffs=(0.1, 1.0),
                               gravity_coeffs=(0.5,), checkpoints=(5, 10), embedding_dim=3,
                               init_stddev=0.3, learning_rate=1.0)
    assert len(grid) == 4 and list(grid["iterations"]) == [5, 10, 5, 10]
    assert grid["validation_recall"].between(0, 1).all() and grid.attrs["seconds"] > 0
    # The same setting trained by hand gives the same validation MSE.
    model = reg.build_regularized_model(embedding_dim=3, regularization_coeff=1.0, gravity_coeff=0.5,
                                        init_stddev=0.3, num_users=20, num_movies=30, train_ratings=fit,
                                        test_ratings=validation, init_seed=0)
    results = model.train(num_iterations=10, learning_rate=1.0, plot_results=False)
    assert grid["validation_mse"].iloc[3] == pytest.approx(results["test_error"], rel=1e-5)
    assert grid["validation_recall"].iloc[3] == pytest.approx(reg.ranking_recall(model, fit, validation))
