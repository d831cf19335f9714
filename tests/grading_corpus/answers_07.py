"""Notebook 7 (a softmax model): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases, delegations

SOFTMAX_LOGSUMEXP = '''
def softmax_loss(user_embeddings, movie_embeddings, labels):
    logits = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - tf.gather(logits, labels, batch_dims=1))
'''
SOFTMAX_KERAS = '''
def softmax_loss(user_embeddings, movie_embeddings, labels):
    logits = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
'''
SOFTMAX_TWICE = '''
def softmax_loss(user_embeddings, movie_embeddings, labels):
    """Softmax applied before a loss that expects logits."""
    probabilities = tf.nn.softmax(tf.matmul(user_embeddings, movie_embeddings, transpose_b=True))
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=probabilities))
'''
SOFTMAX_SIGMOID = '''
def softmax_loss(user_embeddings, movie_embeddings, labels):
    logits = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    targets = tf.one_hot(labels, tf.shape(logits)[1])
    return tf.reduce_mean(tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), axis=1))
'''
SOFTMAX_UNSTABLE = '''
def softmax_loss(user_embeddings, movie_embeddings, labels):
    """-log(softmax) computed naively: overflows for large logits."""
    scores = tf.exp(tf.matmul(user_embeddings, movie_embeddings, transpose_b=True))
    chosen = tf.gather(scores, labels, batch_dims=1)
    return tf.reduce_mean(-tf.math.log(chosen / tf.reduce_sum(scores, axis=1)))
'''


LOSS = Exercise("softmax_loss", "user_embeddings, movie_embeddings, labels", "user_embeddings, movie_embeddings, labels",
                library=("recsys_course.softmax.softmax_loss",))
MODEL = Exercise("build_softmax_model", "rated_movies, embedding_dims, hidden_dims",
                 "rated_movies, embedding_dims, hidden_dims", library=("recsys_course.softmax.build_softmax_model",))

OTHER_ROUTE = {"softmax_loss_solution": SOFTMAX_LOGSUMEXP}

CASES = [
    Case({"softmax_loss_solution": SOFTMAX_LOGSUMEXP}, "logsumexp", student="s03"),
    Case({"softmax_loss_solution": SOFTMAX_KERAS}, "Keras from_logits", student="s04"),
    # charged once: the softmax model's hidden tests use the reference softmax_loss
    Case({"softmax_loss_solution": SOFTMAX_TWICE}, "softmax before a from-logits loss", student="s05",
         lost="softmax_loss_hidden_values softmax_loss_hidden_gradient softmax_loss_hidden_large_logits softmax_loss_hidden_mean_over_examples"),
    Case({"softmax_loss_solution": SOFTMAX_SIGMOID}, "sigmoid instead of softmax", student="s06",
         lost="softmax_loss_hidden_values softmax_loss_hidden_gradient softmax_loss_hidden_large_logits softmax_loss_hidden_mean_over_examples"),
    Case({"softmax_loss_solution": SOFTMAX_UNSTABLE}, "naive -log(softmax)", student="s07",
         lost="softmax_loss_hidden_large_logits"),
]

# --- input_bags, precision_at_k, recall_at_k -----------------------------------------------------

INPUT_BAGS = Exercise("input_bags", "multi_hot, rows, labels",
                      "__import__('recsys_course.softmax', fromlist=['Bags']).Bags(multi_hot, None, None), rows, labels",
                      library=("recsys_course.softmax.input_bags",))
PRECISION = Exercise("precision_at_k", "recommended, relevant, k=10", "recommended, relevant, k=k",
                     library=("recsys_course.ranking_metrics.precision_at_k",))
RECALL = Exercise("recall_at_k", "recommended, relevant, k=10", "recommended, relevant, k=k",
                  library=("recsys_course.ranking_metrics.recall_at_k",))

INPUT_BAGS_MASK = '''
def input_bags(multi_hot, rows, labels):
    """Multiply by a mask that is 0 at the label."""
    bags = tf.gather(multi_hot, rows)
    return bags * (1.0 - tf.one_hot(labels, depth=multi_hot.shape[1]))
'''
INPUT_BAGS_SCATTER = '''
def input_bags(multi_hot, rows, labels):
    """Write a 0 at (example, label) in the gathered rows."""
    bags = tf.gather(multi_hot, rows)
    positions = tf.stack([tf.range(tf.shape(bags)[0], dtype=tf.int64), tf.cast(labels, tf.int64)], axis=1)
    return tf.tensor_scatter_nd_update(bags, positions, tf.zeros(tf.shape(positions)[:1], bags.dtype))
'''
INPUT_BAGS_LABEL_KEPT = '''
def input_bags(multi_hot, rows, labels):
    """The users' bags as they are: the label is left in (the crash course's leak)."""
    return tf.gather(multi_hot, rows)
'''
INPUT_BAGS_REMOVED_BEFORE_GATHER = '''
def input_bags(multi_hot, rows, labels):
    """Removes every example's label from the users' bags first, then picks the rows: a user who
    comes twice in the batch loses both labels in both examples."""
    positions = tf.stack([tf.cast(rows, tf.int64), tf.cast(labels, tf.int64)], axis=1)
    cleared = tf.tensor_scatter_nd_update(multi_hot, positions, tf.zeros(tf.shape(positions)[:1], multi_hot.dtype))
    return tf.gather(cleared, rows)
'''
INPUT_BAGS_NUMPY = '''
def input_bags(multi_hot, rows, labels):
    """In numpy: right values, but it cannot run inside a compiled step."""
    bags = np.array(multi_hot)[np.array(rows)]
    bags[np.arange(len(bags)), np.array(labels)] = 0.0
    return tf.constant(bags, tf.float32)
'''
PRECISION_NUMPY = '''
def precision_at_k(recommended, relevant, k=10):
    wanted = np.unique(np.asarray(list(relevant.values) if isinstance(relevant, pd.Series) else list(relevant), dtype=np.int64))
    top = np.asarray(recommended, dtype=np.int64)[:k]
    return float(np.isin(top[top >= 0], wanted).sum()) / k
'''
RECALL_SETS = '''
def recall_at_k(recommended, relevant, k=10):
    wanted = {int(m) for m in (relevant.tolist() if isinstance(relevant, pd.Series) else relevant)}
    if len(wanted) == 0:
        return float("nan")
    found = {int(m) for m in list(recommended)[:k] if int(m) != -1} & wanted
    return len(found) / len(wanted)
'''
PRECISION_OVER_RELEVANT = '''
def precision_at_k(recommended, relevant, k=10):
    """Divides by the number of relevant movies (that is recall), not by k."""
    relevant = set(pd.Series(list(relevant.values) if isinstance(relevant, pd.Series) else list(relevant), dtype="int64"))
    hits = sum(1 for movie in list(recommended)[:k] if movie != -1 and movie in relevant)
    return hits / len(relevant) if relevant else 0.0
'''
PRECISION_OFF_BY_ONE = '''
def precision_at_k(recommended, relevant, k=10):
    """Looks at the first k - 1 recommendations only."""
    relevant = set(pd.Series(list(relevant.values) if isinstance(relevant, pd.Series) else list(relevant), dtype="int64"))
    hits = sum(1 for movie in list(recommended)[:k - 1] if movie != -1 and movie in relevant)
    return hits / k
'''
RECALL_OFF_BY_ONE = '''
def recall_at_k(recommended, relevant, k=10):
    """Looks at the first k + 1 recommendations."""
    relevant = set(pd.Series(list(relevant.values) if isinstance(relevant, pd.Series) else list(relevant), dtype="int64"))
    if not relevant:
        return float("nan")
    hits = sum(1 for movie in list(recommended)[:k + 1] if movie != -1 and movie in relevant)
    return hits / len(relevant)
'''
LABEL_KEPT_LOST = ("input_bags_hidden_label_removed input_bags_hidden_repeated_users input_bags_hidden_types "
                   "input_bags_hidden_graph")
OVER_RELEVANT_LOST = "precision_at_k_hidden_values precision_at_k_hidden_edge_cases"
OFF_BY_ONE_LOST = ("precision_at_k_hidden_values precision_at_k_hidden_edge_cases "
                   "recall_at_k_hidden_values recall_at_k_hidden_edge_cases")

CASES += [
    Case({"input_bags_solution": INPUT_BAGS_MASK, "precision_at_k_solution": PRECISION_NUMPY,
          "recall_at_k_solution": RECALL_SETS}, "input bags by a mask, precision in numpy, recall with sets"),
    # one notebook, two independent mistakes: each loses its own cells
    Case({"input_bags_solution": INPUT_BAGS_LABEL_KEPT, "precision_at_k_solution": PRECISION_OVER_RELEVANT},
         "label left in the input bag; precision divided by the number of relevant movies",
         lost=f"{LABEL_KEPT_LOST} {OVER_RELEVANT_LOST}"),
    Case({"input_bags_solution": INPUT_BAGS_REMOVED_BEFORE_GATHER, "precision_at_k_solution": PRECISION_OFF_BY_ONE,
          "recall_at_k_solution": RECALL_OFF_BY_ONE},
         "labels removed before picking the rows (repeated users); precision and recall off by one in k",
         lost=f"input_bags_hidden_repeated_users {OFF_BY_ONE_LOST}"),
]

# Every exercise of the notebook handed to the library, and return 0 / None for all of them.
ALL_DELEGATED, _ = delegation_cases(7, LOSS, INPUT_BAGS, MODEL, PRECISION, RECALL,
                                    what="every exercise handed to the library")
# The dry run's other forms: recall_at_k apart, since the lambda and class_method forms look up one
# module-level name, _library_version, at call time (precision's would find recall's and vice versa).
_, ALL_MORE_DELEGATED = delegation_cases(7, LOSS, INPUT_BAGS, MODEL, PRECISION,
                                         what="every exercise but recall_at_k handed to the library",
                                         lost="softmax_loss input_bags build_softmax_model precision_at_k")
_, RECALL_MORE_DELEGATED = delegation_cases(7, RECALL, what="recall_at_k handed to the library", lost="recall_at_k")
PENDING_CASES = [
    *ALL_DELEGATED,
    Case(constant(LOSS, INPUT_BAGS, MODEL, PRECISION, RECALL, value="0"), "all return 0", lost="*",
         pending="values_before_structure"),
    Case(constant(LOSS, INPUT_BAGS, MODEL, PRECISION, RECALL, value="None"), "all return None", lost="*",
         pending="values_before_structure"),
]

DRY_RUN_CASES = [
    *ALL_MORE_DELEGATED,
    *RECALL_MORE_DELEGATED,
    Case(dict(delegations(LOSS))["alias"], "only softmax_loss handed to the library", lost="softmax_loss",
         pending="library_guard"),
    Case(dict(delegations(MODEL))["attribute"], "only the model handed to the library", lost="build_softmax_model",
         pending="library_guard"),
    # the library's input_bags takes a Bags, not a multi-hot matrix: the forms that adapt the arguments
    # (an alias of it is merely a wrong answer, which also breaks the student's own model)
    *[Case(answers, f"only input_bags handed to the library ({form})", lost="input_bags", pending="library_guard")
      for form, answers in delegations(INPUT_BAGS) if form in ("call", "attribute", "importlib", "lambda", "class_method")],
    *[Case(answers, f"only precision_at_k handed to the library ({form})", lost="precision_at_k",
           pending="library_guard") for form, answers in delegations(PRECISION)],
    Case({"input_bags_solution": INPUT_BAGS_SCATTER}, "input bags by a scatter into the gathered rows"),
    Case({"input_bags_solution": INPUT_BAGS_LABEL_KEPT}, "label left in the input bag", lost=LABEL_KEPT_LOST),
    Case({"input_bags_solution": INPUT_BAGS_REMOVED_BEFORE_GATHER}, "labels removed before picking the rows",
         lost="input_bags_hidden_repeated_users"),
    Case({"input_bags_solution": INPUT_BAGS_NUMPY}, "input bags in numpy", lost="input_bags_hidden_graph"),
    Case({"precision_at_k_solution": PRECISION_OVER_RELEVANT}, "precision divided by the number of relevant movies",
         lost=OVER_RELEVANT_LOST),
    Case({"precision_at_k_solution": PRECISION_OFF_BY_ONE}, "precision over the first k - 1",
         lost="precision_at_k_hidden_values precision_at_k_hidden_edge_cases"),
    Case({"recall_at_k_solution": RECALL_OFF_BY_ONE}, "recall over the first k + 1",
         lost="recall_at_k_hidden_values recall_at_k_hidden_edge_cases"),
    *[Case(constant(exercise, value=value), f"{exercise.function} returns {value}", lost=exercise.function,
           pending="values_before_structure")
      for exercise in (INPUT_BAGS, PRECISION, RECALL) for value in ("0", "None")],
]
