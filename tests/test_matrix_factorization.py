"""recsys_course.matrix_factorization: the loss routes, their costs, and the model of notebook 4."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from recsys_course import matrix_factorization as mf
from recsys_course.cfmodel import CFModel
from recsys_course.losses import observed_mse
from recsys_course.splits import split_dataframe
from recsys_course.synthetic import make_synthetic_frames


def random_ratings(seed=0, num_users=9, num_movies=14, num_ratings=40, dim=4):
    """Distinct cells in random order, ratings 1-5, and float32 embeddings."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(num_users * num_movies, size=num_ratings, replace=False)
    indices = np.stack([cells // num_movies, cells % num_movies], axis=1).astype(np.int64)
    values = rng.integers(1, 6, num_ratings).astype(np.float32)
    users = rng.normal(0, 1, (num_users, dim)).astype(np.float32)
    movies = rng.normal(0, 1, (num_movies, dim)).astype(np.float32)
    return tf.SparseTensor(indices, values, [num_users, num_movies]), users, movies


def reference_mse(sparse, users, movies):
    indices, values = sparse.indices.numpy(), sparse.values.numpy().astype(np.float64)
    predictions = np.einsum("ij,ij->i", users[indices[:, 0]].astype(np.float64),
                            movies[indices[:, 1]].astype(np.float64))
    return float(np.mean((values - predictions) ** 2))


def ratings_frame(num_users=20, num_movies=30, num_ratings=200, seed=1) -> pd.DataFrame:
    """A synthetic ratings frame in the course's form (0-based ids, float ratings)."""
    _, _, frame, _, _ = make_synthetic_frames(num_users=num_users, num_movies=num_movies,
                                              num_ratings=num_ratings, seed=seed)
    frame[["user_id", "movie_id"]] -= 1
    frame["rating"] = frame["rating"].astype(np.float64)
    return frame


# --- The two routes -----------------------------------------------------------

@pytest.mark.parametrize("route", [mf.dense_route_mse, mf.gather_route_mse])
def test_routes_give_the_observed_mse_as_a_float32_scalar(route):
    sparse, users, movies = random_ratings(seed=3)
    loss = route(sparse, tf.constant(users), tf.constant(movies))
    assert isinstance(loss, tf.Tensor) and loss.shape == () and loss.dtype == tf.float32
    assert abs(float(loss) - reference_mse(sparse, users, movies)) < 1e-4
    # the same with the indices in canonical order, and as observed_mse computes it
    assert abs(float(route(tf.sparse.reorder(sparse), users, movies)) - float(loss)) < 1e-5
    assert abs(float(observed_mse(sparse, users, movies)) - float(loss)) < 1e-4


def test_routes_have_the_same_gradients():
    sparse, users, movies = random_ratings(seed=4, num_users=12, num_movies=7)
    gradients = []
    for route in (mf.dense_route_mse, mf.gather_route_mse):
        variables = [tf.Variable(users), tf.Variable(movies)]
        with tf.GradientTape() as tape:
            loss = route(sparse, *variables)
        gradients.append([tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, variables)])
    for dense, gather in zip(*gradients):
        assert np.max(np.abs(dense - gather)) < 1e-5


def test_the_toy_example_of_notebook_3():
    sparse = tf.SparseTensor([[0, 0], [0, 2], [1, 1]], [4.0, 3.0, 5.0], [2, 3])
    users = tf.constant([[1.0, 1.0], [2.0, 0.0]])
    movies = tf.constant([[1.0, 2.0], [2.0, 0.0], [1.0, 0.0]])
    for route in (mf.dense_route_mse, mf.gather_route_mse):
        assert float(route(sparse, users, movies)) == pytest.approx(2.0)


def test_route_memory_bytes():
    sizes = mf.route_memory_bytes(num_users=943, num_movies=1682, num_ratings=100_000, embedding_dim=30)
    assert sizes == {"dense": 943 * 1682 * 4, "gather": 2 * 100_000 * 30 * 4}


def test_widen_catalogue_keeps_the_ratings():
    sparse, users, movies = random_ratings(seed=5)
    wide = mf.widen_catalogue(sparse, 3)
    assert wide.dense_shape.numpy().tolist() == [27, 42]
    assert np.array_equal(wide.indices.numpy(), sparse.indices.numpy())
    assert np.array_equal(wide.values.numpy(), sparse.values.numpy())


def test_benchmark_loss_routes_table():
    sparse, _, _ = random_ratings(seed=6, num_users=30, num_movies=40, num_ratings=300)
    routes = {"dense": mf.dense_route_mse, "gather": mf.gather_route_mse,
              "mine": lambda r, u, v: mf.gather_route_mse(r, u, v)}
    table = mf.benchmark_loss_routes(routes, sparse, embedding_dim=5, factors=(1, 2), repeats=2)
    assert list(table.columns) == ["users", "movies", "ratings", "route", "largest_intermediate_MB",
                                   "ms_per_step", "loss"]
    assert len(table) == 6 and table["route"].tolist() == ["dense", "gather", "mine"] * 2
    assert table["users"].tolist() == [30] * 3 + [60] * 3 and set(table["ratings"]) == {300}
    # every route, every size: the same error (the rated rows keep their embeddings)
    assert float(table["loss"].max() - table["loss"].min()) < 1e-4
    assert table.loc[0, "largest_intermediate_MB"] == pytest.approx(30 * 40 * 4 / 1e6)
    assert table.loc[1, "largest_intermediate_MB"] == pytest.approx(2 * 300 * 5 * 4 / 1e6)
    assert np.isnan(table.loc[2, "largest_intermediate_MB"])
    assert (table["ms_per_step"] > 0).all()


# --- The zero-filled SVD ------------------------------------------------------

def test_zero_filled_svd_matches_numpy():
    frame = ratings_frame(num_users=15, num_movies=25, num_ratings=120, seed=2)
    observed, unobserved_mean = mf.zero_filled_svd_predictions(frame, 16, 25, rank=4)
    matrix = np.zeros((16, 25))  # user 15 has no rating
    matrix[frame["user_id"], frame["movie_id"]] = frame["rating"]
    left, singular, right = np.linalg.svd(matrix, full_matrices=False)
    best = (left[:, :4] * singular[:4]) @ right[:4]
    assert np.max(np.abs(observed - best[frame["user_id"], frame["movie_id"]])) < 1e-8
    mask = matrix > 0
    assert unobserved_mean == pytest.approx(best[~mask].mean())


def test_zero_filled_svd_caps_the_rank():
    frame = ratings_frame(num_users=6, num_movies=9, num_ratings=20, seed=3)
    observed, _ = mf.zero_filled_svd_predictions(frame, 6, 9, rank=30)  # at most rank 5
    assert observed.shape == (20,) and np.all(np.isfinite(observed))


# --- Splits, embeddings and the model -----------------------------------------

def test_split_rating_tensors_from_a_frame():
    frame = ratings_frame()
    tensors = mf.split_rating_tensors(frame, holdout_fraction=0.2, seed=5)
    assert (tensors.num_users, tensors.num_movies) == (20, 30)
    train, test = split_dataframe(frame, 0.2, 5)
    for sparse, part in [(tensors.train, train), (tensors.test, test)]:
        assert sparse.dense_shape.numpy().tolist() == [20, 30]
        got = {tuple(i): v for i, v in zip(sparse.indices.numpy().tolist(), sparse.values.numpy())}
        want = {(u, m): r for u, m, r in part[["user_id", "movie_id", "rating"]].itertuples(index=False)}
        assert got == want


def test_split_rating_tensors_sizes_and_ready_splits():
    frame = ratings_frame()
    train, test = split_dataframe(frame)
    tensors = mf.split_rating_tensors(train_ratings=train, test_ratings=test, num_users=25, num_movies=40)
    assert tensors.train.dense_shape.numpy().tolist() == [25, 40]
    assert int(tf.size(tensors.test.values)) == len(test)
    with pytest.raises(ValueError):
        mf.split_rating_tensors(frame, train_ratings=train, test_ratings=test)
    with pytest.raises(ValueError):
        mf.split_rating_tensors(train_ratings=train)
    with pytest.raises(ValueError):
        mf.split_rating_tensors()


def test_init_embeddings():
    variable = mf.init_embeddings(300, 20, 0.3, seed=1, name="user_id")
    assert isinstance(variable, tf.Variable) and variable.dtype == tf.float32
    assert tuple(variable.shape) == (300, 20)
    values = variable.numpy()
    assert abs(values.std() / 0.3 - 1) < 0.05 and abs(values.mean()) < 0.02
    assert np.array_equal(values, mf.init_embeddings(300, 20, 0.3, seed=1).numpy())
    assert not np.array_equal(values, mf.init_embeddings(300, 20, 0.3, seed=2).numpy())


def test_build_mf_model_structure():
    frame = ratings_frame()
    model = mf.build_mf_model(frame, embedding_dim=5, init_stddev=0.2, init_seed=0)
    assert isinstance(model, CFModel)
    assert {name: tuple(v.shape) for name, v in model.embedding_vars.items()} == {
        "user_id": (20, 5), "movie_id": (30, 5)}
    assert [sorted(panel) for panel in model.metrics] == [["test_error", "train_error"]]
    assert abs(model.embeddings["movie_id"].std() / 0.2 - 1) < 0.2
    wide = mf.build_mf_model(frame, num_users=25, num_movies=33, embedding_dim=2)
    assert tuple(wide.embedding_vars["user_id"].shape) == (25, 2)
    assert tuple(wide.embedding_vars["movie_id"].shape) == (33, 2)


def test_build_mf_model_errors_are_train_and_test_mse():
    frame = ratings_frame()
    model = mf.build_mf_model(frame, embedding_dim=4, seed=3, init_seed=1)
    users, movies = model.embeddings["user_id"], model.embeddings["movie_id"]
    train, test = split_dataframe(frame, 0.1, 3)

    def mse(part):
        predictions = np.einsum("ij,ij->i", users[part["user_id"]], movies[part["movie_id"]])
        return float(np.mean((part["rating"] - predictions) ** 2))

    metrics = model.metrics[0]
    assert float(model.loss()) == pytest.approx(mse(train), rel=1e-4)
    assert float(metrics["train_error"]()) == pytest.approx(mse(train), rel=1e-4)
    assert float(metrics["test_error"]()) == pytest.approx(mse(test), rel=1e-4)


def test_build_mf_model_with_a_ready_split_trains():
    frame = ratings_frame(num_users=30, num_movies=40, num_ratings=400, seed=4)
    train, test = split_dataframe(frame, 0.1, 0)
    model = mf.build_mf_model(train_ratings=train, test_ratings=test, embedding_dim=3,
                              init_stddev=0.5, init_seed=2)
    before = float(model.metrics[0]["train_error"]())
    results = model.train(num_iterations=20, learning_rate=1.0, plot_results=False)
    assert results["train_error"] < 0.8 * before
    assert set(model.history["metric"]) == {"train_error", "test_error"}


def test_plot_histories():
    frame = ratings_frame()
    models = {}
    for label, stddev in [("a", 0.5), ("b", 0.05)]:
        models[label] = mf.build_mf_model(frame, embedding_dim=3, init_stddev=stddev, init_seed=0)
        models[label].train(num_iterations=4, learning_rate=1.0, plot_results=False)
    chart = mf.plot_histories(models)
    assert isinstance(chart, alt.Chart)
    data = chart.data
    assert set(data["model"]) == {"a", "b"} and set(data["metric"]) == {"train_error", "test_error"}
    only_test = mf.plot_histories(models, metrics=["test_error"]).data
    assert set(only_test["metric"]) == {"test_error"}
    chart.to_dict()  # a valid Vega-Lite spec
