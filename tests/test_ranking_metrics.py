"""Tests of recsys_course.ranking_metrics: hand-made cases with known answers, and agreement
between the per-user functions and their vectorised versions on random data (seeded)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from scipy import sparse

from recsys_course import ranking_metrics as rm


# --- top_k_unseen -----------------------------------------------------------------

def test_top_k_unseen_orders_by_score_skips_seen_and_breaks_ties_by_id():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.2],
                       [1.0, 1.0, 1.0, 1.0, 1.0]])
    seen = np.array([[0, 0, 0, 1, 0],
                     [0, 1, 0, 0, 0]], bool)
    top = rm.top_k_unseen(scores, seen, k=3)
    assert top.dtype.kind == "i" and top.shape == (2, 3)
    assert top.tolist() == [[1, 2, 4], [0, 2, 3]]


def test_top_k_unseen_pads_with_minus_one():
    scores = np.arange(8, dtype=float).reshape(2, 4)
    seen = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    assert rm.top_k_unseen(scores, seen, k=3).tolist() == [[3, -1, -1], [-1, -1, -1]]
    # k larger than the catalogue
    assert rm.top_k_unseen(scores, np.zeros((2, 4), bool), k=6).tolist() == [
        [3, 2, 1, 0, -1, -1], [3, 2, 1, 0, -1, -1]]


def test_top_k_unseen_never_returns_a_seen_movie_even_with_the_top_score():
    scores = np.array([[5.0, -np.inf, 1.0]])
    seen = np.array([[True, False, False]])
    assert rm.top_k_unseen(scores, seen, k=3).tolist() == [[2, 1, -1]]


@pytest.mark.parametrize("kind", ["tf", "scipy", "dense_bool", "dense_float"])
def test_top_k_unseen_accepts_every_form_of_seen(kind):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(6, 9))
    mask = rng.random((6, 9)) < 0.4
    rows, cols = np.nonzero(mask)
    if kind == "tf":
        order = rng.permutation(len(rows))  # any index order; explicit zero values count
        seen = tf.SparseTensor(np.stack([rows[order], cols[order]], 1).astype(np.int64),
                               np.zeros(len(rows), np.float32), [6, 9])
    elif kind == "scipy":
        seen = sparse.coo_matrix((np.zeros(len(rows)), (rows, cols)), shape=(6, 9)).tocsr()
        assert seen.nnz == len(rows)  # the explicit zeros are stored
    elif kind == "dense_bool":
        seen = mask
    else:
        seen = mask * rng.uniform(1, 5, size=mask.shape)
    expected = [[j for j in np.argsort(-scores[i], kind="stable") if not mask[i, j]][:4]
                for i in range(6)]
    got = rm.top_k_unseen(tf.constant(scores) if kind == "tf" else scores, seen, k=4)
    assert got.tolist() == [row + [-1] * (4 - len(row)) for row in expected]


# --- One user's metrics --------------------------------------------------------------

def test_precision_recall_ndcg_by_hand():
    recommended = [3, 1, 7, 5]
    relevant = {1, 5, 9}
    assert rm.precision_at_k(recommended, relevant, k=4) == pytest.approx(2 / 4)
    assert rm.recall_at_k(recommended, relevant, k=4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert rm.ndcg_at_k(recommended, relevant, k=4) == pytest.approx(dcg / ideal)
    assert rm.precision_at_k(recommended, relevant, k=2) == pytest.approx(1 / 2)
    assert rm.ndcg_at_k(recommended, relevant, k=2) == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_no_relevant_movie_gives_nan_recall_and_ndcg_and_zero_precision():
    assert rm.precision_at_k([1, 2], [], k=2) == 0.0
    assert math.isnan(rm.recall_at_k([1, 2], [], k=2))
    assert math.isnan(rm.ndcg_at_k([1, 2], set(), k=2))


def test_padding_short_lists_series_values_and_repeats():
    # padding never hits, even if -1 were "relevant"; a short list divides by k anyway
    assert rm.precision_at_k([4, -1, -1], [4, -1], k=5) == pytest.approx(1 / 5)
    series = pd.Series([4, 4, 8], index=[0, 1, 2])  # values count, not the index; 4 once
    assert rm.recall_at_k([0, 1, 4], series, k=3) == pytest.approx(1 / 2)
    assert rm.ndcg_at_k([4, 8], np.array([8, 4, 4]), k=10) == pytest.approx(1.0)
    assert rm.ndcg_at_k([8], [8, 4], k=1) == pytest.approx(1.0)  # ideal: min(k, |relevant|) hits


def test_vectorised_metrics_match_the_per_user_ones():
    rng = np.random.default_rng(1)
    num_users, num_movies = 30, 40
    relevant = rng.random((num_users, num_movies)) < 0.08
    relevant[3] = False
    top = rm.top_k_unseen(rng.normal(size=(num_users, num_movies)), rng.random((num_users, num_movies)) < 0.5, 20)
    for k in (5, 10, 20):
        batch = rm.ranking_metrics(top, relevant, k)
        for user in range(num_users):
            ids = np.flatnonzero(relevant[user])
            np.testing.assert_allclose(batch["precision"][user], rm.precision_at_k(top[user], ids, k))
            np.testing.assert_allclose(batch["recall"][user], rm.recall_at_k(top[user], ids, k))
            np.testing.assert_allclose(batch["ndcg"][user], rm.ndcg_at_k(top[user], ids, k))
    assert math.isnan(batch["ndcg"][3])


# --- Beyond accuracy ------------------------------------------------------------------

def test_popularity_scores_counts_training_ratings():
    train = pd.DataFrame({"user_id": [0, 1, 1], "movie_id": [2, 2, 0], "rating": [5.0, 1.0, 3.0]})
    scores = rm.popularity_scores(train, 4)
    assert scores.dtype == np.float64 and scores.tolist() == [1.0, 0.0, 2.0, 0.0]


def test_novelty_by_hand():
    counts = np.array([9.0, 0.0, 4.0])
    top = np.array([[0, 1], [2, -1]])
    expected = np.mean([-np.log2(10 / 10), -np.log2(1 / 10), -np.log2(5 / 10)])
    assert rm.novelty(top, counts, num_users=9) == pytest.approx(expected)


def test_intra_list_diversity_by_hand():
    embeddings = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
    top = np.array([[0, 1, -1], [0, 2, 1], [3, -1, -1]])  # the last user has one movie: skipped
    first = 1.0  # orthogonal
    c = 1 / np.sqrt(2)
    second = np.mean([1 - c, 1 - 0.0, 1 - c])
    assert rm.intra_list_diversity(top, embeddings) == pytest.approx((first + second) / 2)
    # a zero embedding has similarity 0 with everything
    assert rm.intra_list_diversity(np.array([[0, 3]]), embeddings) == pytest.approx(1.0)


def test_catalogue_coverage():
    assert rm.catalogue_coverage(np.array([[0, 1], [1, -1]]), 4) == pytest.approx(0.5)


# --- One label per example (notebook 7's metrics, moved here) -------------------------

def test_label_metrics_are_what_softmax_exports():
    from recsys_course import softmax

    assert softmax.precision_at_k is rm.label_precision_at_k
    assert softmax.recall_at_k is rm.label_recall_at_k
    assert softmax.top_k_hits is rm.label_hits_at_k
    logits = tf.constant([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    assert rm.label_hits_at_k(logits, tf.constant([2, 2]), k=2).numpy().tolist() == [1.0, 0.0]


# --- The hidden tests' references agree with the library --------------------------------

def test_hidden_test_references_agree_with_the_library():
    from grader.hidden_tests import evaluation as hidden

    for seed in range(5):
        scores, seen = hidden.ranking_case(seed, 9, 13, seen_fraction=0.5)
        for k in (1, 4, 15):
            np.testing.assert_array_equal(hidden.reference_top_k_unseen(scores, seen, k),
                                          rm.top_k_unseen(scores, seen, k))
        as_tensor, as_scipy = hidden.sparse_forms_of(seen, seed)
        np.testing.assert_array_equal(rm.seen_mask(as_tensor, seen.shape), seen)
        np.testing.assert_array_equal(rm.seen_mask(as_scipy, seen.shape), seen)
        recommended, relevant = hidden.ranked_list_case(seed)
        for k in (1, 5, 12):
            for ours, theirs in ((rm.precision_at_k, hidden.reference_precision_at_k),
                                 (rm.recall_at_k, hidden.reference_recall_at_k),
                                 (rm.ndcg_at_k, hidden.reference_ndcg_at_k)):
                assert ours(recommended, relevant, k) == pytest.approx(theirs(recommended, relevant, k))
        frame = hidden.ratings_case(seed, 6, 10, 30)
        np.testing.assert_array_equal(rm.popularity_scores(frame, 10), hidden.reference_popularity(frame, 10))
        rng = np.random.default_rng(seed)
        top = rm.top_k_unseen(rng.normal(size=(7, 12)), rng.random((7, 12)) < 0.7, 5)
        counts = rng.integers(0, 8, size=12).astype(float)
        assert rm.novelty(top, counts, 7) == pytest.approx(hidden.reference_novelty(top, counts, 7))
        embeddings = rng.normal(size=(12, 3))
        assert rm.intra_list_diversity(top, embeddings) == pytest.approx(
            hidden.reference_diversity(top, embeddings))
    scores, seen = hidden.ranking_case(9, 30, 8, seen_fraction=0.9, min_unseen=3)
    assert (~seen).sum(axis=1).min() >= 3
