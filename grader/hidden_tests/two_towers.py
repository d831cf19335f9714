"""Hidden-test helpers of notebook 10 (two towers: retrieval and ranking with features).

References written plainly in float64 numpy, independent of
``recsys_course.retrieval``, and random cases. Inlined into the hidden cells
at release (see ``grader/inline_hidden_helpers.py``): top-level definitions
only. The guard against the library's versions
of the exercises is ``common.forbid_library`` (table ``common.LIBRARY_VERSIONS``).
"""

import numpy as np
import tensorflow as tf

# --- in_batch_softmax_loss ------------------------------------------------------------------


def embedding_pair(seed, batch, dim, scale=1.0):
    """Random query and candidate embeddings N(0, scale^2), float32, fixed by the seed."""
    rng = np.random.default_rng(seed)
    queries = (scale * rng.normal(size=(batch, dim))).astype(np.float32)
    candidates = (scale * rng.normal(size=(batch, dim))).astype(np.float32)
    return queries, candidates


def reference_in_batch_loss(queries, candidates):
    """Mean over rows i of log sum_j exp(q_i . c_j) - q_i . c_i, in float64, stable."""
    logits = np.asarray(queries, np.float64) @ np.asarray(candidates, np.float64).T
    top = logits.max(axis=1, keepdims=True)
    log_sum_exp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_sum_exp - np.diag(logits)))


def reference_in_batch_gradients(queries, candidates):
    """Gradients of the mean in-batch loss: (P - I) C / n for the queries, (P - I)^T Q / n for the candidates."""
    queries = np.asarray(queries, np.float64)
    candidates = np.asarray(candidates, np.float64)
    logits = queries @ candidates.T
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    residual = (probabilities - np.eye(len(queries))) / len(queries)
    return residual @ candidates, residual.T @ queries


def scalar_float32_value(result, what="in_batch_softmax_loss"):
    """The loss as a Python float, after checking it is a scalar float32 tensor."""
    assert isinstance(result, (tf.Tensor, tf.Variable)), (
        f"{what}: expected a tf.Tensor, got {type(result).__name__}")
    assert tuple(result.shape) == (), f"{what}: expected a scalar (shape ()), got shape {tuple(result.shape)}"
    assert result.dtype == tf.float32, f"{what}: expected float32, got {result.dtype.name}"
    return float(result.numpy())


# --- retrieve_top_k -----------------------------------------------------------------------------


def reference_retrieve_top_k(queries, candidates, k, exclude_dense=None):
    """Per query: the allowed candidates by (-score, row) in float64, the first k, padded with -1."""
    scores = np.asarray(queries, np.float64) @ np.asarray(candidates, np.float64).T
    num_queries, num_candidates = scores.shape
    if exclude_dense is None:
        exclude_dense = np.zeros(scores.shape, dtype=bool)
    result = np.full((num_queries, k), -1, dtype=np.int64)
    for row in range(num_queries):
        allowed = [c for c in range(num_candidates) if not exclude_dense[row, c]]
        ranked = sorted(allowed, key=lambda c: (-scores[row, c], c))[:k]
        result[row, :len(ranked)] = ranked
    return result


def unit_candidates(seed, num_queries, num_candidates, dim):
    """Random queries and candidates of norm 1 (float32): dot product and cosine rank them alike."""
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(num_queries, dim))
    candidates = rng.normal(size=(num_candidates, dim))
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    return queries.astype(np.float32), candidates.astype(np.float32)


def tied_embeddings(seed, num_queries, num_candidates, dim):
    """Integer queries and candidates drawn among +-e_1, ..., +-e_dim: exact scores, many ties, norm 1."""
    rng = np.random.default_rng(seed)
    queries = rng.integers(-2, 3, size=(num_queries, dim)).astype(np.float32)
    axes = rng.integers(0, dim, size=num_candidates)
    signs = rng.choice([-1.0, 1.0], size=num_candidates)
    candidates = np.zeros((num_candidates, dim), dtype=np.float32)
    candidates[np.arange(num_candidates), axes] = signs
    return queries, candidates


def random_exclusion(seed, num_queries, num_candidates, fraction, min_remaining=0):
    """A dense boolean exclusion matrix, about ``fraction`` set, at least ``min_remaining`` left per row."""
    rng = np.random.default_rng(seed)
    exclude = rng.random((num_queries, num_candidates)) < fraction
    for row in range(num_queries):
        excluded = np.flatnonzero(exclude[row])
        missing = min_remaining - (num_candidates - len(excluded))
        if missing > 0:
            exclude[row, rng.choice(excluded, size=missing, replace=False)] = False
    return exclude


def as_candidate_rows(result, shape, what="retrieve_top_k"):
    """The result as an int64 array, after checking it is an integer numpy array of ``shape``."""
    assert isinstance(result, np.ndarray), f"{what}: expected a numpy array, got {type(result).__name__}"
    assert result.dtype.kind in "iu", f"{what}: expected an integer array, got dtype {result.dtype}"
    assert result.shape == tuple(shape), f"{what}: expected shape {tuple(shape)}, got {result.shape}"
    return result.astype(np.int64)


def check_top_k_rows(got, queries, candidates, k, exclude_dense, what, tolerance=1e-4):
    """``got`` is a right answer on float inputs: valid rows, nothing excluded, no repeat, the best scores.

    Float rounding may swap two candidates whose scores differ by less than
    ``tolerance``; anything else must be what the float64 reference gives.
    """
    expected = reference_retrieve_top_k(queries, candidates, k, exclude_dense)
    scores = np.asarray(queries, np.float64) @ np.asarray(candidates, np.float64).T
    num_candidates = scores.shape[1]
    for row in range(len(got)):
        padding_expected = expected[row] == -1
        assert np.array_equal(got[row] == -1, padding_expected), (
            f"{what}: query {row} gets {got[row].tolist()}, expected {expected[row].tolist()} (padding)")
        ids = got[row][~padding_expected]
        assert np.all((ids >= 0) & (ids < num_candidates)), f"{what}: query {row} gets rows out of range: {ids.tolist()}"
        assert len(set(ids.tolist())) == len(ids), f"{what}: query {row} gets a candidate twice: {ids.tolist()}"
        if exclude_dense is not None:
            assert not np.any(exclude_dense[row, ids]), f"{what}: query {row} gets an excluded candidate"
        got_scores = scores[row, ids]
        want_scores = scores[row, expected[row][~padding_expected]]
        assert np.all(np.abs(got_scores - want_scores) <= tolerance * np.maximum(1.0, np.abs(want_scores))), (
            f"{what}: query {row} gets {got[row].tolist()}, expected {expected[row].tolist()}")
