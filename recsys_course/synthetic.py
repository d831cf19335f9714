"""A small MovieLens look-alike with planted low-rank structure.

Fast tests and hidden tests need data that behaves like MovieLens (same
files, same formats, ratings 1-5, genres, ages, occupations) but is small,
seeded and has a known answer: ratings come from ``3 + U V^T + noise``
rounded and clipped to 1-5, with ``U`` and ``V`` of a small rank. The
planted factors are saved next to the files (``planted_factors.npz``) so
that a test can check that a model recovers them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .movielens_files import GENRES, write_movielens_files

OCCUPATIONS = ("administrator", "artist", "educator", "engineer", "other",
               "programmer", "student", "writer")


def make_synthetic_frames(num_users: int = 50, num_movies: int = 80, num_ratings: int = 1200,
                          rank: int = 3, noise: float = 0.3, seed: int = 0):
    """Return users, movies, ratings (file column names, 1-based ids) and the planted factors.

    Every user and, when ``num_ratings >= num_users + num_movies``, every movie has at
    least one rating; no (user, movie) pair is rated twice.
    """
    if not 0 < num_ratings <= num_users * num_movies:
        raise ValueError(f"num_ratings must be between 1 and {num_users * num_movies} (users x movies)")
    if num_ratings < num_users:
        raise ValueError("num_ratings must be at least num_users: every user rates something")
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(0, 1 / np.sqrt(rank), (num_users, rank))
    movie_factors = rng.normal(0, 1 / np.sqrt(rank), (num_movies, rank))

    # One rating per user (and per movie when there are enough) first, the
    # rest drawn uniformly among the pairs not yet rated.
    pairs = {(user, int(rng.integers(num_movies))) for user in range(num_users)}
    if num_ratings >= num_users + num_movies:
        pairs |= {(int(rng.integers(num_users)), movie) for movie in range(num_movies)}
    unrated = [pair for pair in np.ndindex(num_users, num_movies) if pair not in pairs]
    drawn = rng.choice(len(unrated), size=num_ratings - len(pairs), replace=False)
    pairs = np.array(sorted(pairs) + [unrated[i] for i in drawn])
    rng.shuffle(pairs)

    scores = 3 + np.einsum("ij,ij->i", user_factors[pairs[:, 0]], movie_factors[pairs[:, 1]]) * 1.5
    values = np.clip(np.rint(scores + rng.normal(0, noise, len(pairs))), 1, 5).astype(int)
    ratings = pd.DataFrame({
        "user_id": pairs[:, 0] + 1, "movie_id": pairs[:, 1] + 1, "rating": values,
        "unix_timestamp": rng.integers(874_724_710, 893_286_638, len(pairs)),
    })

    users = pd.DataFrame({
        "user_id": np.arange(1, num_users + 1),
        "age": rng.integers(7, 74, num_users),
        "sex": rng.choice(["M", "F"], num_users, p=[0.7, 0.3]),
        "occupation": rng.choice(OCCUPATIONS, num_users),
        "zip_code": [f"{z:05d}" for z in rng.integers(0, 100_000, num_users)],
    })

    years = rng.integers(1930, 1999, num_movies)
    # Genres follow the strongest planted factor, so that embeddings can find them.
    flags = np.zeros((num_movies, len(GENRES)), dtype=int)
    flags[np.arange(num_movies), 1 + np.argmax(movie_factors, axis=1)] = 1
    flags[rng.random(num_movies) < 0.2, GENRES.index("Drama")] = 1
    flags[0, :] = 0
    flags[0, 0] = 1  # one movie with the 'unknown' genre only, as in MovieLens
    titles = [f"Synthetic Movie {j} ({year})" if j % 10 else f"Café Movie {j} ({year})"
              for j, year in enumerate(years, start=1)]
    movies = pd.DataFrame({
        "movie_id": np.arange(1, num_movies + 1), "title": titles,
        "release_date": [f"01-Jan-{year}" for year in years], "video_release_date": "",
        "imdb_url": [f"http://us.imdb.com/M/title-exact?synthetic-{j}" for j in range(1, num_movies + 1)],
    })
    movies = pd.concat([movies, pd.DataFrame(flags, columns=list(GENRES))], axis=1)
    return users, movies, ratings, user_factors, movie_factors


def write_synthetic_movielens(folder: Path, **sizes) -> dict:
    """Write a synthetic data set in GroupLens's formats into ``folder``.

    ``sizes`` are the keyword arguments of :func:`make_synthetic_frames`.
    Returns the parameters used.
    """
    users, movies, ratings, user_factors, movie_factors = make_synthetic_frames(**sizes)
    write_movielens_files(Path(folder), users, movies, ratings)
    np.savez(Path(folder) / "planted_factors.npz", user_factors=user_factors, movie_factors=movie_factors)
    return sizes
