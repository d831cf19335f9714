"""Tests of recsys_course.splits.split_dataframe (the reference of notebook 1's exercise)."""

import numpy as np
import pandas as pd
import pytest

from recsys_course.splits import split_dataframe


def make_frame(num_rows: int, seed: int = 0) -> pd.DataFrame:
    """A non-ratings frame with a shuffled, non-range index and mixed column types."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(size=num_rows), "n": rng.integers(0, 5, num_rows),
         "name": [f"row{i}" for i in range(num_rows)]},
        index=rng.permutation(num_rows) * 3 + 1000,
    )


@pytest.mark.parametrize("num_rows, fraction", [(1000, 0.1), (37, 0.25), (10, 0.5), (7, 0.3)])
def test_sizes_follow_the_rounded_fraction(num_rows, fraction):
    train, test = split_dataframe(make_frame(num_rows), holdout_fraction=fraction, seed=3)
    assert len(test) == round(fraction * num_rows)
    assert len(train) + len(test) == num_rows


def test_parts_are_disjoint_and_cover_the_frame_in_order():
    df = make_frame(200)
    before = df.copy()
    train, test = split_dataframe(df, holdout_fraction=0.2, seed=1)
    assert set(train.index).isdisjoint(test.index)
    assert list(train.columns) == list(df.columns) == list(test.columns)
    # each part keeps df's order and labels; together they are df
    positions = np.concatenate([df.index.get_indexer(train.index), df.index.get_indexer(test.index)])
    positions = np.sort(positions)
    assert np.array_equal(positions, np.arange(len(df)))
    pd.testing.assert_frame_equal(pd.concat([train, test]).loc[df.index], df)
    assert list(train.index) == [label for label in df.index if label in set(train.index)]
    pd.testing.assert_frame_equal(df, before)  # df is not modified


def test_same_seed_same_split_other_seed_other_split():
    df = make_frame(300)
    first = split_dataframe(df, 0.1, seed=7)[1].index
    again = split_dataframe(df, 0.1, seed=7)[1].index
    other = split_dataframe(df, 0.1, seed=8)[1].index
    assert list(first) == list(again)
    assert set(first) != set(other)


def test_default_seed_is_fixed():
    df = make_frame(50)
    assert list(split_dataframe(df)[1].index) == list(split_dataframe(df)[1].index)


def test_edge_fractions():
    df = make_frame(20)
    train, test = split_dataframe(df, holdout_fraction=0.0)
    assert len(test) == 0 and list(test.columns) == list(df.columns)
    pd.testing.assert_frame_equal(train, df)
    train, test = split_dataframe(df, holdout_fraction=1.0)
    assert len(train) == 0
    pd.testing.assert_frame_equal(test, df)
    train, test = split_dataframe(df.iloc[:0], holdout_fraction=0.5)
    assert len(train) == len(test) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_fraction_outside_zero_one_is_an_error(fraction):
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_dataframe(make_frame(10), holdout_fraction=fraction)


def test_repeated_index_labels_are_split_by_position():
    df = pd.DataFrame({"v": np.arange(10)}, index=[0] * 5 + [1] * 5)
    train, test = split_dataframe(df, holdout_fraction=0.3, seed=0)
    assert len(test) == 3 and len(train) == 7
    assert sorted(np.concatenate([train["v"].to_numpy(), test["v"].to_numpy()])) == list(range(10))
