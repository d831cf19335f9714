"""Notebook 8 (evaluating recommenders): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases, delegations

# --- Other correct routes ------------------------------------------------------------------

TOP_K_LEXSORT = '''
def top_k_unseen(scores, seen, k=10):
    """One lexsort per row key: (seen last, higher score first, smaller id first)."""
    scores = np.asarray(scores, dtype=np.float64)
    num_users, num_movies = scores.shape
    if isinstance(seen, tf.SparseTensor):
        mask = tf.sparse.to_dense(tf.sparse.map_values(tf.ones_like, tf.sparse.reorder(seen))).numpy() > 0
    elif sparse.issparse(seen):
        mask = np.zeros(scores.shape, bool)
        rows, cols = seen.tocoo().row, seen.tocoo().col
        mask[rows, cols] = True
    else:
        mask = np.asarray(seen).astype(bool)
    ids = np.broadcast_to(np.arange(num_movies), scores.shape)
    order = np.lexsort((ids, -scores, mask), axis=-1)
    top = np.full((num_users, k), -1)
    width = min(k, num_movies)
    chosen = order[:, :width]
    chosen_seen = np.take_along_axis(mask, chosen, axis=1)
    top[:, :width] = np.where(chosen_seen, -1, chosen)
    return top
'''

TOP_K_TENSORFLOW = '''
def top_k_unseen(scores, seen, k=10):
    """tf.math.top_k (ties to the lower index) on scores with the seen movies at -inf."""
    scores = tf.cast(tf.convert_to_tensor(scores), tf.float64)
    if isinstance(seen, tf.SparseTensor):
        mask = tf.scatter_nd(seen.indices, tf.ones_like(seen.indices[:, 0], tf.int32), seen.dense_shape) > 0
    elif sparse.issparse(seen):
        coo = seen.tocoo()
        dense = np.zeros(seen.shape, dtype=bool)
        dense[coo.row, coo.col] = True
        mask = tf.constant(dense)
    else:
        mask = tf.not_equal(tf.convert_to_tensor(seen), tf.zeros([], tf.convert_to_tensor(seen).dtype))
    num_movies = int(scores.shape[1])
    width = min(k, num_movies)
    masked = tf.where(mask, tf.constant(-np.inf, tf.float64), scores)
    _, indices = tf.math.top_k(masked, k=width)
    picked_seen = tf.gather(mask, indices, batch_dims=1)
    top = tf.where(picked_seen, -1, indices).numpy().astype(np.int64)
    return np.concatenate([top, np.full((top.shape[0], k - width), -1, np.int64)], axis=1)
'''

METRICS_NUMPY = {
    "precision_at_k_solution": '''
def precision_at_k(recommended, relevant, k=10):
    top = np.asarray(recommended, dtype=np.int64)[:k]
    wanted = np.unique(np.asarray(list(relevant.values) if isinstance(relevant, pd.Series) else list(relevant), dtype=np.int64))
    return float(np.isin(top[top >= 0], wanted).sum()) / k
''',
    "recall_at_k_solution": '''
def recall_at_k(recommended, relevant, k=10):
    top = np.asarray(recommended, dtype=np.int64)[:k]
    wanted = np.unique(np.asarray(list(pd.Series(list(relevant)) if not isinstance(relevant, pd.Series) else relevant.values), dtype=np.int64))
    if wanted.size == 0:
        return np.nan
    return np.isin(top[top >= 0], wanted).sum() / wanted.size
''',
    "ndcg_at_k_solution": '''
def ndcg_at_k(recommended, relevant, k=10):
    """Natural logarithms: the base cancels in the ratio."""
    wanted = set(pd.Series(list(relevant.values) if isinstance(relevant, pd.Series) else list(relevant), dtype="int64"))
    if not wanted:
        return float("nan")
    top = list(recommended)[:k]
    gains = np.array([1.0 if (m != -1 and m in wanted) else 0.0 for m in top])
    discounts = 1 / np.log(np.arange(2, len(top) + 2))
    ideal = (1 / np.log(np.arange(2, min(k, len(wanted)) + 2))).sum()
    return float((gains * discounts).sum() / ideal)
''',
}

BEYOND_OTHER_ROUTES = {
    "popularity_scores_solution": '''
def popularity_scores(train_ratings, num_movies):
    counts = train_ratings["movie_id"].value_counts()
    return counts.reindex(range(num_movies), fill_value=0).to_numpy(dtype=float)
''',
    "novelty_solution": '''
def novelty(recommended, train_counts, num_users):
    bits = []
    for row in recommended:
        for movie in row:
            if movie != -1:
                bits.append(-math.log2((train_counts[movie] + 1) / (num_users + 1)))
    return sum(bits) / len(bits)
''',
    "intra_list_diversity_solution": '''
def intra_list_diversity(recommended, item_embeddings):
    import itertools
    per_user = []
    for row in np.asarray(recommended):
        ids = [m for m in row if m != -1]
        pairs = list(itertools.combinations(ids, 2))
        if not pairs:
            continue
        distances = []
        for a, b in pairs:
            x, y = np.asarray(item_embeddings[a], float), np.asarray(item_embeddings[b], float)
            distances.append(1 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
        per_user.append(np.mean(distances))
    return np.mean(per_user)
''',
}

# --- Wrong answers -----------------------------------------------------------------------------

TOP_K_REVERSED_TIES = '''
def top_k_unseen(scores, seen, k=10):
    """Descending order by reversing an ascending sort: equal scores come larger id first."""
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(seen, tf.SparseTensor):
        mask = np.zeros(scores.shape, bool)
        mask[seen.indices.numpy()[:, 0], seen.indices.numpy()[:, 1]] = True
    elif sparse.issparse(seen):
        coo = seen.tocoo()
        mask = np.zeros(scores.shape, bool)
        mask[coo.row, coo.col] = True
    else:
        mask = np.asarray(seen) != 0
    order = np.argsort(np.where(mask, -np.inf, scores), axis=1, kind="stable")[:, ::-1]
    top = np.full((scores.shape[0], k), -1)
    width = min(k, scores.shape[1])
    top[:, :width] = order[:, :width]
    top[np.take_along_axis(mask, np.maximum(top, 0), axis=1) | (top < 0)] = -1
    return top
'''

TOP_K_NO_PADDING = '''
def top_k_unseen(scores, seen, k=10):
    """Seen movies at -inf, then the first k: a user with fewer than k unseen movies gets seen ones."""
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(seen, tf.SparseTensor):
        mask = np.zeros(scores.shape, bool)
        mask[seen.indices.numpy()[:, 0], seen.indices.numpy()[:, 1]] = True
    elif sparse.issparse(seen):
        coo = seen.tocoo()
        mask = np.zeros(scores.shape, bool)
        mask[coo.row, coo.col] = True
    else:
        mask = np.asarray(seen) != 0
    order = np.argsort(-np.where(mask, -np.inf, scores), axis=1, kind="stable")[:, :k]
    top = np.full((scores.shape[0], k), -1)
    top[:, :order.shape[1]] = order
    return top
'''

TOP_K_STORED_ZEROS_UNSEEN = '''
def top_k_unseen(scores, seen, k=10):
    """Sparse inputs made dense: an entry stored with the value 0 becomes "not seen"."""
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(seen, tf.SparseTensor):
        mask = tf.sparse.to_dense(tf.sparse.reorder(seen)).numpy() != 0
    elif sparse.issparse(seen):
        mask = seen.toarray() != 0
    else:
        mask = np.asarray(seen) != 0
    by_score = np.argsort(-scores, axis=1, kind="stable")
    unseen_first = np.argsort(np.take_along_axis(mask, by_score, axis=1), axis=1, kind="stable")
    order = np.take_along_axis(by_score, unseen_first, axis=1)[:, :k]
    top = np.full((scores.shape[0], k), -1)
    top[:, :order.shape[1]] = order
    top[np.arange(k)[None, :] >= (scores.shape[1] - mask.sum(axis=1))[:, None]] = -1
    return top
'''

TOP_K_SEEN_LEFT_IN = '''
def top_k_unseen(scores, seen, k=10):
    """Forgets to leave out the seen movies."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.full((scores.shape[0], k), -1)
    top[:, :order.shape[1]] = order
    return top
'''

PRECISION_BY_LENGTH = '''
def precision_at_k(recommended, relevant, k=10):
    """Divides by the length of the list instead of k."""
    relevant = set(np.asarray(list(relevant)).tolist())
    top = [m for m in list(recommended)[:k] if m != -1]
    return sum(m in relevant for m in top) / max(len(top), 1)
'''

PRECISION_SERIES_INDEX = '''
def precision_at_k(recommended, relevant, k=10):
    """`in` on a pandas Series tests its index, not its values."""
    if not isinstance(relevant, pd.Series):
        relevant = set(relevant)
    return sum(1 for m in list(recommended)[:k] if m != -1 and m in relevant) / k
'''

RECALL_ZERO_WHEN_EMPTY = '''
def recall_at_k(recommended, relevant, k=10):
    """0 instead of nan for a user with no relevant movie."""
    relevant = set(np.asarray(list(relevant)).tolist())
    if not relevant:
        return 0.0
    return sum(1 for m in list(recommended)[:k] if m != -1 and m in relevant) / len(relevant)
'''

RECALL_COUNTS_REPEATS = '''
def recall_at_k(recommended, relevant, k=10):
    """Divides by len(relevant): repeated ids count several times."""
    relevant_list = list(np.asarray(list(relevant)).tolist())
    if not relevant_list:
        return float("nan")
    return sum(1 for m in list(recommended)[:k] if m != -1 and m in set(relevant_list)) / len(relevant_list)
'''

NDCG_IDEAL_OF_K = '''
def ndcg_at_k(recommended, relevant, k=10):
    """The ideal DCG of k hits, whatever the number of relevant movies."""
    relevant = set(np.asarray(list(relevant)).tolist())
    if not relevant:
        return float("nan")
    dcg = sum(1 / np.log2(r + 1) for r, m in enumerate(list(recommended)[:k], 1) if m != -1 and m in relevant)
    return float(dcg / sum(1 / np.log2(r + 1) for r in range(1, k + 1)))
'''

NDCG_OFF_BY_ONE = '''
def ndcg_at_k(recommended, relevant, k=10):
    """Discount 1/log2(rank + 2) with ranks from 1 (shifted by one)."""
    relevant = set(np.asarray(list(relevant)).tolist())
    if not relevant:
        return float("nan")
    dcg = sum(1 / np.log2(r + 2) for r, m in enumerate(list(recommended)[:k], 1) if m != -1 and m in relevant)
    ideal = sum(1 / np.log2(r + 2) for r in range(1, min(k, len(relevant)) + 1))
    return float(dcg / ideal)
'''

POPULARITY_SUM_OF_RATINGS = '''
def popularity_scores(train_ratings, num_movies):
    """Sums the ratings instead of counting them."""
    return np.bincount(train_ratings["movie_id"], weights=train_ratings["rating"], minlength=num_movies)
'''

POPULARITY_RATED_ONLY = '''
def popularity_scores(train_ratings, num_movies):
    """value_counts without the movies nobody rated: too short, and shifted."""
    return train_ratings["movie_id"].value_counts().sort_index().to_numpy(dtype=float)
'''

NOVELTY_NATURAL_LOG = '''
def novelty(recommended, train_counts, num_users):
    ids = np.asarray(recommended).reshape(-1)
    ids = ids[ids != -1]
    return float(np.mean(-np.log((np.asarray(train_counts)[ids] + 1) / (num_users + 1))))
'''

NOVELTY_MEAN_OF_MEANS = '''
def novelty(recommended, train_counts, num_users):
    """A mean per user, then over users: short lists weigh as much as full ones."""
    means = []
    for row in np.asarray(recommended):
        ids = row[row != -1]
        if len(ids):
            means.append(np.mean(-np.log2((np.asarray(train_counts)[ids] + 1) / (num_users + 1))))
    return float(np.mean(means))
'''

NOVELTY_PADDING_KEPT = '''
def novelty(recommended, train_counts, num_users):
    """Padding not skipped: -1 reads the last movie's count."""
    ids = np.asarray(recommended).reshape(-1)
    return float(np.mean(-np.log2((np.asarray(train_counts)[ids] + 1) / (num_users + 1))))
'''

DIVERSITY_SIMILARITY = '''
def intra_list_diversity(recommended, item_embeddings):
    """Mean cosine similarity, not distance."""
    unit = item_embeddings / np.linalg.norm(item_embeddings, axis=1, keepdims=True)
    values = []
    for row in np.asarray(recommended):
        ids = row[row != -1]
        n = len(ids)
        if n >= 2:
            s = unit[ids] @ unit[ids].T
            values.append((s.sum() - np.trace(s)) / (n * (n - 1)))
    return float(np.mean(values))
'''

DIVERSITY_DOT = '''
def intra_list_diversity(recommended, item_embeddings):
    """1 - dot product, without normalising the embeddings."""
    values = []
    for row in np.asarray(recommended):
        ids = row[row != -1]
        n = len(ids)
        if n >= 2:
            s = item_embeddings[ids] @ item_embeddings[ids].T
            values.append(1 - (s.sum() - np.trace(s)) / (n * (n - 1)))
    return float(np.mean(values))
'''

DIVERSITY_SELF_PAIRS = '''
def intra_list_diversity(recommended, item_embeddings):
    """Averages over all n^2 pairs, each movie with itself included."""
    unit = item_embeddings / np.linalg.norm(item_embeddings, axis=1, keepdims=True)
    values = []
    for row in np.asarray(recommended):
        ids = row[row != -1]
        if len(ids) >= 2:
            values.append(1 - (unit[ids] @ unit[ids].T).mean())
    return float(np.mean(values))
'''

DIVERSITY_SHORT_LISTS_AS_ZERO = '''
def intra_list_diversity(recommended, item_embeddings):
    """Users with fewer than two movies count as 0 instead of being skipped."""
    unit = item_embeddings / np.linalg.norm(item_embeddings, axis=1, keepdims=True)
    values = []
    for row in np.asarray(recommended):
        ids = row[row != -1]
        n = len(ids)
        if n < 2:
            values.append(0.0)
            continue
        s = unit[ids] @ unit[ids].T
        values.append(1 - (s.sum() - np.trace(s)) / (n * (n - 1)))
    return float(np.mean(values))
'''

TOP_K = Exercise("top_k_unseen", "scores, seen, k=10", "scores, seen, k",
                 library=("recsys_course.ranking_metrics.top_k_unseen",))
PRECISION = Exercise("precision_at_k", "recommended, relevant, k=10", "recommended, relevant, k",
                     library=("recsys_course.ranking_metrics.precision_at_k",))
RECALL = Exercise("recall_at_k", "recommended, relevant, k=10", "recommended, relevant, k",
                  library=("recsys_course.ranking_metrics.recall_at_k",))
NDCG = Exercise("ndcg_at_k", "recommended, relevant, k=10", "recommended, relevant, k",
                library=("recsys_course.ranking_metrics.ndcg_at_k",))
POPULARITY = Exercise("popularity_scores", "train_ratings, num_movies", "train_ratings, num_movies",
                      library=("recsys_course.ranking_metrics.popularity_scores",))
NOVELTY = Exercise("novelty", "recommended, train_counts, num_users", "recommended, train_counts, num_users",
                   library=("recsys_course.ranking_metrics.novelty",))
DIVERSITY = Exercise("intra_list_diversity", "recommended, item_embeddings", "recommended, item_embeddings",
                     library=("recsys_course.ranking_metrics.intra_list_diversity",))
EXERCISES = (TOP_K, PRECISION, RECALL, NDCG, POPULARITY, NOVELTY, DIVERSITY)

OTHER_ROUTE = {"top_k_unseen_solution": TOP_K_TENSORFLOW, **METRICS_NUMPY}


T = "top_k_unseen_solution"
ALL_ROUTES = {T: TOP_K_TENSORFLOW, **METRICS_NUMPY, **BEYOND_OTHER_ROUTES}

# Graded by the real test (each costs ~10 s there): the other routes in one notebook, the
# wrong answers that exercise the most distinct hidden tests (independent exercises share one).
CASES = [
    Case(ALL_ROUTES, "tf.math.top_k; np.isin, np.unique, natural logarithms; value_counts, loops, itertools"),
    Case({T: TOP_K_REVERSED_TIES}, "ties to the larger id",
         lost="top_k_unseen_hidden_values top_k_unseen_hidden_ties top_k_unseen_hidden_seen_top_score top_k_unseen_hidden_sparse_inputs"),
    Case({T: TOP_K_NO_PADDING}, "no -1 padding", lost="top_k_unseen_hidden_padding"),
    Case({T: TOP_K_STORED_ZEROS_UNSEEN}, "stored zeros read as unseen", lost="top_k_unseen_hidden_sparse_inputs"),
    Case({"precision_at_k_solution": PRECISION_SERIES_INDEX, "recall_at_k_solution": RECALL_ZERO_WHEN_EMPTY},
         "`in` on a Series; recall 0 without relevant movies",
         lost="precision_at_k_hidden_edge_cases recall_at_k_hidden_edge_cases"),
    Case({"ndcg_at_k_solution": NDCG_IDEAL_OF_K}, "ideal DCG of k hits",
         lost="ndcg_at_k_hidden_values ndcg_at_k_hidden_edge_cases"),
    Case({"popularity_scores_solution": POPULARITY_RATED_ONLY, "novelty_solution": NOVELTY_PADDING_KEPT},
         "value_counts without unrated movies; novelty reads the padding as the last movie",
         lost="popularity_scores_visible_format popularity_scores_hidden_values novelty_hidden_padding"),
    Case({"intra_list_diversity_solution": DIVERSITY_SHORT_LISTS_AS_ZERO}, "short lists count as 0",
         lost="intra_list_diversity_hidden_padding"),
]

# Every cell of every exercise fails under the guard (the visible checks end with a hidden guard block).
DELEGATED, MORE_DELEGATED = delegation_cases(8, *EXERCISES, what="every exercise handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(*EXERCISES, value="0"), "every function returns 0", lost="*", pending="values_before_structure"),
    Case(constant(*EXERCISES, value="None"), "every function returns None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    Case({T: TOP_K_LEXSORT}, "top k by lexsort"),
    Case({T: TOP_K_TENSORFLOW, **BEYOND_OTHER_ROUTES}, "tf.math.top_k; value_counts, loops, itertools"),
    Case(METRICS_NUMPY, "metrics with np.isin and np.unique; nDCG with natural logarithms"),
    Case({T: TOP_K_SEEN_LEFT_IN}, "seen movies left in",
         lost="top_k_unseen_hidden_values top_k_unseen_hidden_ties top_k_unseen_hidden_padding top_k_unseen_hidden_seen_top_score top_k_unseen_hidden_sparse_inputs"),
    Case({"precision_at_k_solution": PRECISION_BY_LENGTH}, "precision divided by the list's length",
         lost="precision_at_k_hidden_values precision_at_k_hidden_edge_cases"),
    Case({"precision_at_k_solution": PRECISION_SERIES_INDEX}, "`in` on a Series", lost="precision_at_k_hidden_edge_cases"),
    Case({"recall_at_k_solution": RECALL_ZERO_WHEN_EMPTY}, "recall 0 without relevant movies",
         lost="recall_at_k_hidden_edge_cases"),
    Case({"recall_at_k_solution": RECALL_COUNTS_REPEATS}, "recall counts repeated ids",
         lost="recall_at_k_hidden_values recall_at_k_hidden_edge_cases"),
    Case({"ndcg_at_k_solution": NDCG_OFF_BY_ONE}, "discount shifted by one rank",
         lost="ndcg_at_k_hidden_values ndcg_at_k_hidden_edge_cases"),
    Case({"popularity_scores_solution": POPULARITY_SUM_OF_RATINGS}, "sum of ratings", lost="popularity_scores_hidden_values"),
    Case({"popularity_scores_solution": POPULARITY_RATED_ONLY}, "value_counts without unrated movies",
         lost="popularity_scores_visible_format popularity_scores_hidden_values"),
    Case({"novelty_solution": NOVELTY_NATURAL_LOG}, "natural logarithm", lost="novelty_hidden_values novelty_hidden_padding"),
    Case({"novelty_solution": NOVELTY_MEAN_OF_MEANS}, "mean of per-user means", lost="novelty_hidden_padding"),
    Case({"novelty_solution": NOVELTY_PADDING_KEPT}, "padding read as the last movie", lost="novelty_hidden_padding"),
    Case({"intra_list_diversity_solution": DIVERSITY_SIMILARITY}, "similarity instead of distance",
         lost="intra_list_diversity_hidden_values intra_list_diversity_hidden_padding"),
    Case({"intra_list_diversity_solution": DIVERSITY_DOT}, "dot products, not normalised",
         lost="intra_list_diversity_hidden_values intra_list_diversity_hidden_padding"),
    Case({"intra_list_diversity_solution": DIVERSITY_SELF_PAIRS}, "self-pairs counted",
         lost="intra_list_diversity_hidden_values intra_list_diversity_hidden_padding"),
    *MORE_DELEGATED,
    Case(dict(delegations(TOP_K))["alias"], "only top_k_unseen handed to the library", lost="top_k_unseen",
         pending="library_guard"),
    Case(dict(delegations(NDCG))["importlib"], "only ndcg_at_k handed to the library", lost="ndcg_at_k",
         pending="library_guard"),
]
