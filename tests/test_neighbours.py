"""Item-based k nearest neighbours (recsys_course.neighbours), and notebook 11's hidden-test references.

The library's vectorised versions are checked against plain loops written
here, on small seeded tables, for every rule of the contract (CURRICULUM 11):
centring by each user's own mean, zero vectors, the movie itself excluded,
positive similarities only, k, ties by the smaller id, the two fallbacks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from grader.hidden_tests import neighbours as hidden
from recsys_course.neighbours import KnnPredictor, centred_rating_matrix, item_similarity, knn_predict


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"]).astype({"rating": float})


def random_table(num_users: int, num_movies: int, density: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = np.flatnonzero(rng.random(num_users * num_movies) < density)
    users, movies = np.divmod(cells, num_movies)
    table = pd.DataFrame({"user_id": users, "movie_id": movies,
                          "rating": rng.integers(1, 6, len(cells)).astype(float)})
    return table.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def loop_similarity(ratings: pd.DataFrame, num_movies: int) -> np.ndarray:
    """The adjusted cosine, one pair of movies at a time, over dicts."""
    means = ratings.groupby("user_id")["rating"].mean().to_dict()
    vectors = [dict() for _ in range(num_movies)]
    for user, movie, rating in ratings[["user_id", "movie_id", "rating"]].itertuples(index=False):
        vectors[int(movie)][int(user)] = rating - means[user]
    norms = [math.sqrt(sum(v * v for v in vector.values())) for vector in vectors]
    result = np.zeros((num_movies, num_movies))
    for i in range(num_movies):
        for j in range(num_movies):
            if norms[i] > 1e-9 and norms[j] > 1e-9:
                dot = sum(value * vectors[j].get(user, 0.0) for user, value in vectors[i].items())
                result[i, j] = dot / (norms[i] * norms[j])
    return result


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_item_similarity_matches_loops(seed):
    table = random_table(15, 12, 0.4, seed)
    np.testing.assert_allclose(item_similarity(table, 14), loop_similarity(table, 14), atol=1e-12)


def test_item_similarity_zero_vectors_and_hand_values():
    table = frame([(0, 0, 5), (0, 1, 3), (0, 2, 4), (1, 0, 4), (1, 1, 2), (2, 0, 1), (2, 2, 3), (3, 3, 3), (3, 4, 3)])
    similarity = item_similarity(table, 6)
    assert similarity.shape == (6, 6) and similarity.dtype == np.float64
    assert not np.isnan(similarity).any()
    assert np.all(similarity[3:] == 0) and np.all(similarity[:, 3:] == 0)  # diagonal included
    assert similarity[0, 1] == pytest.approx(-2 / math.sqrt(6))
    assert similarity[0, 2] == pytest.approx(-1 / math.sqrt(3))
    assert similarity[1, 2] == pytest.approx(0.0)
    np.testing.assert_allclose(np.diag(similarity)[:3], 1.0)
    np.testing.assert_allclose(similarity, similarity.T)


def test_centred_matrix_uses_each_users_own_mean():
    centred = centred_rating_matrix(frame([(0, 0, 5), (0, 2, 3), (2, 1, 2)]), 4).toarray()
    np.testing.assert_allclose(centred, [[1, 0, -1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def loop_predict(similarity, ratings, user, movie, k):
    mine = [(int(m), float(r)) for u, m, r in ratings[["user_id", "movie_id", "rating"]].itertuples(index=False)
            if u == user]
    if not mine:
        return float(ratings["rating"].mean())
    candidates = sorted(((similarity[movie, m], m, r) for m, r in mine if m != movie and similarity[movie, m] > 0),
                        key=lambda c: (-c[0], c[1]))[:k]
    if not candidates:
        return sum(r for _, r in mine) / len(mine)
    return sum(s * r for s, _, r in candidates) / sum(s for s, _, _ in candidates)


@pytest.mark.parametrize("k", [1, 2, 5, 50])
def test_knn_predict_matches_loops_and_predictor(k):
    table = random_table(12, 15, 0.5, seed=10 + k)
    similarity = np.round(np.random.default_rng(k).uniform(-1, 1, (15, 15)), 1)  # rounding makes ties
    predictor = KnnPredictor(similarity, table, k=k)
    pairs = [(u, m) for u in range(13) for m in range(0, 15, 2)]  # user 12 has no rating
    expected = [loop_predict(similarity, table, u, m, k) for u, m in pairs]
    got = [knn_predict(similarity, table, u, m, k) for u, m in pairs]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(predictor.predict([u for u, _ in pairs], [m for _, m in pairs]), expected, rtol=1e-12)
    assert all(isinstance(value, float) for value in got)


def test_knn_predict_rules_by_hand():
    similarity = np.eye(7)
    similarity[0, 1:] = similarity[1:, 0] = [0.5, 0.5, 0.5, -0.9, 0.2, 0.0]
    table = frame([(0, 0, 5), (0, 3, 3), (0, 2, 1), (0, 1, 5), (0, 4, 1), (0, 5, 2), (0, 6, 4), (1, 1, 2)])
    assert knn_predict(similarity, table, 0, 0, k=1) == 5.0  # movie 1: the smallest of three tied ids
    assert knn_predict(similarity, table, 0, 0, k=2) == 3.0
    assert knn_predict(similarity, table, 0, 0, k=10) == pytest.approx((0.5 * 9 + 0.2 * 2) / 1.7)
    assert knn_predict(similarity, table, 1, 4, k=10) == 2.0  # no positive neighbour: the user's mean
    assert knn_predict(similarity, table, 5, 0, k=10) == pytest.approx(table["rating"].mean())  # no rating


def test_hidden_test_references_agree_with_the_library():
    table = hidden.random_ratings(14, 11, 0.45, seed=3)
    np.testing.assert_allclose(hidden.reference_item_similarity(table, 12), item_similarity(table, 12), atol=1e-12)
    similarity = hidden.random_similarity(11, seed=4)
    for user, movie in [(0, 1), (3, 3), (13, 10), (20, 0)]:
        for k in (1, 4, 30):
            assert hidden.reference_knn_predict(similarity, table, user, movie, k) == pytest.approx(
                knn_predict(similarity, table, user, movie, k), rel=1e-12)


def test_hidden_guard_refuses_the_library():
    from grader.hidden_tests.common import LibraryDelegationError, guarded
    from recsys_course import neighbours

    table = hidden.random_ratings(6, 5, 0.6, seed=5)
    delegating = guarded(lambda r, n: neighbours.item_similarity(r, n), "item_similarity")
    with pytest.raises(LibraryDelegationError):
        delegating(table, 5)
    predictor_route = guarded(
        lambda s, t, u, m, k=20: neighbours.KnnPredictor(s, t, k).predict_one(u, m), "knn_predict")
    with pytest.raises(LibraryDelegationError):
        predictor_route(np.eye(5), table, 0, 1)
    own = guarded(hidden.reference_knn_predict, "knn_predict")
    assert isinstance(own(np.eye(5), table, 0, 1), float)
