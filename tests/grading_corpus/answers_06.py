"""Notebook 6 (regularization): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases, delegations

GRAVITY_ONE_LINE = '''
def gravity(U, V):
    n_by_m = tf.cast(tf.shape(U)[0] * tf.shape(V)[0], U.dtype)
    return tf.reduce_sum(tf.matmul(U, U, transpose_a=True) * tf.matmul(V, V, transpose_a=True)) / n_by_m
'''
GRAVITY_NO_MEAN = '''
def gravity(U, V):
    return tf.reduce_sum(tf.matmul(U, U, transpose_a=True) * tf.matmul(V, V, transpose_a=True))
'''
GRAVITY_SQUARED_MEAN = '''
def gravity(U, V):
    return tf.square(tf.reduce_mean(tf.matmul(U, V, transpose_b=True)))
'''
# The library's own gravity, copied with other names: graded as usual, flagged for review.
GRAVITY_COPIED = '''
def _num_rows(embeddings):
    return tf.cast(tf.shape(embeddings)[0], embeddings.dtype)


def gravity(users, movies):
    """Gravity (copied)."""
    users, movies = tf.convert_to_tensor(users), tf.convert_to_tensor(movies)
    a = tf.matmul(users, users, transpose_a=True)
    b = tf.matmul(movies, movies, transpose_a=True)
    return tf.reduce_sum(a * b) / (_num_rows(users) * _num_rows(movies))
'''

GRAVITY = Exercise("gravity", "U, V", "U, V", library=("recsys_course.regularization.gravity",
                                                      "recsys_course.regularization.gravity_naive"))
REGULARIZED = Exercise(
    "build_regularized_model", "ratings, embedding_dim=3, regularization_coeff=.1, gravity_coeff=1., init_stddev=0.1",
    "ratings, embedding_dim=embedding_dim, regularization_coeff=regularization_coeff, gravity_coeff=gravity_coeff, "
    "init_stddev=init_stddev", library=("recsys_course.regularization.build_regularized_model",))

OTHER_ROUTE = {"gravity_solution": GRAVITY_ONE_LINE}

CASES = [
    Case({"gravity_solution": GRAVITY_ONE_LINE}, "gravity in one line", student="s03"),
    # charged once: the regularized model's hidden tests use the reference gravity
    Case({"gravity_solution": GRAVITY_NO_MEAN}, "gravity without 1/(MN)", student="s05",
         lost="gravity_hidden_values gravity_hidden_mean_over_pairs gravity_hidden_gradient gravity_hidden_no_n_by_m_matrix"),
    Case({"gravity_solution": GRAVITY_SQUARED_MEAN}, "gravity as the square of a mean", student="s06",
         lost="gravity_hidden_values gravity_hidden_gradient gravity_hidden_no_n_by_m_matrix"),
    Case({"gravity_solution": GRAVITY_COPIED}, "gravity copied from the library",
         review="copied from recsys_course.regularization.gravity (gravity_solution)"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(6, GRAVITY, REGULARIZED, what="both handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(GRAVITY, REGULARIZED, value="0"), "both return 0", lost="*", pending="values_before_structure"),
    Case(constant(GRAVITY, REGULARIZED, value="None"), "both return None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
    Case(dict(delegations(GRAVITY))["call"], "only gravity handed to the library", lost="gravity", pending="library_guard"),
    Case(dict(delegations(REGULARIZED))["attribute"], "only the model handed to the library",
         lost="build_regularized_model", pending="library_guard"),
]
