"""Notebook 4 (training matrix factorization): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

# --- observed_mse_gradient_step: one step of gradient descent, the gradient by hand ----------

STEP_PARAMS = "sparse_ratings, user_embeddings, movie_embeddings, learning_rate"
# Rating by rating: each rating's contribution, summed per user and per movie.
STEP_SEGMENT_SUM = '''
def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    user_rows, movie_rows = tf.gather(user_embeddings, users), tf.gather(movie_embeddings, movies)
    errors = sparse_ratings.values - tf.reduce_sum(user_rows * movie_rows, axis=1)
    scale = -2.0 / tf.cast(tf.size(errors), tf.float32)
    grad_users = scale * tf.math.unsorted_segment_sum(errors[:, None] * movie_rows, users, tf.shape(user_embeddings)[0])
    grad_movies = scale * tf.math.unsorted_segment_sum(errors[:, None] * user_rows, movies, tf.shape(movie_embeddings)[0])
    return user_embeddings - learning_rate * grad_users, movie_embeddings - learning_rate * grad_movies
'''
# NumPy, float64, np.add.at; returns NumPy arrays.
STEP_NUMPY = '''
def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    rows = sparse_ratings.indices.numpy()
    U = np.array(user_embeddings, dtype=np.float64)
    V = np.array(movie_embeddings, dtype=np.float64)
    errors = sparse_ratings.values.numpy() - np.sum(U[rows[:, 0]] * V[rows[:, 1]], axis=1)
    grad_U, grad_V = np.zeros_like(U), np.zeros_like(V)
    np.add.at(grad_U, rows[:, 0], -2 * errors[:, None] * V[rows[:, 1]] / len(errors))
    np.add.at(grad_V, rows[:, 1], -2 * errors[:, None] * U[rows[:, 0]] / len(errors))
    return U - learning_rate * grad_U, V - learning_rate * grad_V
'''
# Dense: the errors on a [N, M] matrix masked to the rated cells, then E V and E^T U as matmuls.
STEP_DENSE = '''
def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    ratings = tf.sparse.reorder(sparse_ratings)
    mask = tf.sparse.to_dense(tf.SparseTensor(ratings.indices, tf.ones_like(ratings.values), ratings.dense_shape))
    errors = mask * (tf.sparse.to_dense(ratings) - tf.matmul(user_embeddings, movie_embeddings, transpose_b=True))
    scale = -2.0 / tf.reduce_sum(mask)
    new_users = user_embeddings - learning_rate * scale * tf.matmul(errors, movie_embeddings)
    new_movies = movie_embeddings - learning_rate * scale * tf.matmul(errors, user_embeddings, transpose_a=True)
    return new_users, new_movies
'''
STEP_SIGN_ERROR = STEP_SEGMENT_SUM.replace("scale = -2.0 /", "scale = 2.0 /")
# The gradient of the sum of squares without the 2 / |Omega| of the mean.
STEP_NO_FACTOR = STEP_SEGMENT_SUM.replace("scale = -2.0 / tf.cast(tf.size(errors), tf.float32)", "scale = -1.0")
# Sum instead of mean: the 2 kept, 1 / |Omega| forgotten (right when there is one rating).
STEP_SUM_NOT_MEAN = STEP_SEGMENT_SUM.replace("scale = -2.0 / tf.cast(tf.size(errors), tf.float32)", "scale = -2.0")
# Updates U first, then takes V's gradient at the new U.
STEP_SEQUENTIAL = '''
def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    scale = -2.0 / tf.cast(tf.size(sparse_ratings.values), tf.float32)

    def errors(U, V):
        return sparse_ratings.values - tf.reduce_sum(tf.gather(U, users) * tf.gather(V, movies), axis=1)

    e = errors(user_embeddings, movie_embeddings)
    new_users = user_embeddings - learning_rate * scale * tf.math.unsorted_segment_sum(
        e[:, None] * tf.gather(movie_embeddings, movies), users, tf.shape(user_embeddings)[0])
    e = errors(new_users, movie_embeddings)
    new_movies = movie_embeddings - learning_rate * scale * tf.math.unsorted_segment_sum(
        e[:, None] * tf.gather(new_users, users), movies, tf.shape(movie_embeddings)[0])
    return new_users, new_movies
'''
# Automatic differentiation of the student's own loss: no points for this exercise.
STEP_TAPE = '''
def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    U, V = tf.Variable(user_embeddings), tf.Variable(movie_embeddings)
    with tf.GradientTape() as tape:
        predictions = tf.reduce_sum(tf.gather(U, sparse_ratings.indices[:, 0])
                                    * tf.gather(V, sparse_ratings.indices[:, 1]), axis=1)
        loss = tf.reduce_mean(tf.square(sparse_ratings.values - predictions))
    grad_U, grad_V = tape.gradient(loss, [U, V])
    return U - learning_rate * tf.convert_to_tensor(grad_U), V - learning_rate * tf.convert_to_tensor(grad_V)
'''
# The library's loss and a Keras optimizer (which asks a tape for the gradient).
STEP_KERAS_OPTIMIZER = '''
import keras


def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    U, V = tf.Variable(user_embeddings), tf.Variable(movie_embeddings)
    with tf.autodiff.GradientTape() as tape:
        loss = observed_mse(sparse_ratings, U, V)
    keras.optimizers.SGD(learning_rate).apply_gradients(zip(tape.gradient(loss, [U, V]), [U, V]))
    return U.numpy(), V.numpy()
'''
# A tape, with the hand-written route as a fallback if the tape fails: still autodiff.
STEP_TAPE_WITH_FALLBACK = (STEP_TAPE.replace("def observed_mse_gradient_step", "def _by_tape")
                           + STEP_SEGMENT_SUM.replace("def observed_mse_gradient_step", "def _by_hand") + '''

def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    try:
        return _by_tape(sparse_ratings, user_embeddings, movie_embeddings, learning_rate)
    except Exception:
        return _by_hand(sparse_ratings, user_embeddings, movie_embeddings, learning_rate)
''')
# tf.gradients inside a tf.function, on the library's loss.
STEP_TF_GRADIENTS = '''
@tf.function
def _gradients(sparse_ratings, U, V):
    return tf.gradients(observed_mse(sparse_ratings, U, V), [U, V])


def observed_mse_gradient_step(sparse_ratings, user_embeddings, movie_embeddings, learning_rate):
    grad_U, grad_V = _gradients(sparse_ratings, user_embeddings, movie_embeddings)
    return user_embeddings - learning_rate * grad_U, movie_embeddings - learning_rate * grad_V
'''

STEP = Exercise("observed_mse_gradient_step", STEP_PARAMS, STEP_PARAMS, library=())
STEP_SOLUTION = STEP.solution_id
STEP_VALUES = ("observed_mse_gradient_step_hidden_user_embeddings observed_mse_gradient_step_hidden_movie_embeddings "
               "observed_mse_gradient_step_hidden_unrated_rows_unchanged observed_mse_gradient_step_hidden_one_rating")

# --- build_model ------------------------------------------------------------------------------

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

OTHER_ROUTE = {SOLUTION: MODEL_LAMBDAS, STEP_SOLUTION: STEP_SEGMENT_SUM}

# Real grading costs about 10 s a notebook: each case pairs a build_model answer with a
# gradient-step answer (independent exercises, so the lost cells simply add up).
CASES = [
    Case({SOLUTION: MODEL_LAMBDAS, STEP_SOLUTION: STEP_SEGMENT_SUM}, "lambdas; step by segment sums", student="s03"),
    Case({SOLUTION: MODEL_FIXED_STDDEV, STEP_SOLUTION: STEP_SIGN_ERROR},
         "init_stddev ignored; step with the gradient's sign flipped", student="s05",
         lost=f"build_model_hidden_init_stddev {STEP_VALUES}"),
    Case({SOLUTION: MODEL_NO_HOLDOUT, STEP_SOLUTION: STEP_SEQUENTIAL},
         "tests on the training ratings; V's gradient taken at the new U", student="s06",
         lost="build_model_hidden_test_error_held_out build_model_hidden_loss_on_train_ratings "
              "observed_mse_gradient_step_hidden_movie_embeddings observed_mse_gradient_step_hidden_one_rating"),
    Case({SOLUTION: MODEL_LOSS_VALUE, STEP_SOLUTION: STEP_NUMPY},
         "the loss computed once, not a function; step in NumPy", lost="build_model"),
    Case({STEP_SOLUTION: STEP_NO_FACTOR}, "step without the 2 / |Omega| factor", lost=STEP_VALUES),
    Case({STEP_SOLUTION: STEP_TAPE}, "step by tf.GradientTape (automatic differentiation)",
         lost="observed_mse_gradient_step"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(4, MODEL, what="handed to the library", lost="build_model")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(MODEL, STEP, value="0"), "returns 0", lost="*", pending="values_before_structure"),
    Case(constant(MODEL, STEP, value="None"), "returns None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
    Case({STEP_SOLUTION: STEP_DENSE}, "step through the dense masked error matrix"),
    Case({STEP_SOLUTION: STEP_SUM_NOT_MEAN}, "step of the sum of squares (no 1 / |Omega|)",
         lost="observed_mse_gradient_step_hidden_user_embeddings observed_mse_gradient_step_hidden_movie_embeddings "
              "observed_mse_gradient_step_hidden_unrated_rows_unchanged"),
    Case({STEP_SOLUTION: STEP_KERAS_OPTIMIZER}, "step by a Keras optimizer", lost="observed_mse_gradient_step"),
    Case({STEP_SOLUTION: STEP_TAPE_WITH_FALLBACK}, "a tape, the hand-written step as a fallback",
         lost="observed_mse_gradient_step"),
    Case({STEP_SOLUTION: STEP_TF_GRADIENTS}, "tf.gradients in a tf.function", lost="observed_mse_gradient_step"),
]
