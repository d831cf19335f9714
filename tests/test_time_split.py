"""recsys_course.splits.split_by_time on small frames with ties and short histories."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_course.splits import split_by_time


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def movies_of(part: pd.DataFrame, user: int) -> set[int]:
    return set(part.loc[part["user_id"] == user, "movie_id"])


def test_each_users_most_recent_ratings_are_held_out():
    ratings = frame([(0, 1, 4.0, 30), (0, 2, 3.0, 10), (0, 3, 5.0, 20), (1, 4, 2.0, 5),
                     (1, 5, 1.0, 50), (1, 6, 3.0, 40), (0, 7, 4.0, 25)])
    train, test = split_by_time(ratings)
    assert movies_of(test, 0) == {1} and movies_of(test, 1) == {5}
    train2, test2 = split_by_time(ratings, holdout_per_user=2)
    assert movies_of(test2, 0) == {1, 7} and movies_of(test2, 1) == {5, 6}
    assert movies_of(train2, 0) == {2, 3} and movies_of(train2, 1) == {4}


def test_parts_keep_rows_columns_index_and_order_and_input_is_untouched():
    rng = np.random.default_rng(0)
    ratings = frame([(int(u), m, float(rng.integers(1, 6)), int(rng.integers(0, 20)))
                     for m, u in enumerate(rng.integers(0, 6, 60))])
    ratings.index = rng.permutation(1000)[:60]  # labels that are not positions
    before = ratings.copy()
    train, test = split_by_time(ratings, holdout_per_user=3)
    pd.testing.assert_frame_equal(ratings, before)
    assert list(train.columns) == list(ratings.columns)
    assert len(train) + len(test) == len(ratings)
    assert not set(train.index) & set(test.index)
    assert list(train.index) == [i for i in ratings.index if i in set(train.index)]  # frame order
    pd.testing.assert_frame_equal(pd.concat([train, test]).loc[ratings.index], ratings)


def test_the_later_row_of_two_equal_timestamps_is_more_recent():
    ratings = frame([(0, 1, 4.0, 7), (0, 2, 3.0, 7), (0, 3, 5.0, 7), (0, 4, 5.0, 1)])
    ratings.index = [30, 20, 10, 0]  # the index order is not the row order
    assert movies_of(split_by_time(ratings)[1], 0) == {3}
    assert movies_of(split_by_time(ratings, 2)[1], 0) == {2, 3}
    # Frame in time order: the split follows the rows.
    ordered = frame([(1, m, 3.0, 100) for m in range(5)])
    assert movies_of(split_by_time(ordered, 2)[1], 1) == {3, 4}


def test_users_with_too_few_ratings_keep_them_all_in_train():
    ratings = frame([(0, 1, 4.0, 1), (1, 2, 3.0, 1), (1, 3, 3.0, 2), (2, 4, 1.0, 1),
                     (2, 5, 2.0, 2), (2, 6, 3.0, 3)])
    train, test = split_by_time(ratings, holdout_per_user=2)
    assert movies_of(test, 0) == set() and movies_of(test, 1) == set()  # 1 and 2 ratings: <= 2
    assert movies_of(test, 2) == {5, 6}
    assert movies_of(train, 0) == {1} and movies_of(train, 1) == {2, 3}
    assert len(split_by_time(ratings, holdout_per_user=0)[1]) == 0


def test_edge_cases():
    empty = frame([])
    train, test = split_by_time(empty)
    assert len(train) == 0 and len(test) == 0
    with pytest.raises(ValueError):
        split_by_time(frame([(0, 1, 4.0, 1)]), holdout_per_user=-1)


def test_matches_a_plain_loop_on_random_frames():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        n = 200
        ratings = pd.DataFrame({"user_id": rng.integers(0, 15, n), "movie_id": np.arange(n),
                                "rating": rng.integers(1, 6, n).astype(float),
                                "timestamp": rng.integers(0, 30, n)})
        k = int(rng.integers(1, 6))
        expected = set()
        for _user, group in ratings.groupby("user_id"):
            positions = sorted(range(len(group)), key=lambda p: (group["timestamp"].iloc[p], p))
            if len(group) > k:
                expected |= {int(group["movie_id"].iloc[p]) for p in positions[-k:]}
        assert set(split_by_time(ratings, k)[1]["movie_id"]) == expected


def test_the_hidden_tests_reference_agrees_with_the_library():
    from grader.hidden_tests.keras_mf import reference_time_test_keys, time_split_case

    for seed, (num_users, per_user, distinct) in enumerate([(6, 5, None), (7, 30, 4), (6, [1, 2, 3, 2, 5, 4], None)]):
        ratings = time_split_case(seed, num_users, per_user, distinct)
        for holdout in (1, 2, 3):
            test = split_by_time(ratings, holdout)[1]
            assert set(zip(test["user_id"], test["movie_id"])) == reference_time_test_keys(ratings, holdout)
