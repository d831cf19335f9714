"""Notebook 4 (training matrix factorization): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

# Notebook 4 calls the course's observed_mse; the answer only wires the pieces.
MODEL_LAMBDAS = '''
def build_model(ratings, embedding_dim=3, init_stddev=1.0):
    train, test = split_dataframe(ratings)
    shape = (int(ratings["user_id"].max()) + 1, int(ratings["movie_id"].max()) + 1)
    a_train = build_rating_sparse_tensor(train, *shape)
    a_test = build_rating_sparse_tensor(test, *shape)
    U = tf.Variable(tf.random.normal([shape[0], embedding_dim], stddev=init_stddev), name="U")
    V = tf.Variable(tf.random.normal([shape[1], embedding_dim], stddev=init_stddev), name="V")
    errors = {"train_error": lambda: observed_mse(a_train, U, V), "test_error": lambda: observed_mse(a_test, U, V)}
    return CFModel({"user_id": U, "movie_id": V}, errors["train_error"], [errors])
'''
MODEL_FIXED_STDDEV = MODEL_LAMBDAS.replace("stddev=init_stddev", "stddev=1.0")
MODEL_NO_HOLDOUT = MODEL_LAMBDAS.replace("train, test = split_dataframe(ratings)", "train, test = ratings, ratings")
# The loss computed once, a tensor where CFModel needs a function: an error at build time (issue 12.6).
MODEL_LOSS_VALUE = MODEL_LAMBDAS.replace('errors["train_error"], [errors]', 'observed_mse(a_train, U, V), [errors]')

MODEL = Exercise("build_model", "ratings, embedding_dim=3, init_stddev=1.0",
                 "ratings, embedding_dim=embedding_dim, init_stddev=init_stddev",
                 library=("recsys_course.matrix_factorization.build_mf_model",))
SOLUTION = MODEL.solution_id

OTHER_ROUTE = {SOLUTION: MODEL_LAMBDAS}

CASES = [
    Case({SOLUTION: MODEL_LAMBDAS}, "lambdas", student="s03"),
    Case({SOLUTION: MODEL_FIXED_STDDEV}, "init_stddev ignored", student="s05", lost="build_model_hidden_init_stddev"),
    Case({SOLUTION: MODEL_NO_HOLDOUT}, "tests on the training ratings", student="s06",
         lost="build_model_hidden_test_error_held_out build_model_hidden_loss_on_train_ratings"),
    Case({SOLUTION: MODEL_LOSS_VALUE}, "the loss computed once, not a function", lost="*"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(4, MODEL, what="handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(MODEL, value="0"), "returns 0", lost="*", pending="values_before_structure"),
    Case(constant(MODEL, value="None"), "returns None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
]
