"""Tests of recsys_course.charts on synthetic frames: data, spec and selection wiring."""

import json

import altair as alt
import pandas as pd
import pytest

from recsys_course import charts
from recsys_course.movielens import MOVIE_GENRES, add_genre_columns
from recsys_course.synthetic import make_synthetic_frames


@pytest.fixture(scope="module")
def frames():
    users, movies, ratings, _, _ = make_synthetic_frames(num_users=30, num_movies=40,
                                                        num_ratings=300, seed=1)
    users["user_id"] -= 1
    movies["movie_id"] -= 1
    ratings[["user_id", "movie_id"]] -= 1
    ratings["rating"] = ratings["rating"].astype("float64")
    movies = add_genre_columns(movies)
    return users, movies, ratings


def stats(ratings, by):
    return ratings.groupby(by)["rating"].agg(rating_count="count", rating_mean="mean")


def spec_nodes(spec, key):
    """Every value stored under ``key`` anywhere in a chart's dict."""
    found = []
    if isinstance(spec, dict):
        for name, value in spec.items():
            if name == key:
                found.append(value)
            found += spec_nodes(value, key)
    elif isinstance(spec, list):
        for value in spec:
            found += spec_nodes(value, key)
    return found


def test_user_table_one_row_per_rated_user(frames):
    users, _, ratings = frames
    user_stats = stats(ratings, "user_id")
    table = charts.user_rating_table(user_stats, users)
    assert len(table) == ratings.user_id.nunique()
    assert {"user_id", "occupation", "rating_count", "rating_mean"} <= set(table.columns)
    # the id may also come as a column rather than the index
    pd.testing.assert_frame_equal(charts.user_rating_table(user_stats.reset_index(), users), table)


def test_movie_genre_table_lists_every_genre_of_a_movie(frames):
    _, movies, ratings = frames
    table = charts.movie_genre_table(stats(ratings, "movie_id"), movies)
    rated = movies[movies.movie_id.isin(ratings.movie_id)]
    flags = rated[list(MOVIE_GENRES)].sum(axis=1)
    assert len(table) == int(flags.sum() + (flags == 0).sum())
    assert set(table.loc[table.movie_id == 0, "genre"]) == {"Other"}  # 'unknown' only
    assert table.groupby("movie_id")["rating_count"].nunique().max() == 1


def test_missing_statistics_are_a_clear_error(frames):
    users, _, ratings = frames
    with pytest.raises(ValueError, match="rating_mean"):
        charts.user_rating_charts(stats(ratings, "user_id")[["rating_count"]], users)
    with pytest.raises(ValueError, match="user_id"):
        charts.user_rating_charts(stats(ratings, "user_id").reset_index(drop=True), users)


@pytest.mark.parametrize("kind", ["user", "movie"])
def test_chart_spec_embeds_aggregates_and_a_bound_point_selection(frames, kind):
    users, movies, ratings = frames
    if kind == "user":
        chart = charts.user_rating_charts(stats(ratings, "user_id"), users)
        category, expected_rows = "occupation", ratings.user_id.nunique()
        options = sorted(users.loc[users.user_id.isin(ratings.user_id), "occupation"].unique())
    else:
        chart = charts.movie_rating_charts(stats(ratings, "movie_id"), movies)
        category = "genre"
        expected_rows = len(charts.movie_genre_table(stats(ratings, "movie_id"), movies))
        options = sorted(charts.movie_genre_table(stats(ratings, "movie_id"), movies).genre.unique())
    assert isinstance(chart, alt.VConcatChart)
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    json.dumps(spec)

    datasets = list(spec["datasets"].values())
    assert [len(rows) for rows in datasets] == [expected_rows]  # per entity, not per rating
    assert expected_rows < 3 * len(ratings)

    params = spec_nodes(spec, "params")[0]
    (selection,) = [p for p in params if p["name"] == f"select_{category}"]
    assert selection["select"]["type"] == "point"
    assert selection["select"]["fields"] == [category]
    assert selection["select"]["on"] == "click"  # clicks still work next to the dropdown
    assert selection["bind"]["input"] == "select"
    assert selection["bind"]["options"] == [None, *options]
    assert selection["bind"]["labels"][0] == "All"

    filters = spec_nodes(spec, "filter")
    assert filters.count({"param": f"select_{category}"}) == 2  # both histograms
    assert not spec_nodes(spec, "selection")  # altair 4's API is gone
