"""Split a table into a training part and a held-out test part.

>>> train, test = split_dataframe(ratings, holdout_fraction=0.1, seed=42)

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
