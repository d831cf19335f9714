"""Hidden-test helpers of notebook 1 (exploring MovieLens): movie_rating_stats and split_dataframe.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import numpy as np
import pandas as pd


def _ratings_table(seed, num_users, num_movies, num_ratings, int_ratings=False):
    """Distinct random (user, movie) pairs, movie ids with gaps, extra columns, odd index."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(num_users * num_movies, size=num_ratings, replace=False)
    values = rng.integers(2, 11, num_ratings) / 2  # half stars: the mean and the median differ
    return pd.DataFrame({
        "unix_timestamp": rng.integers(800_000_000, 900_000_000, num_ratings),
        "title": [f"title {i}" for i in range(num_ratings)],
        "movie_id": (pairs % num_movies) * 3 + 5,
        "user_id": pairs // num_movies,
        "rating": rng.integers(1, 6, num_ratings) if int_ratings else values,
    }, index=rng.permutation(num_ratings) + 1000)


def _synthetic_ratings(seed):
    from recsys_course.synthetic import make_synthetic_frames
    _, _, table, _, _ = make_synthetic_frames(num_users=25, num_movies=60, num_ratings=70, seed=seed)
    table[["user_id", "movie_id"]] -= 1
    table["rating"] = table["rating"].astype("float64")
    return table


def _reference_stats(table):
    ids = table["movie_id"].to_numpy(dtype=np.int64)
    uniq, inverse = np.unique(ids, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    means = np.bincount(inverse, weights=table["rating"].to_numpy(dtype=np.float64)) / counts
    return uniq, counts, means


def _stats_tables():
    """Ratings tables for movie_rating_stats: random ones (one with integer ratings) and a synthetic one."""
    return [_ratings_table(11, 30, 40, 300), _ratings_table(12, 6, 9, 20, int_ratings=True),
            _ratings_table(13, 50, 200, 150), _synthetic_ratings(3)]


def _frame(num_rows, seed, string_index=False):
    """A table that is not ratings: mixed column types, shuffled non-range index."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_rows)
    index = [f"key-{i}" for i in order] if string_index else order * 7 + 100
    return pd.DataFrame({"x": rng.normal(size=num_rows), "count": rng.integers(0, 9, num_rows),
                         "label": [f"item {i}" for i in range(num_rows)]}, index=pd.Index(index, name="key"))


def _split(split_dataframe, df, fraction, seed):
    """The answer's (train, test), after checking they are two DataFrames."""
    result = split_dataframe(df, holdout_fraction=fraction, seed=seed)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "return a pair (train, test)"
    train, test = result
    assert isinstance(train, pd.DataFrame) and isinstance(test, pd.DataFrame), "train and test must be DataFrames"
    return train, test
