"""Notebook 5 (inspecting the embeddings): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

SCORES_TF = '''
def compute_scores(query_embedding, item_embeddings, measure=DOT):
    query = tf.cast(tf.convert_to_tensor(query_embedding), tf.float64)
    items = tf.cast(tf.convert_to_tensor(item_embeddings), tf.float64)
    if measure == COSINE:
        query = tf.math.l2_normalize(query)
        items = tf.math.l2_normalize(items, axis=1)
    return tf.linalg.matvec(items, query).numpy()
'''
SCORES_DOT_ONLY_QUERY = '''
def compute_scores(query_embedding, item_embeddings, measure=DOT):
    """Cosine without normalising the query."""
    query, items = np.asarray(query_embedding, float), np.asarray(item_embeddings, float)
    if measure == COSINE:
        items = items / np.linalg.norm(items, axis=1, keepdims=True)
    return items.dot(query)
'''
SCORES_WRONG_AXIS = '''
def compute_scores(query_embedding, item_embeddings, measure=DOT):
    """Items normalised along the wrong axis (columns)."""
    query, items = np.asarray(query_embedding, float), np.asarray(item_embeddings, float)
    if measure == COSINE:
        query = query / np.linalg.norm(query)
        items = items / np.linalg.norm(items, axis=0, keepdims=True)
    return items.dot(query)
'''

SCORES = Exercise("compute_scores", "query_embedding, item_embeddings, measure=DOT",
                  "query_embedding, item_embeddings, measure", library=("recsys_course.embeddings.compute_scores",))
SOLUTION = SCORES.solution_id

OTHER_ROUTE = {SOLUTION: SCORES_TF}

CASES = [
    Case({SOLUTION: SCORES_TF}, "TensorFlow ops", student="s03"),
    Case({SOLUTION: SCORES_DOT_ONLY_QUERY}, "cosine without normalising the query", student="s05",
         lost="compute_scores_hidden_cosine_values compute_scores_hidden_cosine_scale_invariant compute_scores_hidden_tensorflow_inputs compute_scores_hidden_shape_and_type"),
    Case({SOLUTION: SCORES_WRONG_AXIS}, "normalised along the wrong axis", student="s06",
         lost="compute_scores_hidden_cosine_values compute_scores_hidden_cosine_scale_invariant compute_scores_hidden_tensorflow_inputs compute_scores_hidden_shape_and_type"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(5, SCORES, what="handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(SCORES, value="0"), "returns 0", lost="*", pending="values_before_structure"),
    Case(constant(SCORES, value="None"), "returns None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
]
