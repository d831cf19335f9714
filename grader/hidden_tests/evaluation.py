"""Hidden-test helpers of notebook 8 (evaluating recommenders).

References written plainly (loops over users and pairs, float64), independent of
``recsys_course.ranking_metrics``, and random cases. Inlined into the hidden cells
at release (see ``grader/inline_hidden_helpers.py``): top-level definitions only.
The guard against the library's versions
of the exercises is ``common.forbid_library`` (table ``common.LIBRARY_VERSIONS``).
"""

import math

import numpy as np
import pandas as pd
import tensorflow as tf

from grader.hidden_tests.common import as_number

# --- Reading results --------------------------------------------------------------------


def as_id_matrix(result, shape, what="top_k_unseen"):
    """The result as an int64 numpy array, after checking it is an int numpy array of ``shape``."""
    assert isinstance(result, np.ndarray), f"{what}: expected a numpy array, got {type(result).__name__}"
    assert result.dtype.kind in "iu", f"{what}: expected an integer array, got dtype {result.dtype}"
    assert result.shape == tuple(shape), f"{what}: expected shape {tuple(shape)}, got {result.shape}"
    return result.astype(np.int64)


def assert_same_number(got, expected, what, tolerance=1e-9):
    """``got`` equals ``expected`` within ``tolerance`` (relative), nan only where nan is expected."""
    if math.isnan(expected):
        assert math.isnan(got), f"{what}: expected nan (undefined), got {got}"
        return
    assert not math.isnan(got), f"{what}: got nan, expected {expected:.6g}"
    assert abs(got - expected) <= tolerance * max(1.0, abs(expected)), (
        f"{what}: got {got:.6g}, expected {expected:.6g}")


# --- References ------------------------------------------------------------------------


def reference_top_k_unseen(scores, seen_dense, k):
    """Per user: unseen movies sorted by (-score, id), the first k, padded with -1."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = []
    for user in range(scores.shape[0]):
        candidates = [m for m in range(scores.shape[1]) if not seen_dense[user, m]]
        ranked = sorted(candidates, key=lambda m: (-scores[user, m], m))[:k]
        rows.append(ranked + [-1] * (k - len(ranked)))
    return np.array(rows, dtype=np.int64).reshape(scores.shape[0], k)


def reference_relevant_set(relevant):
    """Distinct ids of a list, set, array or Series (its values)."""
    if isinstance(relevant, pd.Series):
        relevant = relevant.to_numpy()
    return {int(m) for m in list(relevant)}


def reference_hits(recommended, relevant, k):
    relevant = reference_relevant_set(relevant)
    return [1.0 if (int(m) != -1 and int(m) in relevant) else 0.0 for m in list(recommended)[:k]]


def reference_precision_at_k(recommended, relevant, k):
    return sum(reference_hits(recommended, relevant, k)) / k


def reference_recall_at_k(recommended, relevant, k):
    count = len(reference_relevant_set(relevant))
    if count == 0:
        return float("nan")
    return sum(reference_hits(recommended, relevant, k)) / count


def reference_ndcg_at_k(recommended, relevant, k):
    count = len(reference_relevant_set(relevant))
    if count == 0:
        return float("nan")
    dcg = sum(hit / math.log2(rank + 2) for rank, hit in enumerate(reference_hits(recommended, relevant, k)))
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, count)))
    return dcg / ideal


def reference_popularity(train_ratings, num_movies):
    counts = np.zeros(num_movies)
    for movie in train_ratings["movie_id"]:
        counts[int(movie)] += 1
    return counts


def reference_novelty(recommended, counts, num_users):
    bits = [-math.log2((counts[m] + 1) / (num_users + 1))
            for row in np.asarray(recommended) for m in row if m != -1]
    return float(np.mean(bits)) if bits else float("nan")


def reference_diversity(recommended, embeddings):
    embeddings = np.asarray(embeddings, dtype=np.float64)
    per_user = []
    for row in np.asarray(recommended):
        ids = [int(m) for m in row if m != -1]
        if len(ids) < 2:
            continue
        distances = []
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                x, y = embeddings[ids[a]], embeddings[ids[b]]
                norms = np.linalg.norm(x) * np.linalg.norm(y)
                distances.append(1.0 - (float(x @ y) / norms if norms > 0 else 0.0))
        per_user.append(np.mean(distances))
    return float(np.mean(per_user)) if per_user else float("nan")


# --- Random cases ------------------------------------------------------------------------


def ranking_case(seed, num_users, num_movies, seen_fraction=0.3, decimals=1, min_unseen=0):
    """Scores rounded to ``decimals`` (so that ties happen) and a dense bool ``seen``.

    Every user keeps at least ``min_unseen`` unseen movies (so that no row needs padding
    when ``min_unseen`` is k: padding is tested on its own).
    """
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=(num_users, num_movies)), decimals)
    seen = rng.random((num_users, num_movies)) < seen_fraction
    for user in range(num_users):
        missing = min_unseen - int((~seen[user]).sum())
        if missing > 0:
            seen[user, rng.choice(np.flatnonzero(seen[user]), size=missing, replace=False)] = False
    return scores, seen


def sparse_forms_of(seen, seed):
    """``seen`` as a tf.SparseTensor (shuffled indices, values 0 to 5) and a scipy CSR with explicit zeros."""
    from scipy import sparse as scipy_sparse

    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(seen)
    order = rng.permutation(len(rows))
    values = rng.integers(0, 6, size=len(rows)).astype(np.float32)  # zeros stored too
    as_tensor = tf.SparseTensor(np.stack([rows[order], cols[order]], axis=1).astype(np.int64),
                                values[order], dense_shape=list(seen.shape))
    as_scipy = scipy_sparse.csr_matrix((values, (rows, cols)), shape=seen.shape)
    return as_tensor, as_scipy


def ranked_list_case(seed, num_movies=30, length=10):
    """A list of distinct ids (maybe padded with -1) and a relevant list with repeats."""
    rng = np.random.default_rng(seed)
    recommended = rng.choice(num_movies, size=length, replace=False).tolist()
    padding = int(rng.integers(0, 3))
    if padding:
        recommended = recommended[:length - padding] + [-1] * padding
    relevant = rng.choice(num_movies, size=int(rng.integers(1, 9)), replace=True).tolist()
    return recommended, relevant


def ratings_case(seed, num_users, num_movies, num_ratings):
    """A ratings frame (course columns, shuffled non-range index) that leaves some movies unrated."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, size=num_ratings)
    movies = rng.integers(0, max(1, num_movies - 3), size=num_ratings)
    frame = pd.DataFrame({"user_id": users, "movie_id": movies,
                          "rating": rng.integers(1, 6, size=num_ratings).astype(np.float64),
                          "timestamp": rng.integers(0, 10 ** 9, size=num_ratings)})
    frame.index = rng.permutation(num_ratings) * 3 + 7
    return frame


def assert_ranked_list_metric(answer, reference, exercise, label, first_seed, num_movies, ks):
    """``answer(recommended, relevant, k=k)`` equals ``reference`` on 40 fresh ranked-list cases per k.

    Cases alternate Python lists and numpy arrays; ``label`` names the metric in messages
    (``"precision"``). More than 20 expected values are non-zero, so a constant 0 cannot pass.
    """
    nonzero = 0
    for case in range(40):
        case_recommended, case_relevant = ranked_list_case(first_seed + case, num_movies=num_movies)
        arguments = ((case_recommended, case_relevant) if case % 2
                     else (np.array(case_recommended), np.array(case_relevant)))
        for case_k in ks:
            expected = reference(case_recommended, case_relevant, case_k)
            nonzero += expected > 0
            got = as_number(answer(*arguments, k=case_k), exercise)
            assert_same_number(got, expected, f"{label}@{case_k} of {case_recommended} with relevant {case_relevant}")
    assert nonzero > 20
