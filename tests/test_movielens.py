"""The loader on the real data (known facts) and on bad folders."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from recsys_course.movielens import MOVIE_GENRES, load_movielens
from recsys_course.movielens_files import MovieLensFormatError


@pytest.fixture(scope="module")
def movielens(movielens_dir):
    return load_movielens(movielens_dir)


def test_sizes_and_zero_based_integer_ids(movielens):
    users, movies, ratings, merged = movielens
    assert (len(users), len(movies), len(ratings), len(merged)) == (943, 1682, 100_000, 100_000)
    assert users["user_id"].tolist() == list(range(943))
    assert movies["movie_id"].tolist() == list(range(1682))
    for frame, column in ((ratings, "user_id"), (ratings, "movie_id"), (users, "user_id")):
        assert pd.api.types.is_integer_dtype(frame[column])
    assert ratings["user_id"].between(0, 942).all() and ratings["movie_id"].between(0, 1681).all()


def test_known_facts_of_the_real_data(movielens):
    users, movies, ratings, _ = movielens
    assert movies.loc[0, "title"] == "Toy Story (1995)"
    assert ratings["rating"].mean() == pytest.approx(3.52986)
    assert users["age"].mean() == pytest.approx(34.052, abs=1e-3)
    assert users["age"].std() == pytest.approx(12.193, abs=1e-3)
    assert (users["age"].min(), users["age"].max()) == (7, 73)
    assert (users["sex"] == "M").sum() == 670
    assert users["occupation"].value_counts().head(1).to_dict() == {"student": 196}
    stats = ratings.groupby("movie_id")["rating"].agg(["count", "mean"]).join(movies["title"])
    star_wars = stats.sort_values("count").iloc[-1]
    assert (star_wars["title"], star_wars["count"]) == ("Star Wars (1977)", 583)
    assert star_wars["mean"] == pytest.approx(4.358, abs=1e-3)
    best = stats[stats["count"] > 20].sort_values("mean").iloc[-1]
    assert (best["title"], best["count"]) == ("Close Shave, A (1995)", 112)
    assert best["mean"] == pytest.approx(4.491, abs=1e-3)
    # latin-1 titles survive the round trip
    assert "Misérables, Les (1995)" in set(movies["title"])


def test_derived_movie_columns(movielens):
    _, movies, _, merged = movielens
    assert movies.loc[0, "year"] == 1995
    assert movies["year"].isna().sum() == 1  # the 'unknown' movie has no date
    assert movies.loc[0, "all_genres"] == "Animation-Children's-Comedy"
    assert movies.loc[0, "genre"] in {"Animation", "Children's", "Comedy"}
    assert set(movies["genre"]) <= set(MOVIE_GENRES) | {"Other"}
    no_genre = movies[list(MOVIE_GENRES)].sum(axis=1) == 0
    assert (movies.loc[no_genre, "genre"] == "Other").all()
    assert {"title", "genre", "age", "occupation", "rating"} <= set(merged.columns)


def test_genre_pick_is_seeded(movielens_dir, movielens):
    assert load_movielens(movielens_dir).movies["genre"].equals(movielens.movies["genre"])


def test_accepts_the_parent_folder(movielens_dir):
    assert len(load_movielens(movielens_dir.parent).ratings) == 100_000


def test_missing_folder_says_how_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch_movielens"):
        load_movielens(tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "u.item").unlink(), "u.item is missing"),
    (lambda folder: (folder / "u.data").write_text("1\t2\tthree\t4\n"), "u.data is malformed"),
    (lambda folder: (folder / "u.user").write_text("1|24|M\n2|53|F|other|94043|extra\n"), "u.user is malformed"),
    (lambda folder: (folder / "u.data").write_text("1\t2\t7\t4\n"), "from 1 to 5"),
])
def test_malformed_files_raise_a_specific_error(synthetic_dir, tmp_path, damage, message):
    folder = tmp_path / "ml-100k"
    shutil.copytree(synthetic_dir, folder)
    damage(folder)
    with pytest.raises(MovieLensFormatError, match=message):
        load_movielens(folder)


def test_synthetic_set_loads_like_the_real_one(synthetic_dir):
    users, movies, ratings, merged = load_movielens(synthetic_dir)
    assert (len(users), len(movies), len(ratings)) == (50, 80, 1200)
    assert ratings["user_id"].min() == 0 and ratings["movie_id"].max() <= 79
    assert movies.loc[0, "genre"] == "Other"  # the one 'unknown' movie
    assert len(merged) == 1200
