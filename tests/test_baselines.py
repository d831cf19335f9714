"""recsys_course.baselines on small synthetic data with planted answers (fast, seeded)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from recsys_course import baselines  # noqa: E402
from recsys_course.splits import split_dataframe  # noqa: E402

NUM_USERS, NUM_MOVIES = 60, 80


def planted_biases(seed: int = 0, density: float = 0.5,
                   noise: float = 0.1) -> tuple[pd.DataFrame, float, np.ndarray, np.ndarray]:
    """Ratings mu + b_i + c_j + small noise on a random half of the cells."""
    rng = np.random.default_rng(seed)
    mu, b, c = 3.5, rng.normal(0, 0.5, NUM_USERS), rng.normal(0, 0.7, NUM_MOVIES)
    users, movies = np.nonzero(rng.random((NUM_USERS, NUM_MOVIES)) < density)
    ratings = mu + b[users] + c[movies] + rng.normal(0, noise, len(users))
    return pd.DataFrame({"user_id": users, "movie_id": movies, "rating": ratings}), mu, b, c


def planted_low_rank(seed: int = 0, rank: int = 3, density: float = 0.5) -> pd.DataFrame:
    """Ratings 3 + biases + a rank-3 interaction + noise: what matrix factorization can learn."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 0.8, (NUM_USERS, rank))
    V = rng.normal(0, 0.8, (NUM_MOVIES, rank))
    b, c = rng.normal(0, 0.3, NUM_USERS), rng.normal(0, 0.3, NUM_MOVIES)
    users, movies = np.nonzero(rng.random((NUM_USERS, NUM_MOVIES)) < density)
    ratings = (3 + b[users] + c[movies] + np.einsum("ij,ij->i", U[users], V[movies])
               + rng.normal(0, 0.1, len(users)))
    return pd.DataFrame({"user_id": users, "movie_id": movies, "rating": ratings})


def test_rmse():
    assert baselines.rmse([1, 2, 3], [1, 2, 3]) == 0.0
    assert baselines.rmse(np.array([0.0, 0.0]), pd.Series([3.0, 4.0])) == pytest.approx(np.sqrt(12.5))
    with pytest.raises(ValueError):
        baselines.rmse([1, 2], [1, 2, 3])


def test_global_mean():
    ratings, *_ = planted_biases()
    assert baselines.fit_global_mean(ratings) == pytest.approx(ratings["rating"].mean())


def test_bias_baseline_recovers_planted_biases():
    ratings, mu, b, c = planted_biases(noise=0.05)
    fit = baselines.fit_bias_baseline(ratings, NUM_USERS, NUM_MOVIES, user_reg=0.01,
                                      movie_reg=0.01, num_iterations=50)
    # The split between mu, b and c is determined up to a constant: compare predictions
    # and centred biases.
    np.testing.assert_allclose(fit.user_bias - fit.user_bias.mean(), b - b.mean(), atol=0.05)
    np.testing.assert_allclose(fit.movie_bias - fit.movie_bias.mean(), c - c.mean(), atol=0.05)
    truth = mu + b[ratings["user_id"]] + c[ratings["movie_id"]]
    assert baselines.rmse(fit.predict(ratings["user_id"], ratings["movie_id"]), truth) < 0.03


def test_bias_baseline_shrinks_rare_movies_and_handles_unrated_ids():
    ratings, *_ = planted_biases(density=0.3)
    ratings = ratings[ratings["user_id"] < NUM_USERS - 1]  # the last user rates nothing
    loose = baselines.fit_bias_baseline(ratings, NUM_USERS, NUM_MOVIES + 2, 0.0, 0.0)
    shrunk = baselines.fit_bias_baseline(ratings, NUM_USERS, NUM_MOVIES + 2, 15.0, 25.0)
    assert np.abs(shrunk.movie_bias).sum() < np.abs(loose.movie_bias).sum()
    assert shrunk.user_bias[-1] == 0 and shrunk.movie_bias[-1] == 0  # no ratings: no bias
    assert np.all(np.isfinite(shrunk.predict([NUM_USERS - 1], [NUM_MOVIES + 1])))


def test_bias_baseline_beats_the_global_mean_on_held_out_ratings():
    ratings, *_ = planted_biases(seed=1, noise=0.3)
    train, test = split_dataframe(ratings, 0.2, seed=0)
    fit = baselines.fit_bias_baseline(train, NUM_USERS, NUM_MOVIES)
    mean = baselines.fit_global_mean(train)
    assert (baselines.rmse(fit.predict(test["user_id"], test["movie_id"]), test["rating"])
            < 0.6 * baselines.rmse(np.full(len(test), mean), test["rating"]))


def test_keras_model_structure():
    model = baselines.build_keras_mf_with_biases(7, 9, embedding_dim=4, global_mean=3.0)
    assert isinstance(model, keras.Model)
    assert {layer.name for layer in model.layers} >= {
        "user_embedding", "movie_embedding", "user_bias", "movie_bias"}
    assert model.get_layer("user_embedding").embeddings.shape == (7, 4)
    assert model.get_layer("movie_bias").embeddings.shape == (9, 1)
    predictions = model({"user_id": np.array([0, 6], np.int32), "movie_id": np.array([8, 0], np.int32)})
    # Zero biases and small factors: about the global mean.
    np.testing.assert_allclose(np.asarray(predictions), 3.0, atol=0.05)
    same = baselines.build_keras_mf_with_biases(7, 9, embedding_dim=4, global_mean=3.0)
    np.testing.assert_array_equal(model.get_layer("user_embedding").embeddings.numpy(),
                                  same.get_layer("user_embedding").embeddings.numpy())


def test_keras_model_beats_global_mean_and_biases_on_planted_low_rank_data():
    ratings = planted_low_rank()
    train, test = split_dataframe(ratings, 0.2, seed=0)
    model, history = baselines.fit_keras_mf(train, NUM_USERS, NUM_MOVIES, validation=test,
                                            embedding_dim=8, l2=1e-4, epochs=40, batch_size=64,
                                            learning_rate=0.02, seed=0)
    assert len(history.history["val_loss"]) == 40
    predicted = baselines.predict_ratings(model, test["user_id"], test["movie_id"], clip=None)
    keras_rmse = baselines.rmse(predicted, test["rating"])
    mean_rmse = baselines.rmse(np.full(len(test), baselines.fit_global_mean(train)), test["rating"])
    bias = baselines.fit_bias_baseline(train, NUM_USERS, NUM_MOVIES)
    bias_rmse = baselines.rmse(bias.predict(test["user_id"], test["movie_id"]), test["rating"])
    assert keras_rmse < 0.6 * mean_rmse and keras_rmse < 0.75 * bias_rmse, (
        keras_rmse, bias_rmse, mean_rmse)


def test_keras_fit_is_seeded_and_predictions_clipped():
    ratings = planted_low_rank(seed=2)
    kwargs = dict(embedding_dim=4, epochs=2, batch_size=128, seed=3)
    first, _ = baselines.fit_keras_mf(ratings, NUM_USERS, NUM_MOVIES, **kwargs)
    second, _ = baselines.fit_keras_mf(ratings, NUM_USERS, NUM_MOVIES, **kwargs)
    users, movies = ratings["user_id"][:50], ratings["movie_id"][:50]
    np.testing.assert_allclose(baselines.predict_ratings(first, users, movies),
                               baselines.predict_ratings(second, users, movies), rtol=1e-5)
    clipped = baselines.predict_ratings(first, users, movies, clip=(3.0, 3.2))
    assert clipped.min() >= 3.0 and clipped.max() <= 3.2
