"""recsys_course.embeddings: scores, neighbours, recommendations, norms, t-SNE, new users."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

import altair as alt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from recsys_course import embeddings as emb  # noqa: E402
from recsys_course.movielens import MOVIE_GENRES, add_genre_columns  # noqa: E402
from recsys_course.synthetic import make_synthetic_frames  # noqa: E402

NUM_USERS, NUM_MOVIES, DIM = 12, 20, 4


@pytest.fixture(scope="module")
def tables():
    """Synthetic movies and ratings with the course's conventions (0-based ids, genre columns)."""
    _, movies, ratings, _, _ = make_synthetic_frames(num_users=NUM_USERS, num_movies=NUM_MOVIES,
                                                     num_ratings=120, seed=3)
    movies = movies.copy()
    movies["movie_id"] -= 1
    ratings = ratings.copy()
    ratings[["user_id", "movie_id"]] -= 1
    ratings["rating"] = ratings["rating"].astype(float)
    titles = [f"Movie {i} ({1950 + i})" for i in range(NUM_MOVIES)]
    titles[3], titles[4], titles[5] = "Aladdin (1992)", "Aladdin and the King of Thieves (1996)", "Lion King, The (1994)"
    movies["title"] = titles
    for genre in MOVIE_GENRES:
        if genre not in movies:
            movies[genre] = 0
    movies = add_genre_columns(movies)
    return movies, ratings


@pytest.fixture(scope="module")
def embeddings():
    rng = np.random.default_rng(0)
    return {"user_id": rng.normal(size=(NUM_USERS, DIM)).astype(np.float32),
            "movie_id": rng.normal(size=(NUM_MOVIES, DIM)).astype(np.float32)}


# --- compute_scores -------------------------------------------------------------

def test_dot_scores_are_the_products():
    rng = np.random.default_rng(1)
    query, items = rng.normal(size=5), rng.normal(size=(9, 5))
    scores = emb.compute_scores(query, items)  # DOT is the default
    assert isinstance(scores, np.ndarray) and scores.shape == (9,)
    np.testing.assert_allclose(scores, items @ query, rtol=1e-12)


def test_cosine_normalises_query_and_items():
    rng = np.random.default_rng(2)
    query, items = 3.0 * rng.normal(size=4), rng.normal(size=(7, 4)) * rng.uniform(0.1, 5, (7, 1))
    scores = emb.compute_scores(query, items, emb.COSINE)
    expected = items @ query / (np.linalg.norm(items, axis=1) * np.linalg.norm(query))
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    np.testing.assert_allclose(emb.compute_scores(10 * query, items * 0.5, emb.COSINE), scores, rtol=1e-12)
    items[2] = 2 * query
    assert emb.compute_scores(query, items, emb.COSINE)[2] == pytest.approx(1.0)


def test_scores_accept_tensors_and_batches():
    rng = np.random.default_rng(3)
    query, items = rng.normal(size=3).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    for measure in emb.MEASURES:
        from_tf = emb.compute_scores(tf.constant(query), tf.Variable(items), measure)
        np.testing.assert_allclose(from_tf, emb.compute_scores(query, items, measure), rtol=1e-6)
    batch = emb.compute_scores(np.stack([query, 2 * query]), items, emb.COSINE)
    assert batch.shape == (2, 6)
    np.testing.assert_allclose(batch[0], batch[1], rtol=1e-6)


def test_cosine_of_a_zero_vector_is_zero():
    items = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(emb.compute_scores(np.array([1.0, 0.0]), items, emb.COSINE), [0.0, 1.0])


def test_bad_measure_and_shapes_raise():
    with pytest.raises(ValueError, match="unknown measure"):
        emb.compute_scores(np.ones(2), np.ones((3, 2)), "euclid")
    with pytest.raises(ValueError, match="shape"):
        emb.compute_scores(np.ones(3), np.ones((3, 2)))


# --- Titles -----------------------------------------------------------------------

def test_find_movie_prefers_exact_title_and_lists_others(tables, capsys):
    movies, _ = tables
    assert emb.find_movie(movies, "aladdin")["title"] == "Aladdin (1992)"
    assert "King of Thieves" in capsys.readouterr().out
    assert emb.find_movie(movies, "Aladdin and the king of thieves (1996)")["movie_id"] == 4


def test_unknown_title_lists_near_matches(tables):
    movies, _ = tables
    with pytest.raises(emb.TitleNotFoundError, match="Aladdin") as error:
        emb.find_movie(movies, "Aladin")
    assert "did you mean" in str(error.value)
    with pytest.raises(emb.TitleNotFoundError, match="no close titles"):
        emb.find_movie(movies, "zzzzqqqq")


def test_title_or_most_rated(tables):
    movies, ratings = tables
    assert emb.title_or_most_rated(movies, ratings, "Lion King") == "Lion King"
    most_rated = int(ratings["movie_id"].value_counts().idxmax())
    assert emb.title_or_most_rated(movies, ratings, "Star Wars") == movies.loc[most_rated, "title"]


# --- Neighbours and recommendations ---------------------------------------------

def test_movie_neighbors_ranks_by_score(tables, embeddings):
    movies, ratings = tables
    for measure in emb.MEASURES:
        table = emb.movie_neighbors(embeddings, movies, "Lion King", measure, k=5, ratings=ratings,
                                    verbose=False)
        V = embeddings["movie_id"]
        expected = emb.compute_scores(V[5], V, measure)
        order = np.argsort(-expected, kind="stable")[:5]
        assert table["movie_id"].tolist() == order.tolist()
        np.testing.assert_allclose(table[f"{measure}_score"], expected[order])
        assert list(table.index) == [1, 2, 3, 4, 5]
        assert table.attrs["query"] == "Lion King, The (1994)"
        assert (table["rating_count"] >= 0).all()
    cosine = emb.movie_neighbors(embeddings, movies, "Lion King", emb.COSINE, verbose=False)
    assert cosine["movie_id"].iloc[0] == 5  # a movie is its own nearest neighbour by cosine


def test_compare_neighbors_has_a_column_per_model(tables, embeddings):
    movies, ratings = tables
    other = {name: -value for name, value in embeddings.items()}
    table = emb.compare_neighbors({"a": embeddings, "b": other}, movies, "Aladdin (1992)", emb.COSINE,
                                  k=4, ratings=ratings)
    assert list(table.columns) == ["a", "b"] and len(table) == 4
    assert table.loc[1, "a"].startswith("Aladdin (1992) [")


def test_user_recommendations_exclude_rated(tables, embeddings):
    movies, ratings = tables
    user = 2
    rated = set(ratings.loc[ratings["user_id"] == user, "movie_id"])
    table = emb.user_recommendations(embeddings, movies, ratings, user, k=50)
    assert not rated & set(table["movie_id"])
    assert len(table) == NUM_MOVIES - len(rated)
    assert table["dot_score"].is_monotonic_decreasing
    everything = emb.user_recommendations(embeddings, movies, ratings, user, k=50, exclude_rated=False)
    assert len(everything) == NUM_MOVIES
    scores = embeddings["movie_id"] @ embeddings["user_id"][user]
    assert everything["movie_id"].iloc[0] == int(np.argmax(scores))
    with pytest.raises(IndexError):
        emb.user_recommendations(embeddings, movies, ratings, NUM_USERS + 3)


def test_models_are_read_from_cfmodels(tables):
    from recsys_course.matrix_factorization import build_mf_model

    movies, ratings = tables
    model = build_mf_model(ratings, num_users=NUM_USERS, num_movies=NUM_MOVIES, embedding_dim=3,
                           init_stddev=0.5, init_seed=1)
    table = emb.movie_neighbors(model, movies, "Aladdin (1992)", verbose=False)
    assert len(table) == 6
    np.testing.assert_array_equal(emb.movie_embedding_matrix(model), model.embeddings["movie_id"])


# --- Norms ----------------------------------------------------------------------

def test_expected_norm_fact():
    rng = np.random.default_rng(5)
    norms = np.linalg.norm(rng.normal(0, 0.5, (20_000, 30)), axis=1)
    assert emb.expected_norm(0.5, 30) == pytest.approx(0.5 * np.sqrt(30))
    assert norms.mean() == pytest.approx(emb.expected_norm(0.5, 30), rel=0.02)


def test_movie_norms_and_chart(tables, embeddings):
    movies, ratings = tables
    norms = emb.movie_norms(embeddings, movies, ratings)
    assert len(norms) == NUM_MOVIES
    np.testing.assert_allclose(norms["norm"], np.linalg.norm(embeddings["movie_id"], axis=1), rtol=1e-6)
    assert norms["rating_count"].sum() == len(ratings)
    chart = emb.movie_embedding_norm_chart({"init 0.5": embeddings, "other": embeddings}, movies, ratings)
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert isinstance(chart, alt.FacetChart)
    (rows,) = spec["datasets"].values()
    assert len(rows) == NUM_MOVIES  # one row per movie, folded into (model, norm) in the chart
    assert "init 0.5" in spec["spec"]["transform"][1]["calculate"]
    emb.movie_embedding_norm_chart(embeddings, movies, ratings).to_dict()  # one model


# --- t-SNE ----------------------------------------------------------------------

def test_tsne_projects_the_most_rated_movies(tables, embeddings):
    movies, ratings = tables
    table = emb.tsne_movie_embeddings(embeddings, movies, ratings, num_movies=15, max_iter=250)
    assert len(table) == 15 and np.isfinite(table[["x", "y"]].to_numpy()).all()
    counts = emb.rating_counts(movies, ratings)
    assert table["rating_count"].min() >= counts.sort_values(ascending=False).iloc[14]
    assert table["genre_key"].str.startswith("|").all() and table.attrs["seconds"] >= 0
    everything = emb.tsne_movie_embeddings(embeddings["movie_id"], movies, None, max_iter=250)
    assert len(everything) == NUM_MOVIES
    emb.tsne_chart(table).to_dict()
    spec = emb.tsne_chart({"a": table, "b": everything}).to_dict()
    assert "highlight_genre" in [param["name"] for param in spec["params"]]


def test_stratified_sample_takes_every_bucket():
    counts = np.array([1] * 50 + [10] * 50 + [50] * 50 + [500] * 5 + [0] * 3)
    chosen = emb._stratified_sample(counts, 40, seed=0)
    assert len(chosen) == 40 and len(set(chosen)) == 40 and list(chosen) == sorted(chosen)
    picked = counts[chosen]
    assert (picked == 500).sum() == 5 and (picked == 0).sum() == 3  # small buckets whole
    assert all(abs((picked == value).sum() - 32 / 3) <= 1 for value in (1, 10, 50))  # the rest shared
    np.testing.assert_array_equal(chosen, emb._stratified_sample(counts, 40, seed=0))  # seeded


def test_tsne_cosine_stratified_and_count_colours(tables, embeddings):
    movies, ratings = tables
    table = emb.tsne_movie_embeddings(embeddings, movies, ratings, num_movies=12, sample="stratified",
                                      metric="cosine", max_iter=250)
    assert len(table) == 12 and table.attrs["metric"] == "cosine"
    everything = emb.tsne_movie_embeddings(embeddings, movies, ratings, num_movies=None, max_iter=250)
    assert len(everything) == NUM_MOVIES
    with pytest.raises(ValueError, match="sample"):
        emb.tsne_movie_embeddings(embeddings, movies, ratings, sample="random")
    spec = emb.tsne_chart({"a": table, "b": everything}, color="rating_count").to_dict()
    names = [param["name"] for param in spec["params"]]
    assert "highlight_genre" in names and "count_bucket_pick" in names
    assert spec["hconcat"][0]["encoding"]["color"]["condition"]["field"] == "ratings"
    with pytest.raises(ValueError, match="color"):
        emb.tsne_chart(table, color="norm")


def test_tsne_neighbour_mix_reads_the_map():
    # Two far groups on the map: popular movies at the centre, rare ones on a ring around them.
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    inner = np.c_[0.1 * np.cos(angles), 0.1 * np.sin(angles)]
    outer = np.c_[10 * np.cos(angles), 10 * np.sin(angles)]
    projection = pd.DataFrame({"x": np.r_[inner[:, 0], outer[:, 0]], "y": np.r_[inner[:, 1], outer[:, 1]],
                               "rating_count": [300] * 20 + [2] * 20})
    mix = emb.tsne_neighbour_mix(projection, k=5)
    assert list(mix.columns) == ["1-5", "over 100", "distance from centre"]
    assert mix.loc["over 100", "over 100"] == 1.0 and mix.loc["1-5", "1-5"] == 1.0
    assert mix.loc["all movies", "1-5"] == 0.5
    assert mix.loc["over 100", "distance from centre"] < 0.1 < 1.0 < mix.loc["1-5", "distance from centre"]


def test_compare_recommendations_and_their_popularity(tables, embeddings):
    movies, ratings = tables
    other = {"user_id": embeddings["user_id"], "movie_id": -embeddings["movie_id"]}
    table = emb.compare_recommendations({"a": embeddings, "b": other}, movies, ratings, user_id=2, k=4)
    assert list(table.columns) == ["a", "b"] and len(table) == 4
    expected = emb.user_recommendations(embeddings, movies, ratings, 2, k=4)
    assert table["a"].iloc[0] == f"{expected['title'].iloc[0]} [{expected['rating_count'].iloc[0]}]"
    np.testing.assert_array_equal(table.attrs["rating_counts"]["a"], expected["rating_count"])
    popularity = emb.recommendation_popularity({"a": embeddings}, ratings, k=3, rare_below=5)
    scores = embeddings["user_id"].astype(np.float64) @ embeddings["movie_id"].T.astype(np.float64)
    seen = np.zeros(scores.shape, bool)
    seen[ratings["user_id"], ratings["movie_id"]] = True
    top = np.argsort(np.where(seen, np.inf, -scores), axis=1, kind="stable")[:, :3]
    counts = np.bincount(ratings["movie_id"], minlength=NUM_MOVIES)[top]
    column = popularity["a"]
    assert column["median ratings of a recommended movie"] == np.median(counts)
    assert column["share with fewer than 5 ratings"] == pytest.approx(np.mean(counts < 5))
    assert column["distinct movies recommended"] == len(np.unique(top))


def test_genre_key_keeps_hyphenated_genres_whole():
    movies = pd.DataFrame({"genre": ["Film-Noir"], **{g: [int(g in ("Film-Noir", "Sci-Fi"))] for g in MOVIE_GENRES}})
    assert emb._genre_key(movies)[0] == "|Film-Noir|Sci-Fi|"


# --- A new user -------------------------------------------------------------------

def test_add_user_ratings_appends_a_user(tables, tmp_path):
    movies, ratings = tables
    new, user_id = emb.add_user_ratings(ratings, movies, {"Lion King": 5, "Movie 7 (": 2}, verbose=False)
    assert user_id == int(ratings["user_id"].max()) + 1
    assert len(new) == len(ratings) + 2 and list(new.columns) == list(ratings.columns)
    mine = new[new["user_id"] == user_id].set_index("movie_id")["rating"]
    assert mine.to_dict() == {5: 5.0, 7: 2.0}
    assert new.dtypes.equals(ratings.dtypes)
    csv = tmp_path / "mine.csv"
    csv.write_text("title,rating\nAladdin (1992),4\n")
    new, user_id = emb.add_user_ratings(ratings, movies, csv, user_id=99, verbose=False)
    assert user_id == 99 and new.iloc[-1]["movie_id"] == 3
    with pytest.raises(ValueError, match="1 to 5"):
        emb.add_user_ratings(ratings, movies, {"Lion King": 7})
    with pytest.raises(ValueError, match="already has ratings"):
        emb.add_user_ratings(ratings, movies, {"Lion King": 3}, user_id=0)
    with pytest.raises(emb.TitleNotFoundError):
        emb.add_user_ratings(ratings, movies, {"No such film": 3})
