"""Notebook 10 (two towers): other correct routes, wrong answers, pending cases.
"""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

L_HEAD = "def in_batch_softmax_loss(query_embeddings, candidate_embeddings):\n"
LOGITS = "    logits = tf.matmul(query_embeddings, candidate_embeddings, transpose_b=True)\n"
DIAGONAL = "labels=tf.range(tf.shape(logits)[0])"

LOSS_SPARSE_CE = L_HEAD + LOGITS + f"    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits({DIAGONAL}, logits=logits))\n"
LOSS_KERAS = L_HEAD + LOGITS + "    return keras.losses.CategoricalCrossentropy(from_logits=True)(tf.eye(tf.shape(logits)[0]), logits)\n"
LOSS_SUM = L_HEAD + LOGITS + f"    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits({DIAGONAL}, logits=logits))\n"
LOSS_TRANSPOSED = (L_HEAD + "    logits = tf.matmul(candidate_embeddings, query_embeddings, transpose_b=True)\n"
                   f"    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits({DIAGONAL}, logits=logits))\n")
LOSS_COLUMN_ZERO = L_HEAD + LOGITS + ("    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits("
                                      "labels=tf.zeros(tf.shape(logits)[0], tf.int32), logits=logits))\n")
LOSS_TWO_STEP = L_HEAD + LOGITS + "    return -tf.reduce_mean(tf.linalg.diag_part(tf.math.log(tf.nn.softmax(logits))))\n"
LOSS_NUMPY = (L_HEAD + "    logits = np.asarray(query_embeddings) @ np.asarray(candidate_embeddings).T\n"
              "    top = logits.max(axis=1, keepdims=True)\n"
              "    log_sum_exp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))\n"
              "    return tf.constant(np.mean(log_sum_exp - np.diag(logits)), dtype=tf.float32)\n")
LOSS_STOP_GRADIENT = (L_HEAD + "    logits = tf.matmul(query_embeddings, tf.stop_gradient(candidate_embeddings), transpose_b=True)\n"
                      "    return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - tf.linalg.diag_part(logits))\n")
LOSS_SIGMOID = L_HEAD + LOGITS + ("    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits("
                                  "labels=tf.eye(tf.shape(logits)[0]), logits=logits))\n")
LOSS_SOFTMAX_TWICE = L_HEAD + LOGITS + (f"    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits({DIAGONAL}, "
                                        "logits=tf.nn.softmax(logits)))\n")
LOSS_VIA_NOTEBOOK_7 = (L_HEAD + "    from recsys_course.softmax import softmax_loss\n"
                       "    return softmax_loss(query_embeddings, candidate_embeddings, tf.range(tf.shape(query_embeddings)[0]))\n")

R_HEAD = "def retrieve_top_k(query_embeddings, candidate_embeddings, k=100, exclude=None):\n"
EXCLUDED = """    scores = np.asarray(query_embeddings, dtype=np.float64) @ np.asarray(candidate_embeddings, dtype=np.float64).T
    n, m = scores.shape
    excluded = np.zeros((n, m), dtype=bool)
    if isinstance(exclude, tf.SparseTensor):
        excluded[exclude.indices.numpy()[:, 0], exclude.indices.numpy()[:, 1]] = True
    elif sparse.issparse(exclude):
        entries = exclude.tocoo()
        excluded[entries.row, entries.col] = True
    elif exclude is not None:
        excluded = np.asarray(exclude) != 0
"""
PAD = """    top = np.full((n, k), -1, dtype=np.int64)
    top[:, :order.shape[1]] = order
    top[np.arange(k)[None, :] >= (m - excluded.sum(axis=1))[:, None]] = -1
    return top
"""
STABLE = "    order = np.argsort(-np.where(excluded, -np.inf, scores), axis=1, kind='stable')[:, :k]\n"
TOPK_TF = R_HEAD + EXCLUDED + ("    _, order = tf.math.top_k(tf.where(excluded, -np.inf, scores), k=min(k, m))\n"
                               "    order = order.numpy()\n") + PAD
TOPK_REVERSED_TIES = R_HEAD + EXCLUDED + "    order = np.argsort(np.where(excluded, -np.inf, scores), axis=1)[:, ::-1][:, :k]\n" + PAD
TOPK_NO_PADDING = R_HEAD + EXCLUDED + ("    _, order = tf.math.top_k(tf.where(excluded, -np.inf, scores), k=k)\n"
                                       "    return order.numpy().astype(np.int64)\n")
TOPK_SPARSE_BY_VALUE = R_HEAD + EXCLUDED.replace(
    "excluded[exclude.indices.numpy()[:, 0], exclude.indices.numpy()[:, 1]] = True",
    "excluded = tf.sparse.to_dense(tf.sparse.reorder(exclude)).numpy() != 0").replace(
    "entries = exclude.tocoo()\n        excluded[entries.row, entries.col] = True",
    "excluded = exclude.toarray() != 0") + STABLE + PAD
TOPK_COSINE = R_HEAD + EXCLUDED + (
    "    scores = scores / np.linalg.norm(np.asarray(candidate_embeddings, dtype=np.float64), axis=1)[None, :]\n") + STABLE + PAD
TOPK_ASCENDING = R_HEAD + EXCLUDED + "    order = np.argsort(np.where(excluded, np.inf, scores), axis=1, kind='stable')[:, :k]\n" + PAD
TOPK_VIA_NOTEBOOK_8 = (R_HEAD + "    from recsys_course.ranking_metrics import top_k_unseen\n"
                       "    scores = np.asarray(query_embeddings) @ np.asarray(candidate_embeddings).T\n"
                       "    return top_k_unseen(scores, np.zeros(scores.shape, bool) if exclude is None else exclude, k)\n")
TOPK_ZEROS = R_HEAD + "    return np.zeros((len(query_embeddings), k), dtype=np.int64)\n"

LOSS_HIDDEN = ("in_batch_softmax_loss_hidden_values in_batch_softmax_loss_hidden_known_values "
               "in_batch_softmax_loss_hidden_gradients in_batch_softmax_loss_hidden_large_logits")
TOPK_HIDDEN = ("retrieve_top_k_hidden_values retrieve_top_k_hidden_ties retrieve_top_k_hidden_exclude_dense "
               "retrieve_top_k_hidden_exclude_sparse retrieve_top_k_hidden_padding")

LOSS = Exercise("in_batch_softmax_loss", "query_embeddings, candidate_embeddings",
                "query_embeddings, candidate_embeddings",
                library=("recsys_course.retrieval.in_batch_softmax_loss", "recsys_course.softmax.softmax_loss"))
TOP_K = Exercise("retrieve_top_k", "query_embeddings, candidate_embeddings, k=100, exclude=None",
                 "query_embeddings, candidate_embeddings, k=k, exclude=exclude",
                 library=("recsys_course.retrieval.retrieve_top_k", "recsys_course.ranking_metrics.top_k_unseen"))

OTHER_ROUTE = {"in_batch_softmax_loss_solution": LOSS_SPARSE_CE, "retrieve_top_k_solution": TOPK_TF}


L = "in_batch_softmax_loss_solution"
R = "retrieve_top_k_solution"

# Graded by the real test: a wrong loss and a wrong retrieval share a notebook (independent exercises).
CASES = [
    Case({L: LOSS_SPARSE_CE, R: TOPK_TF}, "sparse cross entropy with range labels; tf.math.top_k with padding"),
    Case({L: LOSS_TRANSPOSED, R: TOPK_REVERSED_TIES}, "C Q^T instead of Q C^T; ties towards the larger row",
         lost="in_batch_softmax_loss_hidden_values in_batch_softmax_loss_hidden_gradients "
              "in_batch_softmax_loss_hidden_large_logits retrieve_top_k_hidden_ties"),
    Case({L: LOSS_TWO_STEP, R: TOPK_NO_PADDING}, "log(softmax) in two steps; no padding",
         lost="in_batch_softmax_loss_hidden_large_logits retrieve_top_k_hidden_padding"),
    Case({L: LOSS_NUMPY, R: TOPK_SPARSE_BY_VALUE}, "loss computed in numpy; sparse exclude read by its values",
         lost="in_batch_softmax_loss_hidden_gradients retrieve_top_k_hidden_exclude_sparse"),
    Case({L: LOSS_SUM, R: TOPK_COSINE}, "sum instead of mean; cosine instead of the dot product",
         lost=LOSS_HIDDEN + " retrieve_top_k_hidden_values"),
    Case({L: LOSS_VIA_NOTEBOOK_7, R: TOPK_VIA_NOTEBOOK_8},
         "handed to notebook 7's softmax_loss and notebook 8's top_k_unseen", lost="*"),
    Case({L: LOSS_KERAS, R: TOPK_ZEROS}, "Keras cross entropy on the identity; zeros of the right shape",
         lost=TOPK_HIDDEN),
]

# Every cell of both exercises fails under the guard (the visible checks end with a hidden guard block).
DELEGATED, MORE_DELEGATED = delegation_cases(10, LOSS, TOP_K, what="both handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(LOSS, TOP_K, value="0"), "both return 0", lost="*", pending="values_before_structure"),
    Case(constant(LOSS, TOP_K, value="None"), "both return None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    Case({L: LOSS_KERAS}, "Keras cross entropy on the identity"),
    Case({L: LOSS_SUM}, "sum instead of mean", lost=LOSS_HIDDEN),
    Case({L: LOSS_TRANSPOSED}, "C Q^T instead of Q C^T",
         lost="in_batch_softmax_loss_hidden_values in_batch_softmax_loss_hidden_gradients "
              "in_batch_softmax_loss_hidden_large_logits"),
    Case({L: LOSS_COLUMN_ZERO}, "column 0 as every row's answer", lost=LOSS_HIDDEN),
    Case({L: LOSS_TWO_STEP}, "log(softmax) in two steps", lost="in_batch_softmax_loss_hidden_large_logits"),
    Case({L: LOSS_NUMPY}, "computed in numpy", lost="in_batch_softmax_loss_hidden_gradients"),
    Case({L: LOSS_STOP_GRADIENT}, "no gradient to the candidate tower", lost="in_batch_softmax_loss_hidden_gradients"),
    Case({L: LOSS_SIGMOID}, "sigmoid cross entropy", lost=LOSS_HIDDEN),
    Case({L: LOSS_SOFTMAX_TWICE}, "softmax before a from-logits loss", lost=LOSS_HIDDEN),
    Case({R: TOPK_REVERSED_TIES}, "ties towards the larger row", lost="retrieve_top_k_hidden_ties"),
    Case({R: TOPK_NO_PADDING}, "-inf for the excluded, no padding", lost="retrieve_top_k_hidden_padding"),
    Case({R: TOPK_SPARSE_BY_VALUE}, "sparse exclude read by its values", lost="retrieve_top_k_hidden_exclude_sparse"),
    Case({R: TOPK_COSINE}, "cosine instead of the dot product", lost="retrieve_top_k_hidden_values"),
    Case({R: TOPK_ASCENDING}, "increasing order", lost=TOPK_HIDDEN),
    Case({R: TOPK_ZEROS}, "zeros of the right shape", lost=TOPK_HIDDEN),
    *MORE_DELEGATED,
]
