"""recsys_course.softmax against straightforward NumPy references, on small seeded data."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from recsys_course import softmax  # noqa: E402
from recsys_course.cfmodel import CFModel  # noqa: E402
from recsys_course.movielens import MOVIE_GENRES  # noqa: E402
from recsys_course.synthetic import make_synthetic_frames  # noqa: E402

DIMS = {"movie_id": 5, "genre": 2, "year": 3}


def course_frames(num_users=30, num_movies=40, num_ratings=300, seed=3):
    """Synthetic users/movies/ratings in the course's form (0-based ids, year column)."""
    _, movies, ratings, _, _ = make_synthetic_frames(num_users=num_users, num_movies=num_movies,
                                                     num_ratings=num_ratings, seed=seed)
    ratings[["user_id", "movie_id"]] -= 1
    movies["movie_id"] -= 1
    movies["year"] = pd.to_datetime(movies["release_date"], format="%d-%b-%Y").dt.year.astype("Int64")
    return movies, ratings


def random_rated_movies(num_users=40, num_movies=15, seed=0, lengths=(2, 7)):
    rng = np.random.default_rng(seed)
    years = rng.choice([1960, 1980, 1995], size=num_movies)
    genres = [sorted(rng.choice(["Action", "Comedy", "Drama"], size=int(rng.integers(1, 3)),
                                replace=False).tolist()) for _ in range(num_movies)]
    rows = []
    for user in range(num_users):
        ids = rng.choice(num_movies, size=int(rng.integers(*lengths)), replace=False).tolist()
        if user == 0:
            ids = [m for m in ids if m != num_movies - 1] + [num_movies - 1]
        rows.append({"user_id": user, "movie_id": ids, "year": [int(years[m]) for m in ids],
                     "genres": [list(genres[m]) for m in ids]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rated() -> pd.DataFrame:
    return random_rated_movies()


@pytest.fixture(scope="module")
def vocabulary(rated) -> softmax.BagVocabulary:
    return softmax.BagVocabulary.from_rated_movies(rated)


# --- rated_movies --------------------------------------------------------------------

def test_make_rated_movies_aligned_lists_in_rating_order():
    movies, ratings = course_frames()
    movies.loc[movies["movie_id"] == 5, "year"] = pd.NA
    rated = softmax.make_rated_movies(ratings, movies)
    assert list(rated.columns) == ["user_id", "movie_id", "year", "genres"]
    assert rated["user_id"].tolist() == sorted(ratings["user_id"].unique().tolist())
    info = movies.set_index("movie_id")
    for _, row in rated.iterrows():
        mine = ratings[ratings["user_id"] == row["user_id"]].sort_values(["unix_timestamp", "movie_id"])
        assert row["movie_id"] == mine["movie_id"].tolist()
        assert len(row["year"]) == len(row["genres"]) == len(row["movie_id"])
        for movie, year, genres in zip(row["movie_id"], row["year"], row["genres"]):
            expected_year = info.loc[movie, "year"]
            assert year == (softmax.UNKNOWN_YEAR if pd.isna(expected_year) else int(expected_year))
            flags = [g for g in MOVIE_GENRES if info.loc[movie, g] == 1]
            assert genres == (flags or ["Other"])
            assert all(isinstance(g, str) for g in genres)


def test_split_genres_keeps_hyphenated_names():
    assert softmax.split_genres("Action-Sci-Fi-Film-Noir") == ["Action", "Sci-Fi", "Film-Noir"]
    assert softmax.split_genres("Other") == ["Other"]


def test_genres_from_all_genres_without_flags():
    movies = pd.DataFrame({"movie_id": [0, 1], "year": [1990, None],
                           "all_genres": ["Comedy-Sci-Fi", "Other"]})
    ratings = pd.DataFrame({"user_id": [0, 0], "movie_id": [1, 0]})
    rated = softmax.make_rated_movies(ratings, movies)
    assert rated.loc[0, "movie_id"] == [0, 1]  # no timestamp: by movie id
    assert rated.loc[0, "genres"] == [["Comedy", "Sci-Fi"], ["Other"]]
    assert rated.loc[0, "year"] == [1990, softmax.UNKNOWN_YEAR]


# --- vocabulary and bags -------------------------------------------------------------

def test_vocabulary(rated, vocabulary):
    assert vocabulary.num_movies == 15
    assert vocabulary.genres == ("Action", "Comedy", "Drama")
    assert vocabulary.years == (1960, 1980, 1995)
    for _, row in rated.iterrows():
        for movie, year, genres in zip(row["movie_id"], row["year"], row["genres"]):
            assert vocabulary.movie_years[movie].tolist() == [float(y == year) for y in vocabulary.years]
            assert vocabulary.movie_genres[movie].tolist() == [float(g in genres) for g in vocabulary.genres]
    assert vocabulary.sizes == {"movie_id": 15, "genre": 3, "year": 3}
    assert softmax.BagVocabulary.from_rated_movies(rated, num_movies=20).num_movies == 20


def test_vocabulary_rejects_misaligned_lists(rated):
    broken = rated.copy()
    broken.at[0, "year"] = broken.at[0, "year"][:-1]
    with pytest.raises(ValueError, match="aligned"):
        softmax.BagVocabulary.from_rated_movies(broken)


def test_make_bags(rated, vocabulary):
    bags = softmax.make_bags(rated, vocabulary.num_movies)
    lengths = rated["movie_id"].map(len).to_numpy()
    assert bags.num_users == len(rated)
    np.testing.assert_array_equal(bags.lengths.numpy(), lengths)
    np.testing.assert_array_equal(bags.multi_hot.numpy().sum(axis=1), lengths)
    ids = bags.movie_ids.numpy()
    for i, row in enumerate(rated["movie_id"]):
        assert ids[i, :len(row)].tolist() == row and (ids[i, len(row):] == -1).all()
        assert set(np.flatnonzero(bags.multi_hot.numpy()[i])) == set(row)


def test_make_bags_rejects_bad_rows(rated):
    with pytest.raises(ValueError, match="num_movies"):
        softmax.make_bags(rated, 10)
    empty = rated.copy()
    empty.at[0, "movie_id"] = []
    with pytest.raises(ValueError, match="at least one"):
        softmax.make_bags(empty, 15)


def test_sample_labels_draws_rated_movies(rated, vocabulary):
    bags = softmax.make_bags(rated, vocabulary.num_movies)
    rows, labels = softmax.sample_labels(bags, 2000, tf.random.Generator.from_seed(1))
    rows, labels = rows.numpy(), labels.numpy()
    assert rows.min() >= 0 and rows.max() < bags.num_users
    multi_hot = bags.multi_hot.numpy()
    assert (multi_hot[rows, labels] == 1).all()
    # every position of a user's list can be drawn
    user = int(rows[0])
    assert set(labels[rows == user]) == set(rated.loc[user, "movie_id"])
    again = softmax.sample_labels(bags, 2000, tf.random.Generator.from_seed(1))
    np.testing.assert_array_equal(again[1].numpy(), labels)


def test_fixed_labels_distinct_per_user(rated, vocabulary):
    bags = softmax.make_bags(rated, vocabulary.num_movies)
    rows, labels = (t.numpy() for t in softmax.fixed_labels(bags, labels_per_user=4, seed=3))
    for user, movies in enumerate(rated["movie_id"]):
        mine = labels[rows == user]
        assert len(mine) == min(4, len(movies)) and len(set(mine)) == len(mine)
        assert set(mine) <= set(movies)


def test_input_bags_hold_the_label_out(rated, vocabulary):
    bags = softmax.make_bags(rated, vocabulary.num_movies)
    rows, labels = softmax.sample_labels(bags, 300, tf.random.Generator.from_seed(2))
    inputs = softmax.input_bags(bags, rows, labels).numpy()
    assert (inputs[np.arange(300), labels.numpy()] == 0).all()
    np.testing.assert_array_equal(inputs.sum(axis=1), bags.lengths.numpy()[rows.numpy()] - 1)
    assert set(np.unique(inputs)) <= {0.0, 1.0}
    leaky = softmax.input_bags(bags, rows, labels, label_in_bag=True).numpy()
    np.testing.assert_array_equal(leaky, bags.multi_hot.numpy()[rows.numpy()])


# --- layers ----------------------------------------------------------------------

def test_mean_embedding_is_the_mean_of_the_bag():
    layer = softmax.MeanEmbedding(6, 4)
    table = layer.embeddings.numpy()
    counts = np.array([[1, 0, 2, 0, 0, 1], [0, 0, 0, 0, 0, 0]], np.float32)
    got = layer(counts).numpy()
    np.testing.assert_allclose(got[0], (table[0] + 2 * table[2] + table[5]) / 4, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], np.zeros(4))  # an empty bag gives zeros


def test_scaled_linear():
    layer = softmax.ScaledLinear(3, scale=0.1)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    got = layer(x).numpy()
    np.testing.assert_allclose(got, 0.1 * x @ layer.kernel.numpy(), rtol=1e-5, atol=1e-6)


def test_user_tower_pools_movies_genres_and_years(vocabulary):
    tower = softmax.UserTower(vocabulary, DIMS, [7, 5])
    V = tower.movie_embeddings
    assert isinstance(V, tf.Variable) and tuple(V.shape) == (15, 5)
    bag = np.zeros((1, 15), np.float32)
    bag[0, [1, 4, 9]] = 1
    pooled = tower.pooled(bag).numpy()[0]
    genre_table = tower.pools["genre"].embeddings.numpy()
    year_table = tower.pools["year"].embeddings.numpy()
    genre_rows = [g for m in (1, 4, 9) for g in np.flatnonzero(vocabulary.movie_genres[m])]
    year_rows = [int(np.flatnonzero(vocabulary.movie_years[m])[0]) for m in (1, 4, 9)]
    expected = np.concatenate([V.numpy()[[1, 4, 9]].mean(axis=0), genre_table[genre_rows].mean(axis=0),
                               year_table[year_rows].mean(axis=0)])
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)
    assert tuple(tower(bag).shape) == (1, 5)
    with tf.GradientTape() as tape:
        tf.reduce_sum(tower(bag))
    assert any(v is V for v in tape.watched_variables())


def test_user_tower_without_some_features(vocabulary):
    tower = softmax.UserTower(vocabulary, {"movie_id": 4}, [])
    bag = np.zeros((2, 15), np.float32)
    bag[0, [2, 3]] = 1
    expected = tower.movie_embeddings.numpy()[[2, 3]].mean(axis=0)
    np.testing.assert_allclose(tower(bag).numpy()[0], expected, rtol=1e-5, atol=1e-6)
    assert tuple(softmax.UserTower(vocabulary, {"movie_id": 4, "year": 2}, [4])(bag).shape) == (2, 4)


def test_user_tower_checks_sizes(vocabulary):
    with pytest.raises(ValueError, match="movie embedding"):
        softmax.UserTower(vocabulary, DIMS, [7, 4])
    with pytest.raises(ValueError, match="unknown features"):
        softmax.UserTower(vocabulary, {**DIMS, "rating": 2}, [5])
    with pytest.raises(ValueError, match="movie_id"):
        softmax.UserTower(vocabulary, {"genre": 2}, [2])


# --- loss and metrics -----------------------------------------------------------------

def reference_loss(U, V, labels):
    logits = U.astype(np.float64) @ V.astype(np.float64).T
    top = logits.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(labels)), labels]))


def test_softmax_loss_value_and_gradient():
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)
    labels = rng.integers(0, 9, 6)
    u, v = tf.Variable(U), tf.Variable(V)
    with tf.GradientTape() as tape:
        loss = softmax.softmax_loss(u, v, tf.constant(labels, tf.int32))
    assert loss.shape == () and loss.dtype == tf.float32
    assert abs(float(loss) - reference_loss(U, V, labels)) < 1e-5
    P = np.exp(U @ V.T)
    P /= P.sum(axis=1, keepdims=True)
    G = (P - np.eye(9)[labels]) / 6
    gu, gv = tape.gradient(loss, [u, v])
    np.testing.assert_allclose(gu.numpy(), G @ V, atol=1e-5)
    np.testing.assert_allclose(gv.numpy(), G.T @ U, atol=1e-5)


def test_ranking_metrics():
    logits = tf.constant([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    labels = tf.constant([2, 0])
    np.testing.assert_array_equal(softmax.top_k_hits(logits, labels, k=3).numpy(), [1.0, 0.0])
    exclude = tf.constant([[1, 1, 0, 0, 0], [0, 1, 1, 1, 1]])
    np.testing.assert_array_equal(softmax.top_k_hits(logits, labels, k=1, exclude=exclude).numpy(), [1.0, 1.0])
    assert float(softmax.recall_at_k(logits, labels, 3)) == pytest.approx(0.5)
    assert float(softmax.precision_at_k(logits, labels, 3)) == pytest.approx(0.5 / 3)
    # ties: the lower id wins, k larger than the catalogue is capped
    ties = tf.zeros([1, 4])
    assert softmax.top_k_hits(ties, tf.constant([0]), k=1).numpy().tolist() == [1.0]
    assert softmax.top_k_hits(ties, tf.constant([3]), k=10).numpy().tolist() == [1.0]


# --- the model ------------------------------------------------------------------------

def metric(model, name):
    return next(panel[name] for panel in model.metrics if name in panel)


def test_build_softmax_model_structure(rated):
    model = softmax.build_softmax_model(rated, DIMS, [6, 5])
    assert isinstance(model, CFModel)
    assert list(model.embedding_vars) == ["movie_id"]
    assert tuple(model.embedding_vars["movie_id"].shape) == (15, 5)
    assert [sorted(panel) for panel in model.metrics] == [
        ["test_loss", "train_loss"], ["test_precision_at_10", "test_recall_at_10"]]
    with tf.GradientTape() as tape:
        loss = model.loss()
    watched = tape.watched_variables()
    assert sum(15 in tuple(v.shape) for v in watched) == 1  # one movie embedding, shared
    assert all(g is not None for g in tape.gradient(loss, watched))
    precision = float(metric(model, "test_precision_at_10")())
    recall = float(metric(model, "test_recall_at_10")())
    assert 0 <= precision <= 0.1 + 1e-6 and recall == pytest.approx(10 * precision, abs=1e-6)


def test_zero_movie_embeddings_give_log_num_movies(rated):
    model = softmax.build_softmax_model(rated, DIMS, [5])
    model.embedding_vars["movie_id"].assign(tf.zeros([15, 5]))
    for value in (model.loss(), metric(model, "train_loss")(), metric(model, "test_loss")()):
        assert float(value) == pytest.approx(np.log(15), abs=1e-5)


def test_training_lowers_the_loss(rated):
    keras.utils.set_random_seed(0)  # the batches are drawn from Keras's global generator
    model = softmax.build_softmax_model(rated, DIMS, [5], batch_size=64)
    before = float(metric(model, "train_loss")())
    results = model.train(num_iterations=100, learning_rate=8.0, plot_results=False,
                          optimizer=keras.optimizers.Adagrad)
    assert results["train_loss"] < before - 0.2
    assert set(results) == {"train_loss", "test_loss", "test_precision_at_10", "test_recall_at_10"}


def test_make_rated_movies_feeds_the_model():
    movies, ratings = course_frames()
    rated = softmax.make_rated_movies(ratings, movies)
    model = softmax.build_softmax_model(rated, {"movie_id": 8, "genre": 2, "year": 2}, [8])
    assert tuple(model.embedding_vars["movie_id"].shape) == (int(ratings["movie_id"].max()) + 1, 8)
    assert np.isfinite(float(model.loss()))


def pair_frame(num_users=40):
    """Every user rated the same two movies: each predicts the other, once held out."""
    return pd.DataFrame({
        "user_id": np.arange(num_users),
        "movie_id": [[3, 8] if u % 2 else [8, 3] for u in range(num_users)],
        "year": [[1990, 1975] if u % 2 else [1975, 1990] for u in range(num_users)],
        "genres": [[["Comedy"], ["Drama"]] if u % 2 else [["Drama"], ["Comedy"]] for u in range(num_users)],
    })


@pytest.mark.parametrize("label_in_bag", [False, True])
def test_label_in_bag_leaks(label_in_bag):
    model = softmax.build_softmax_model(pair_frame(), {"movie_id": 4, "genre": 2, "year": 2}, [4],
                                        label_in_bag=label_in_bag)
    with tf.GradientTape() as tape:
        model.loss()
    variables = tape.watched_variables()
    optimizer = keras.optimizers.Adam(0.05)

    @tf.function(autograph=False)
    def step():  # a plain loop: quicker to compile than the trainer's XLA step
        with tf.GradientTape() as tape:
            value = model.loss()
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))

    for _ in range(100):
        step()
    loss = float(np.mean([float(model.loss()) for _ in range(5)]))
    if label_in_bag:
        assert loss > np.log(2) - 0.05  # the same input for both labels
    else:
        assert loss < 0.1


def test_evaluation_protocols_and_recommendations(rated):
    model = softmax.build_softmax_model(rated, DIMS, [5], holdout_fraction=0.25)
    table = softmax.evaluation_protocols(model, k=5)
    assert list(table.columns) == ["precision_at_5", "recall_at_5"] and len(table) == 4
    assert ((table["precision_at_5"] - table["recall_at_5"] / 5).abs() < 1e-6).all()
    assert table.attrs["examples"] == int(model.test_examples[1].shape[0])
    movies = pd.DataFrame({"movie_id": np.arange(15), "title": [f"m{j}" for j in range(15)],
                           "all_genres": "Drama"})
    top = softmax.recommend_for_movies(model, movies, [1, 2, 3], k=4)
    assert len(top) == 4 and not set(top["movie_id"]) & {1, 2, 3}
    assert top["probability"].is_monotonic_decreasing
    with pytest.raises(TypeError):
        softmax.evaluation_protocols(CFModel({"movie_id": tf.Variable(tf.zeros([2, 2]))},
                                             lambda: tf.constant(0.0)))


# --- Validation users, new users, several held-out movies ------------------------------

def test_held_out_name_renames_the_held_out_metrics(rated):
    model = softmax.build_softmax_model(rated, DIMS, [5], held_out_name="validation")
    assert [sorted(panel) for panel in model.metrics] == [
        ["train_loss", "validation_loss"], ["validation_precision_at_10", "validation_recall_at_10"]]


def test_held_out_metrics_on_new_users_match_a_numpy_reference(rated):
    from recsys_course.splits import split_dataframe

    train_users, test_users = split_dataframe(rated, holdout_fraction=0.25)
    model = softmax.build_softmax_model(train_users, DIMS, [5], num_movies=15,
                                        held_out_name="validation")
    results = softmax.held_out_metrics(model, test_users, k=3, labels_per_user=2, seed=5)
    bags, rows, labels = softmax.new_user_examples(model, test_users, labels_per_user=2, seed=5)
    assert results["examples"] == len(labels) == 2 * len(test_users)
    inputs = softmax.input_bags(bags, rows, labels).numpy()
    logits = softmax.bag_logits(model, inputs).numpy().astype(np.float64)
    users = model.tower(inputs).numpy().astype(np.float64)
    movies = model.tower.movie_embeddings.numpy().astype(np.float64)
    assert np.allclose(logits, users @ movies.T, atol=1e-4)
    log_sum_exp = np.log(np.exp(logits).sum(axis=1))
    loss = np.mean(log_sum_exp - logits[np.arange(len(labels)), labels.numpy()])
    assert results["loss"] == pytest.approx(loss, rel=1e-4)
    masked = np.where(inputs > 0, -np.inf, logits)
    hits = [label in np.argsort(-row, kind="stable")[:3] for row, label in zip(masked, labels.numpy())]
    assert results["recall_at_3"] == pytest.approx(np.mean(hits), abs=1e-6)
    assert results["precision_at_3"] == pytest.approx(np.mean(hits) / 3, abs=1e-6)
    table = softmax.evaluation_protocols(model, k=3, rated_movies=test_users, labels_per_user=2, seed=5)
    assert table.attrs["examples"] == results["examples"]
    assert table.iloc[0]["recall_at_3"] == pytest.approx(results["recall_at_3"], abs=1e-6)


def test_hold_out_movies_splits_every_bag(rated):
    inputs, held_out = softmax.hold_out_movies(rated, 15, fraction=0.3, seed=1)
    assert inputs.shape == held_out.shape == (len(rated), 15)
    assert inputs.dtype == np.float32 and held_out.dtype == bool
    for user, movie_ids in enumerate(rated["movie_id"]):
        kept, out = set(np.flatnonzero(inputs[user])), set(np.flatnonzero(held_out[user]))
        assert kept | out == set(movie_ids) and not kept & out
        assert len(out) == int(np.clip(round(0.3 * len(movie_ids)), 1, len(movie_ids) - 1))
    again = softmax.hold_out_movies(rated, 15, fraction=0.3, seed=1)
    assert np.array_equal(again[1], held_out)  # seeded
    with pytest.raises(ValueError, match="two movies"):
        softmax.hold_out_movies(rated.assign(movie_id=[[1]] * len(rated)), 15)


def test_training_popularity_counts_the_training_bags(rated):
    model = softmax.build_softmax_model(rated, DIMS, [5])
    expected = np.zeros(15)
    for row in model.train_bags.movie_ids.numpy():
        for movie in row[row >= 0]:
            expected[movie] += 1
    assert np.array_equal(softmax.training_popularity(model), expected)


def test_rating_count_map_is_an_interactive_chart():
    projections = pd.DataFrame({"movie_id": [0, 1, 2], "title": ["a", "b", "c"], "all_genres": "Drama",
                                "rating_count": [0, 3, 300], "x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 2.0]})
    spec = softmax.rating_count_map(projections).to_dict()
    assert spec["mark"]["type"] == "circle"
    assert {param["name"] for param in spec["params"]} >= {"most_ratings"}
    assert spec["encoding"]["color"]["condition"]["scale"]["type"] == "log"
