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

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(7, LOSS, MODEL, what="both handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(LOSS, MODEL, value="0"), "both return 0", lost="*", pending="values_before_structure"),
    Case(constant(LOSS, MODEL, value="None"), "both return None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
    Case(dict(delegations(LOSS))["alias"], "only softmax_loss handed to the library", lost="softmax_loss",
         pending="library_guard"),
    Case(dict(delegations(MODEL))["attribute"], "only the model handed to the library", lost="build_softmax_model",
         pending="library_guard"),
]
