"""Notebook 1 (exploring MovieLens): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

STATS_UNIQUE = '''
def movie_rating_stats(ratings):
    """Counts and means with np.unique and np.bincount."""
    ids, inverse, counts = np.unique(ratings["movie_id"].to_numpy(), return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ratings["rating"].to_numpy(dtype=float))
    return pd.DataFrame({"rating_count": counts.astype("int64"), "rating_mean": sums / counts},
                        index=pd.Index(ids, name="movie_id"))
'''
STATS_SIZE = '''
def movie_rating_stats(ratings):
    by_movie = ratings.groupby("movie_id")["rating"]
    return pd.DataFrame({"rating_count": by_movie.size(), "rating_mean": by_movie.mean().astype(float)})
'''
STATS_SUM = '''
def movie_rating_stats(ratings):
    by_movie = ratings.groupby("movie_id")["rating"]
    return pd.DataFrame({"rating_count": by_movie.size(), "rating_mean": by_movie.sum().astype(float)})
'''
SPLIT_PERMUTATION = '''
def split_dataframe(df, holdout_fraction=0.1, seed=42):
    if not 0 <= holdout_fraction <= 1:
        raise ValueError("holdout_fraction must be in [0, 1]")
    order = np.random.RandomState(seed).permutation(len(df))
    num_test = int(round(holdout_fraction * len(df)))
    return df.iloc[np.sort(order[num_test:])], df.iloc[np.sort(order[:num_test])]
'''
SPLIT_SWAPPED = '''
def split_dataframe(df, holdout_fraction=0.1, seed=42):
    """Returns (test, train): the pair the wrong way round."""
    if not 0 <= holdout_fraction <= 1:
        raise ValueError("holdout_fraction must be in [0, 1]")
    rng = np.random.default_rng(seed)
    in_test = np.zeros(len(df), dtype=bool)
    in_test[rng.choice(len(df), size=round(holdout_fraction * len(df)), replace=False)] = True
    return df.iloc[in_test], df.iloc[~in_test]
'''

STATS = Exercise("movie_rating_stats", "ratings", "ratings", library=())  # the library keeps no version
SPLIT = Exercise("split_dataframe", "df, holdout_fraction=0.1, seed=42", "df, holdout_fraction=holdout_fraction, seed=seed",
                 library=("recsys_course.splits.split_dataframe",))

# What the rest of the class hands in (grader_cases.fill_the_class).
OTHER_ROUTE = {"movie_rating_stats_solution": STATS_SIZE, "split_dataframe_solution": SPLIT_PERMUTATION}

CASES = [
    Case({"movie_rating_stats_solution": STATS_UNIQUE, "split_dataframe_solution": SPLIT_PERMUTATION},
         "np.unique, permutation", student="s03"),
    Case({"movie_rating_stats_solution": STATS_SIZE}, "groupby size", student="s04"),
    Case({"movie_rating_stats_solution": STATS_SUM}, "sum instead of mean", student="s05",
         lost="movie_rating_stats_hidden_format movie_rating_stats_hidden_means"),
    Case({"split_dataframe_solution": SPLIT_SWAPPED}, "(test, train) swapped", student="s06",
         lost="split_dataframe_hidden_sizes split_dataframe_hidden_edge_fractions"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(1, SPLIT, what="split_dataframe handed to the library", lost="split_dataframe")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(STATS, SPLIT, value="0"), "every function returns 0", lost="*", pending="values_before_structure"),
    Case(constant(STATS, SPLIT, value="None"), "every function returns None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
]
