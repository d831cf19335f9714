"""Load MovieLens 100K the way the course uses it.

>>> users, movies, ratings, merged = load_movielens()

Ids are shifted to start at 0, so that they index the rows of embedding
matrices directly, and stay integers. Movies gain three columns: ``year``
(from the release date; missing for the one movie without a date),
``genre`` (one of the movie's genres drawn at random with a fixed seed,
'Other' when it has none) and ``all_genres`` (its genres joined by '-').
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .data_home import MOVIELENS_FOLDER, data_home
from .movielens_files import (
    GENRES, MovieLensFormatError, read_movies_file, read_ratings_file, read_users_file,
)

# 'unknown' is a flag for "no genre", not a genre.
MOVIE_GENRES = GENRES[1:]
GENRE_SEED = 42


class MovieLens(NamedTuple):
    """The four tables of the course."""

    users: pd.DataFrame
    movies: pd.DataFrame
    ratings: pd.DataFrame
    merged: pd.DataFrame


def movielens_folder(path: Path | str | None = None) -> Path:
    """Resolve ``path`` (the folder with ``u.data``, or its parent) to the data folder.

    Without ``path``, the data home's copy is used, fetched first if absent.
    """
    if path is None:
        folder = data_home() / MOVIELENS_FOLDER
        if not (folder / "u.data").is_file():
            from .fetch import fetch_movielens

            print(fetch_movielens().summary())
        return folder
    folder = Path(path).expanduser()
    if not (folder / "u.data").is_file() and (folder / MOVIELENS_FOLDER / "u.data").is_file():
        folder = folder / MOVIELENS_FOLDER
    if not (folder / "u.data").is_file():
        raise FileNotFoundError(
            f"no MovieLens data in {folder}. Fetch it first: "
            "`python data_scripts/fetch_movielens.py` in the course folder, or "
            "`recsys_course.fetch_movielens()` in a notebook.")
    return folder


def add_genre_columns(movies: pd.DataFrame, seed: int = GENRE_SEED) -> pd.DataFrame:
    """Add ``genre`` (one genre drawn at random, 'Other' if none) and ``all_genres``."""
    rng = np.random.default_rng(seed)
    flags = movies[list(MOVIE_GENRES)].to_numpy().astype(bool)
    names = np.array(MOVIE_GENRES)
    movies = movies.copy()
    movies["genre"] = [rng.choice(names[row]) if row.any() else "Other" for row in flags]
    movies["all_genres"] = ["-".join(names[row]) if row.any() else "Other" for row in flags]
    return movies


def load_movielens(path: Path | str | None = None) -> MovieLens:
    """Return users, movies, ratings and their merge, with 0-based integer ids.

    ``path`` is the folder holding ``u.data``, ``u.item`` and ``u.user`` (by
    default ``<data home>/ml-100k``, see :mod:`recsys_course.data_home`).
    Ratings are floats, as models use them.
    """
    folder = movielens_folder(path)
    try:
        users = read_users_file(folder)
        movies = read_movies_file(folder)
        ratings = read_ratings_file(folder)
    except MovieLensFormatError as error:
        raise MovieLensFormatError(
            f"{error}. Fetch the data again: python data_scripts/fetch_movielens.py --force") from error

    users["user_id"] -= 1
    movies["movie_id"] -= 1
    ratings[["user_id", "movie_id"]] -= 1
    ratings["rating"] = ratings["rating"].astype("float64")

    dates = pd.to_datetime(movies["release_date"], format="%d-%b-%Y", errors="coerce")
    movies["year"] = dates.dt.year.astype("Int64")
    movies = add_genre_columns(movies)

    merged = ratings.merge(movies, on="movie_id", how="left").merge(users, on="user_id", how="left")
    return MovieLens(users, movies, ratings, merged)
