"""The synthetic MovieLens look-alike: sizes, seeding and its planted structure."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_course.synthetic import make_synthetic_frames


def test_sizes_and_coverage():
    users, movies, ratings, user_factors, movie_factors = make_synthetic_frames(
        num_users=30, num_movies=40, num_ratings=500, rank=2, seed=3)
    assert (len(users), len(movies), len(ratings)) == (30, 40, 500)
    assert user_factors.shape == (30, 2) and movie_factors.shape == (40, 2)
    assert set(ratings["user_id"]) == set(range(1, 31))
    assert set(ratings["movie_id"]) == set(range(1, 41))
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    assert ratings["rating"].between(1, 5).all()


def test_seeded():
    first, second = make_synthetic_frames(seed=7), make_synthetic_frames(seed=7)
    assert first[2].equals(second[2]) and first[1].equals(second[1])
    assert not first[2].equals(make_synthetic_frames(seed=8)[2])


def test_ratings_follow_the_planted_low_rank_scores():
    _, _, ratings, user_factors, movie_factors = make_synthetic_frames(seed=0)
    planted = np.einsum("ij,ij->i", user_factors[ratings["user_id"] - 1],
                        movie_factors[ratings["movie_id"] - 1])
    assert np.corrcoef(planted, ratings["rating"])[0, 1] > 0.8


@pytest.mark.parametrize("sizes", [dict(num_ratings=0), dict(num_users=10, num_movies=5, num_ratings=51),
                                   dict(num_users=100, num_ratings=99, num_movies=80)])
def test_impossible_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match="num_ratings"):
        make_synthetic_frames(**sizes)
