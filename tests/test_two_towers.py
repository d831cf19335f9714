"""recsys_course.retrieval and recsys_course.towers (notebook 10), on small seeded data."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse  # noqa: E402
import tensorflow as tf  # noqa: E402

from recsys_course import retrieval as rt  # noqa: E402
from recsys_course import towers as tw  # noqa: E402
from recsys_course.movielens import load_movielens  # noqa: E402


def reference_loss(queries: np.ndarray, candidates: np.ndarray) -> float:
    logits = queries.astype(np.float64) @ candidates.astype(np.float64).T
    top = logits.max(axis=1, keepdims=True)
    log_sum_exp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_sum_exp - np.diag(logits)))


# --- in_batch_softmax_loss ------------------------------------------------------------


@pytest.mark.parametrize("batch, dim", [(1, 3), (5, 4), (16, 8)])
def test_in_batch_loss_matches_reference(batch: int, dim: int) -> None:
    rng = np.random.default_rng(batch)
    queries, candidates = (rng.normal(size=(batch, dim)).astype(np.float32) for _ in range(2))
    loss = rt.in_batch_softmax_loss(tf.constant(queries), tf.Variable(candidates))
    assert loss.shape == () and loss.dtype == tf.float32
    assert float(loss) == pytest.approx(reference_loss(queries, candidates), rel=1e-5, abs=1e-6)


def test_in_batch_loss_known_values() -> None:
    """Zero embeddings: uniform logits, loss log(batch); scaled identities: log(e^s + n - 1) - s."""
    for batch in (1, 2, 7):
        zeros = tf.zeros([batch, 3])
        assert float(rt.in_batch_softmax_loss(zeros, zeros)) == pytest.approx(np.log(batch), abs=1e-6)
    eye = 2.0 * tf.eye(4)
    assert float(rt.in_batch_softmax_loss(eye, eye)) == pytest.approx(np.log(np.e ** 4 + 3) - 4, rel=1e-6)


def test_in_batch_loss_gradients_and_large_logits() -> None:
    rng = np.random.default_rng(7)
    queries = tf.Variable(rng.normal(size=(6, 3)).astype(np.float32))
    candidates = tf.Variable(rng.normal(size=(6, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = rt.in_batch_softmax_loss(queries, candidates)
    grad_q, grad_c = tape.gradient(loss, [queries, candidates])
    logits = queries.numpy().astype(np.float64) @ candidates.numpy().T
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    residual = (probs - np.eye(6)) / 6
    np.testing.assert_allclose(grad_q.numpy(), residual @ candidates.numpy(), atol=1e-5)
    np.testing.assert_allclose(grad_c.numpy(), residual.T @ queries.numpy(), atol=1e-5)
    big = rng.normal(size=(5, 4)).astype(np.float32) * 30
    value = float(rt.in_batch_softmax_loss(tf.constant(big), tf.constant(big[::-1].copy())))
    assert np.isfinite(value) and value == pytest.approx(reference_loss(big, big[::-1]), rel=1e-4)


def test_logq_correction_subtracts_log_frequency_per_column() -> None:
    rng = np.random.default_rng(1)
    queries, candidates = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    log_q = np.log([0.1, 0.2, 0.3, 0.4])
    q2, c2 = rt.logq_correction(tf.constant(queries), tf.constant(candidates), log_q)
    np.testing.assert_allclose(q2.numpy() @ c2.numpy().T, queries @ candidates.T - log_q[None, :], atol=1e-9)


# --- retrieve_top_k -----------------------------------------------------------------------


def test_retrieve_top_k_identity_ties_exclusion_and_padding() -> None:
    queries = np.eye(3, dtype=np.float32)
    candidates = np.array([[0, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32)
    np.testing.assert_array_equal(rt.retrieve_top_k(queries, candidates, k=2), [[1, 2], [0, 4], [3, 0]])
    exclude = np.zeros((3, 5), dtype=bool)
    exclude[0, 1] = exclude[1, [0, 1, 2, 3]] = True
    top = rt.retrieve_top_k(tf.constant(queries), tf.constant(candidates), k=3, exclude=exclude)
    assert top.dtype.kind == "i" and isinstance(top, np.ndarray)
    np.testing.assert_array_equal(top, [[2, 0, 3], [4, -1, -1], [3, 0, 1]])
    np.testing.assert_array_equal(rt.retrieve_top_k(queries, candidates, k=7)[:, 5:], -np.ones((3, 2)))


def test_retrieve_top_k_accepts_every_form_of_exclude() -> None:
    rng = np.random.default_rng(0)
    queries, candidates = rng.normal(size=(4, 3)), rng.normal(size=(9, 3))
    dense = rng.random((4, 9)) < 0.4
    expected = rt.retrieve_top_k(queries, candidates, k=5, exclude=dense)
    rows, cols = np.nonzero(dense)
    order = rng.permutation(len(rows))
    sparse_tf = tf.SparseTensor(np.stack([rows[order], cols[order]], axis=1).astype(np.int64),
                                np.zeros(len(rows), np.float32), [4, 9])  # stored zeros count
    forms = [dense.astype(np.int32), dense.astype(np.float32), sparse_tf,
             scipy.sparse.csr_matrix((np.zeros(len(rows)), (rows, cols)), shape=(4, 9))]
    for form in forms:
        np.testing.assert_array_equal(rt.retrieve_top_k(queries, candidates, k=5, exclude=form), expected)
    scores = queries @ candidates.T
    for row, top in zip(range(4), expected):
        valid = top[top >= 0]
        assert not dense[row, valid].any()
        assert np.all(np.diff(scores[row, valid]) <= 0)


def test_random_ties_spread_tied_candidates() -> None:
    queries = np.ones((50, 2))
    candidates = np.ones((20, 2))
    top = rt.retrieve_top_k_random_ties(queries, candidates, k=3, seed=1)
    assert top.shape == (50, 3) and len(set(top[:, 0])) > 10  # a new order for every query
    assert all(len(set(row)) == 3 for row in top)
    distinct = np.array([[2.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(rt.retrieve_top_k_random_ties(queries[:2], distinct, k=3), [[2, 0, 1]] * 2)
    exclude = np.zeros((50, 20), dtype=bool)
    exclude[:, 2:] = True
    assert set(rt.retrieve_top_k_random_ties(queries, candidates, k=3, exclude=exclude, seed=1)[0]) == {0, 1, -1}


# --- Splits and metrics -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(synthetic_dir):
    return load_movielens(synthetic_dir)


def test_cold_start_split_keeps_cold_ids_out_of_training(synthetic) -> None:
    ratings = synthetic.ratings
    split = rt.cold_start_split(ratings, holdout_fraction=0.2, cold_movie_fraction=0.1,
                                cold_user_fraction=0.1, min_cold_movie_ratings=5, seed=3)
    assert len(split.cold_movies) > 0 and len(split.cold_users) > 0
    assert not split.train["movie_id"].isin(split.cold_movies).any()
    assert not split.train["user_id"].isin(split.cold_users).any()
    assert not split.test["movie_id"].isin(split.cold_movies).any()
    assert split.cold_movie_test["movie_id"].isin(split.cold_movies).all()
    assert split.cold_user_test["user_id"].isin(split.cold_users).all()
    assert not split.cold_user_test["movie_id"].isin(split.cold_movies).any()
    parts = pd.concat([split.train, split.test, split.cold_movie_test, split.cold_user_test])
    assert not parts.index.duplicated().any()
    both_cold = ratings["movie_id"].isin(split.cold_movies) & ratings["user_id"].isin(split.cold_users)
    assert len(parts) == len(ratings) - both_cold.sum()
    warm = len(split.train) + len(split.test)
    assert len(split.test) == round(0.2 * warm)
    counts = ratings["movie_id"].value_counts()
    assert (counts.loc[split.cold_movies] >= 5).all()


def test_exclusion_mask_relevant_lists_and_metrics() -> None:
    train = pd.DataFrame({"user_id": [0, 0, 2], "movie_id": [1, 3, 0], "rating": [5.0, 2.0, 4.0]})
    test = pd.DataFrame({"user_id": [0, 0, 2, 2], "movie_id": [2, 4, 1, 3], "rating": [4.0, 3.0, 5.0, 4.5]})
    mask = rt.exclusion_mask([0, 2, 1], 5, seen=train, movies=[4])
    np.testing.assert_array_equal(mask, [[0, 1, 0, 1, 1], [1, 0, 0, 0, 1], [0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(rt.exclusion_mask([0], 5, keep_only=[1, 2]), [[1, 0, 0, 1, 1]])
    relevant = rt.relevant_lists(test, [0, 2, 1])
    assert [sorted(r.tolist()) for r in relevant] == [[2], [1, 3], []]
    recommended = np.array([[2, 0, -1], [3, 2, 1], [0, 1, 2]])
    metrics = rt.list_metrics(recommended, relevant, ks=(1, 3))
    assert metrics["recall@1"] == pytest.approx((1 + 0.5) / 2)
    assert metrics["recall@3"] == pytest.approx(1.0)
    assert metrics["precision@1"] == pytest.approx(1.0)
    table = rt.ranking_table({"a": recommended}, relevant, np.array([5, 1, 0, 2, 0]), 3,
                             np.eye(5), ks=(1, 3))
    assert list(table.index) == ["a"] and table.loc["a", "coverage@1"] == pytest.approx(3 / 5)
    nothing = rt.list_metrics(recommended[:1], [np.array([], dtype=int)])
    assert np.isnan(nothing["recall@10"])


def test_top_k_accuracy_counts_ratings_in_the_top_k() -> None:
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    candidates = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 2.0]])
    test = pd.DataFrame({"user_id": [0, 0, 1, 1, 1], "movie_id": [0, 2, 2, 0, 1]})
    assert rt.top_k_accuracy(queries, candidates, test, k=1) == pytest.approx(2 / 5)
    assert rt.top_k_accuracy(queries, candidates, test, k=2) == pytest.approx(3 / 5)
    assert rt.top_k_accuracy(queries, candidates, test, k=3) == pytest.approx(1.0)


# --- Towers and models -------------------------------------------------------------------------


def test_features_and_dataset(synthetic) -> None:
    users, movies, ratings = synthetic.users, synthetic.movies, synthetic.ratings
    movie_table = tw.movie_features(movies)
    assert all(len(g) == tw.MAX_GENRES for g in movie_table["genres"])
    examples = tw.rating_examples(ratings.head(50), users, movies)
    assert set(examples) == {"user_id", "age", "sex", "occupation", "movie_id", "genres", "year", "rating"}
    assert examples["genres"].shape == (50, tw.MAX_GENRES)
    features, label = next(iter(tw.make_dataset(examples, batch_size=16, label="rating")))
    assert features["user_id"].shape == (16,) and label.shape == (16,) and "rating" not in features
    unshuffled = next(iter(tw.make_dataset(examples, batch_size=8, shuffle_seed=None)))
    np.testing.assert_array_equal(unshuffled["movie_id"].numpy(), examples["movie_id"][:8])


@pytest.mark.parametrize("use_features", [True, False])
def test_towers_map_unknown_ids_to_one_vector(synthetic, use_features: bool) -> None:
    users, movies, ratings = synthetic.users, synthetic.movies, synthetic.ratings
    train = ratings[~ratings["user_id"].isin([0, 1]) & ~ratings["movie_id"].isin([0, 1])]
    query, candidate = tw.build_towers(train, users, movies, dim=6, use_features=use_features)
    user_table, movie_table = tw.user_features(users), tw.movie_features(movies)
    Q, C = tw.embed(query, user_table, batch_size=7), tw.embed(candidate, movie_table)
    assert Q.shape == (len(users), 6) and C.shape == (len(movies), 6)
    # Users 0 and 1 are out of the vocabulary: same id vector; the same features would give one output.
    same_features = (user_table.iloc[0][["age", "sex", "occupation"]].tolist()
                     == user_table.iloc[1][["age", "sex", "occupation"]].tolist())
    assert np.allclose(Q[0], Q[1]) == (not use_features or same_features)


def test_retrieval_model_trains_and_logq_changes_the_loss(synthetic) -> None:
    users, movies, ratings = synthetic.users, synthetic.movies, synthetic.ratings
    examples = tw.rating_examples(ratings, users, movies)
    batch = {name: tf.constant(values[:64]) for name, values in examples.items()}
    for log_frequency in (None, tw.movie_log_frequency(ratings, len(movies))):
        query, candidate = tw.build_towers(ratings, users, movies, dim=8, seed=0)
        model = tw.RetrievalModel(query, candidate, movie_log_frequency=log_frequency)
        model.compile(optimizer=keras.optimizers.Adam(0.05))
        outputs = model(batch)
        plain = float(rt.in_batch_softmax_loss(outputs["query"], outputs["candidate"]))
        loss = float(model.compute_loss(x=batch, y_pred=outputs))
        assert (loss == pytest.approx(plain)) == (log_frequency is None)
        history = model.fit(tw.make_dataset(examples, batch_size=256), epochs=4, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]


def test_ranking_model_learns_ratings(synthetic) -> None:
    users, movies, ratings = synthetic.users, synthetic.movies, synthetic.ratings
    examples = tw.rating_examples(ratings, users, movies)
    query, candidate = tw.build_towers(ratings, users, movies, dim=8, seed=0)
    model = tw.RankingModel(query, candidate, hidden=(16,))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    history = model.fit(tw.make_dataset(examples, batch_size=128, label="rating"), epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    predicted = tw.predict_pairs(model, tw.user_features(users), tw.movie_features(movies),
                                 ratings["user_id"].to_numpy()[:10], ratings["movie_id"].to_numpy()[:10])
    assert predicted.shape == (10,) and np.all(np.isfinite(predicted))
    direct = model({name: tf.constant(values[:10]) for name, values in examples.items() if name != "rating"})
    np.testing.assert_allclose(predicted, np.asarray(direct), rtol=1e-5, atol=1e-5)


# --- The hidden tests' helpers (grader/hidden_tests/two_towers.py) ------------------------------


def test_hidden_test_references_agree_with_the_library() -> None:
    from grader.hidden_tests import two_towers as hidden

    queries, candidates = hidden.embedding_pair(5, 9, 4)
    assert hidden.reference_in_batch_loss(queries, candidates) == pytest.approx(
        float(rt.in_batch_softmax_loss(tf.constant(queries), tf.constant(candidates))), rel=1e-5)
    for seed in range(3):
        tied_queries, tied_candidates = hidden.tied_embeddings(seed, 6, 25, 3)
        exclude = hidden.random_exclusion(seed, 6, 25, 0.5, min_remaining=4)
        assert ((~exclude).sum(axis=1) >= 4).all()
        expected = rt.retrieve_top_k(tied_queries, tied_candidates, k=30, exclude=exclude)
        np.testing.assert_array_equal(
            hidden.reference_retrieve_top_k(tied_queries, tied_candidates, 30, exclude), expected)
        hidden.check_top_k_rows(expected, tied_queries, tied_candidates, 30, exclude, "library")


def test_hidden_test_row_check_rejects_wrong_lists() -> None:
    from grader.hidden_tests import two_towers as hidden

    queries, candidates = hidden.unit_candidates(3, 4, 10, 3)
    right = rt.retrieve_top_k(queries, candidates, k=4)
    hidden.check_top_k_rows(right, queries, candidates, 4, None, "right")
    for wrong in (right[:, ::-1], np.where(right == right[:, :1], -1, right), np.roll(right, 1, axis=0)):
        with pytest.raises(AssertionError):
            hidden.check_top_k_rows(wrong, queries, candidates, 4, None, "wrong")


def test_towers_training_progress_is_one_line_on_stdout(synthetic, capsys, monkeypatch) -> None:
    """notebook 10 trains with tw.EpochProgress: one line redrawn per epoch, nothing on stderr."""
    monkeypatch.delenv("RECSYS_GRADER_GUARDED", raising=False)
    users, movies, ratings = synthetic.users, synthetic.movies, synthetic.ratings
    examples = tw.rating_examples(ratings, users, movies)
    query, candidate = tw.build_towers(ratings, users, movies, dim=4, seed=0)
    model = tw.RetrievalModel(query, candidate)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(tw.make_dataset(examples, batch_size=256), epochs=2, verbose=0,
              callbacks=[tw.EpochProgress("retrieval")])
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("\r") == 2 and captured.out.endswith(" s\n")
    assert captured.out.rsplit("\r", 1)[1].startswith("retrieval: epoch 2/2  loss ")
