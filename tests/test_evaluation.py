"""Tests of recsys_course.evaluation: the protocol's matrices, the score matrices of the course's
models, the table and chart, damped means and new users, on small seeded data."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from recsys_course import evaluation as ev
from recsys_course import ranking_metrics as rm


def _ratings(seed=0, num_users=12, num_movies=15, num_ratings=90):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(num_users * num_movies, size=num_ratings, replace=False)
    return pd.DataFrame({"user_id": pairs // num_movies, "movie_id": pairs % num_movies,
                         "rating": rng.integers(1, 6, size=num_ratings).astype(float)})


def test_seen_and_relevant_matrices():
    train = pd.DataFrame({"user_id": [0, 0, 1], "movie_id": [1, 1, 2], "rating": [4.0, 2.0, 5.0]})
    seen = ev.seen_matrix(train, 3, 4)
    assert seen.shape == (3, 4) and seen.toarray().tolist() == [
        [False, True, False, False], [False, False, True, False], [False] * 4]
    test = pd.DataFrame({"user_id": [0, 1, 2], "movie_id": [3, 0, 1], "rating": [4.0, 3.5, 5.0]})
    assert ev.relevant_matrix(test, 3, 4).tolist() == [
        [False, False, False, True], [False] * 4, [False, True, False, False]]


def test_evaluate_scores_matches_the_per_user_functions():
    ratings = _ratings()
    train, test = ratings.iloc[:70], ratings.iloc[70:]
    scores = np.random.default_rng(1).normal(size=(12, 15))
    embeddings = np.random.default_rng(2).normal(size=(15, 3))
    row = ev.evaluate_scores(scores, train, test, embeddings, cutoffs=(3, 5))
    top = rm.top_k_unseen(scores, ev.seen_matrix(train, 12, 15), 5)
    relevant = test[test["rating"] >= 4].groupby("user_id")["movie_id"].apply(list)
    for k in (3, 5):
        per_user = [rm.ndcg_at_k(top[u], relevant.get(u, []), k) for u in range(12)]
        assert row[f"ndcg@{k}"] == pytest.approx(np.nanmean(per_user))
        precision = [rm.precision_at_k(top[u], relevant.get(u, []), k) for u in range(12)]
        assert row[f"precision@{k}"] == pytest.approx(np.mean(precision))
    counts = rm.popularity_scores(train, 15)
    assert row["novelty"] == pytest.approx(rm.novelty(top[:, :5], counts, 12))
    assert row["diversity"] == pytest.approx(rm.intra_list_diversity(top[:, :5], embeddings))
    assert row["coverage"] == pytest.approx(rm.catalogue_coverage(top[:, :5], 15))
    assert row["rank_seconds"] >= 0


def test_score_matrices_of_the_baselines_and_factorizations():
    from recsys_course import baselines

    ratings = _ratings(3)
    popular = ev.popularity_baseline_scores(ratings, 12, 15)
    assert popular.shape == (12, 15) and np.all(popular == popular[0])
    bias = baselines.fit_bias_baseline(ratings, 12, 15)
    scores = ev.bias_baseline_scores(bias)
    np.testing.assert_allclose(scores[ratings["user_id"], ratings["movie_id"]],
                               bias.predict(ratings["user_id"], ratings["movie_id"]))
    U, V = np.ones((12, 2)), np.arange(30.0).reshape(15, 2)
    np.testing.assert_allclose(ev.factorization_scores({"user_id": U, "movie_id": V}), U @ V.T)
    assert ev.random_scores(3, 4, seed=5).tolist() == ev.random_scores(3, 4, seed=5).tolist()


def test_keras_mf_scores_equal_its_predictions():
    from recsys_course import baselines

    ratings = _ratings(4)
    model = baselines.build_keras_mf_with_biases(12, 15, embedding_dim=3, global_mean=3.5, seed=1)
    for layer in ("user_bias", "movie_bias"):  # nonzero biases, to see them in the scores
        weights = model.get_layer(layer).get_weights()[0]
        model.get_layer(layer).set_weights([np.random.default_rng(2).normal(size=weights.shape)])
    scores = ev.keras_mf_scores(model)
    predicted = baselines.predict_ratings(model, ratings["user_id"], ratings["movie_id"], clip=None)
    np.testing.assert_allclose(scores[ratings["user_id"], ratings["movie_id"]], predicted, rtol=1e-5, atol=1e-5)


def test_comparison_table_orders_columns_and_the_chart_compiles():
    rows = {name: {"novelty": 2.0, "coverage": 0.1, "diversity": 0.5, "fit_seconds": 1.0,
                   "test_rmse": 1.0 if name != "random" else math.nan,
                   **{f"{m}@{k}": 0.1 * i for m in ("ndcg", "recall", "precision") for k in (20, 10, 5)}}
            for i, name in enumerate(["random", "a", "b"])}
    table = ev.comparison_table(rows)
    assert list(table.columns[:4]) == ["test_rmse", "precision@5", "precision@10", "precision@20"]
    assert list(table.columns[-4:]) == ["coverage", "diversity", "novelty", "fit_seconds"]
    chart = ev.comparison_chart(table)
    spec = chart.to_dict()
    text = json.dumps(spec)
    assert "model_pick" in text and "cutoff" in text


def test_damped_mean_and_min_count():
    train = pd.DataFrame({"movie_id": [0, 0, 1, 1, 1, 1], "rating": [5.0, 5.0, 3.0, 3.0, 3.0, 3.0],
                          "user_id": range(6)})
    mu = train["rating"].mean()
    damped = ev.damped_mean(train, 3, strength=2)
    np.testing.assert_allclose(damped, [(10 + 2 * mu) / 4, (12 + 2 * mu) / 6, mu])
    np.testing.assert_allclose(ev.damped_mean(train, 3, strength=0), [5.0, 3.0, mu])  # no 0/0
    assert ev.min_count_mean(train, 3, min_count=3).tolist() == [-np.inf, 3.0, -np.inf]
    table = ev.best_rated(train, pd.DataFrame({"movie_id": [0, 1, 2], "title": ["a", "b", "c"]}), damped, k=2)
    assert table["title"].tolist() == ["a", "c"] and table["ratings"].tolist() == [2, 0]  # c: the prior


def test_cut_users_keeps_a_few_ratings_of_the_chosen_users_only():
    ratings = _ratings(5, num_ratings=120)
    cut = ev.cut_users(ratings, [0, 3], keep=2, seed=1)
    counts = cut["user_id"].value_counts()
    assert counts[0] == 2 and counts[3] == 2
    others = ratings[~ratings["user_id"].isin([0, 3])]
    pd.testing.assert_frame_equal(cut[~cut["user_id"].isin([0, 3])], others)
    assert set(cut.index) <= set(ratings.index)


def test_evaluate_users_and_paired_bootstrap():
    ratings = _ratings(6)
    train, test = ratings.iloc[:60], ratings.iloc[60:]
    scores = np.random.default_rng(7).normal(size=(12, 15))
    some = ev.evaluate_users(scores, train, test, [1, 2, 5], k=5)
    every = ev.per_user_metric(scores, train, test, "ndcg", k=5)
    assert some["ndcg@5"] == pytest.approx(np.nanmean(every[[1, 2, 5]]))
    result = ev.paired_bootstrap(np.array([0.5, 0.6, np.nan, 0.9]), np.array([0.1, 0.2, 0.3, np.nan]))
    assert result["users"] == 2 and result["mean_difference"] == pytest.approx(0.4)
    assert result["low"] == pytest.approx(0.4) and result["high"] == pytest.approx(0.4)
