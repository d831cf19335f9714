"""Split a table into a training part and a held-out test part.

>>> train, test = split_dataframe(ratings, holdout_fraction=0.1, seed=42)
>>> train, test = split_by_time(ratings, holdout_per_user=1)   # notebook 9

This is the reference for the exercise of notebook 1 and what the later
notebooks use to hold out ratings. The rules:

- the test part holds ``round(holdout_fraction * len(df))`` rows (Python's
  ``round``) drawn at random without replacement, the training part the rest;
- both parts keep the rows, columns and index labels of ``df`` unchanged, in
  ``df``'s order, so that ``pd.concat([train, test]).sort_index()`` gives back
  ``df`` (for a sorted index);
- the same ``seed`` gives the same split; ``df`` itself is not modified;
- ``holdout_fraction`` 0 gives an empty test part, 1 an empty training part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_SPLIT_SEED = 42


def split_dataframe(df: pd.DataFrame, holdout_fraction: float = 0.1,
                    seed: int = DEFAULT_SPLIT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` at random into ``(train, test)``.

    Args:
        df: any DataFrame (ratings, users, ...); its index need not be a range
            and may even repeat labels: rows are chosen by position.
        holdout_fraction: fraction of the rows in the test part, between 0
            and 1 inclusive; the test part has ``round(holdout_fraction * len(df))`` rows.
        seed: seed of the random draw; the same seed gives the same split.

    Returns:
        ``(train, test)``: two disjoint DataFrames whose rows together are
        exactly ``df``'s, each in ``df``'s row order with its index labels.
    """
    if not 0 <= holdout_fraction <= 1:
        raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    num_test = round(holdout_fraction * len(df))
    rng = np.random.default_rng(seed)
    in_test = np.zeros(len(df), dtype=bool)
    in_test[rng.choice(len(df), size=num_test, replace=False)] = True
    return df.iloc[~in_test], df.iloc[in_test]


def split_by_time(ratings: pd.DataFrame,
                  holdout_per_user: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's most recent ratings: ``(train, test)``.

    The reference for the exercise of notebook 9. A random split lets a
    model learn from a user's later ratings to predict their earlier ones; a
    split by time asks what a deployed recommender faces, the future.

    The rules:

    - each user's ``holdout_per_user`` most recent ratings (by ``timestamp``)
      go to the test part, the rest to the training part;
    - of two ratings of a user with the same timestamp, the one in the later
      row of ``ratings`` counts as more recent (so a frame already in time
      order splits as its rows read);
    - a user with no more than ``holdout_per_user`` ratings keeps them all in
      the training part (nothing would be left to learn them from);
    - both parts keep the rows, columns and index labels of ``ratings``, in
      its row order; ``ratings`` itself is not modified.

    Args:
        ratings: a ratings frame with ``user_id`` and ``timestamp`` columns
            (MovieLens calls the latter ``unix_timestamp``: rename it).
        holdout_per_user: how many ratings of each user to hold out (>= 0).
    """
    if holdout_per_user < 0:
        raise ValueError(f"holdout_per_user must be at least 0, got {holdout_per_user}")
    # Stable sort by time: rows with equal timestamps keep their frame order,
    # so the later row is the more recent one.
    order = np.argsort(ratings["timestamp"].to_numpy(), kind="stable")
    users = ratings["user_id"].to_numpy()[order]
    by_time = pd.Series(users)
    rank_from_last = by_time.groupby(users).cumcount(ascending=False).to_numpy()
    count = by_time.groupby(users).transform("size").to_numpy()
    in_test_sorted = (rank_from_last < holdout_per_user) & (count > holdout_per_user)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = in_test_sorted
    return ratings.iloc[~in_test], ratings.iloc[in_test]
