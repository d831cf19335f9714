"""Notebook 9 (matrix factorization in Keras, a split by time): other correct routes, wrong answers."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

# --- split_by_time ------------------------------------------------------------------------

SPLIT_POSITION_SORT = '''
def split_by_time(ratings, holdout_per_user=1):
    """Sort by (timestamp, position): ties broken by the row explicitly."""
    frame = ratings.assign(_position=np.arange(len(ratings)))
    order = frame.sort_values(["timestamp", "_position"])
    from_last = order.groupby("user_id").cumcount(ascending=False)
    size = order.groupby("user_id")["user_id"].transform("size")
    chosen = order["_position"][(from_last < holdout_per_user) & (size > holdout_per_user)].to_numpy()
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[chosen] = True
    return ratings[~in_test], ratings[in_test]
'''
SPLIT_LOOP = '''
def split_by_time(ratings, holdout_per_user=1):
    """A loop over users with np.lexsort (time, then position)."""
    users = ratings["user_id"].to_numpy()
    times = ratings["timestamp"].to_numpy()
    in_test = np.zeros(len(ratings), dtype=bool)
    for user in np.unique(users):
        positions = np.flatnonzero(users == user)
        if len(positions) <= holdout_per_user:
            continue
        oldest_first = positions[np.lexsort((positions, times[positions]))]
        in_test[oldest_first[len(oldest_first) - holdout_per_user:]] = True
    return ratings.iloc[~in_test], ratings.iloc[in_test]
'''
SPLIT_TAIL = '''
def split_by_time(ratings, holdout_per_user=1):
    """Stable sort, then groupby(...).tail among users with enough ratings; train by dropping labels."""
    by_time = ratings.sort_values("timestamp", kind="mergesort")
    counts = by_time["user_id"].map(by_time["user_id"].value_counts())
    test = by_time[counts > holdout_per_user].groupby("user_id").tail(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_OLDEST = '''
def split_by_time(ratings, holdout_per_user=1):
    """The oldest ratings held out instead of the newest."""
    by_time = ratings.sort_values("timestamp", kind="stable")
    counts = by_time["user_id"].map(by_time["user_id"].value_counts())
    test = by_time[counts > holdout_per_user].groupby("user_id").head(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_UNSTABLE = '''
def split_by_time(ratings, holdout_per_user=1):
    """The default (unstable) sort: equal timestamps in any order."""
    by_time = ratings.sort_values("timestamp")
    counts = by_time["user_id"].map(by_time["user_id"].value_counts())
    test = by_time[counts > holdout_per_user].groupby("user_id").tail(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_FIRST_TIE = '''
def split_by_time(ratings, holdout_per_user=1):
    """Newest first with a stable sort: of equal timestamps the EARLIER row counts as more recent."""
    newest_first = ratings.sort_values("timestamp", ascending=False, kind="stable")
    counts = newest_first["user_id"].map(newest_first["user_id"].value_counts())
    test = newest_first[counts > holdout_per_user].groupby("user_id").head(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_NO_SHORT_RULE = '''
def split_by_time(ratings, holdout_per_user=1):
    """Short histories forgotten: a user with few ratings has them all in test."""
    by_time = ratings.sort_values("timestamp", kind="stable")
    test = by_time.groupby("user_id").tail(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_OFF_BY_ONE = '''
def split_by_time(ratings, holdout_per_user=1):
    """>= instead of >: a user with exactly holdout_per_user ratings has them all in test."""
    by_time = ratings.sort_values("timestamp", kind="stable")
    counts = by_time["user_id"].map(by_time["user_id"].value_counts())
    test = by_time[counts >= holdout_per_user].groupby("user_id").tail(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_GLOBAL_CUT = '''
def split_by_time(ratings, holdout_per_user=1):
    """One cut in time for everybody: the n_users * holdout_per_user newest ratings."""
    by_time = ratings.sort_values("timestamp", kind="stable")
    count = ratings["user_id"].nunique() * holdout_per_user
    test = by_time.tail(count)
    return ratings.drop(test.index), test
'''
SPLIT_IN_PLACE = '''
def split_by_time(ratings, holdout_per_user=1):
    """Right rows, but sorts the caller's frame in place."""
    ratings.sort_values("timestamp", kind="stable", inplace=True)
    counts = ratings["user_id"].map(ratings["user_id"].value_counts())
    test = ratings[counts > holdout_per_user].groupby("user_id").tail(holdout_per_user)
    return ratings.drop(test.index), test
'''
SPLIT_FOUR_COLUMNS = '''
def split_by_time(ratings, holdout_per_user=1):
    """Right rows, but only the four MovieLens columns kept."""
    by_time = ratings[["user_id", "movie_id", "rating", "timestamp"]].sort_values("timestamp", kind="stable")
    counts = by_time["user_id"].map(by_time["user_id"].value_counts())
    test = by_time[counts > holdout_per_user].groupby("user_id").tail(holdout_per_user)
    return by_time.drop(test.index), test
'''
SPLIT_SWAPPED = '''
def split_by_time(ratings, holdout_per_user=1):
    """(test, train): the pair the wrong way round."""
    by_time = ratings.sort_values("timestamp", kind="stable")
    counts = by_time["user_id"].map(by_time["user_id"].value_counts())
    test = by_time[counts > holdout_per_user].groupby("user_id").tail(holdout_per_user)
    return test, ratings.drop(test.index)
'''

# --- build_keras_mf ----------------------------------------------------------------------

_MF_HEAD = '''
def build_keras_mf(num_users, num_movies, embedding_dim=32, use_biases=True, l2=0.0):
    user_id = keras.Input(shape=(), dtype="int32", name="user_id")
    movie_id = keras.Input(shape=(), dtype="int32", name="movie_id")
'''

MF_OPS = _MF_HEAD + '''    """keras.ops for the dot product and the squeeze; the regularizer always there (L2(0) adds 0)."""
    regularizer = keras.regularizers.l2(l2)
    p = keras.layers.Embedding(num_users, embedding_dim, embeddings_regularizer=regularizer)(user_id)
    q = keras.layers.Embedding(num_movies, embedding_dim, embeddings_regularizer=regularizer)(movie_id)
    prediction = keras.ops.sum(p * q, axis=-1)
    if use_biases:
        user_bias = keras.layers.Embedding(num_users, 1, embeddings_initializer="zeros")(user_id)
        movie_bias = keras.layers.Embedding(num_movies, 1, embeddings_initializer="zeros")(movie_id)
        global_bias = keras.layers.Embedding(1, 1, embeddings_initializer="zeros")(keras.ops.zeros_like(movie_id))
        prediction = prediction + keras.ops.squeeze(user_bias + movie_bias + global_bias, axis=-1)
    return keras.Model({"user_id": user_id, "movie_id": movie_id}, prediction)
'''
MF_FLATTEN = _MF_HEAD + '''    """Multiply + a Dense-free sum, Flatten, Add of flattened biases."""
    regularizer = keras.regularizers.L2(l2) if l2 else None
    p = keras.layers.Embedding(num_users, embedding_dim, embeddings_regularizer=regularizer)(user_id)
    q = keras.layers.Embedding(num_movies, embedding_dim, embeddings_regularizer=regularizer)(movie_id)
    terms = [keras.layers.Dot(axes=-1)([p, q])]
    if use_biases:
        terms.append(keras.layers.Embedding(num_users, 1, embeddings_initializer="zeros")(user_id))
        terms.append(keras.layers.Embedding(num_movies, 1, embeddings_initializer="zeros")(movie_id))
        terms.append(keras.layers.Embedding(1, 1, embeddings_initializer="zeros")(keras.ops.zeros_like(user_id)))
    total = keras.layers.Add()(terms) if len(terms) > 1 else terms[0]
    return keras.Model({"user_id": user_id, "movie_id": movie_id}, keras.ops.reshape(total, (-1,)))
'''


def _mf(*, bias_init='"zeros"', regularize_biases=False, global_bias=True, reshape=True,
        dot='keras.layers.Dot(axes=1)([p, q])', global_trainable=True, always_biases=False,
        activity=False, only_users=False, user_rows="num_users", movie_rows="num_movies", doc=""):
    """The reference with one thing changed."""
    regularizer = "keras.regularizers.L2(l2) if l2 > 0 else None"
    kind = "activity_regularizer" if activity else "embeddings_regularizer"
    bias_regularizer = ", embeddings_regularizer=regularizer" if regularize_biases else ""
    q_regularizer = "" if only_users else f", {kind}=regularizer"
    lines = [f'    """{doc}"""', f"    regularizer = {regularizer}",
             f"    p = keras.layers.Embedding({user_rows}, embedding_dim, {kind}=regularizer)(user_id)",
             f"    q = keras.layers.Embedding({movie_rows}, embedding_dim{q_regularizer})(movie_id)",
             f"    prediction = {dot}",
             "    if use_biases:" if not always_biases else "    if True:",
             f"        b_u = keras.layers.Embedding(num_users, 1, embeddings_initializer={bias_init}{bias_regularizer})(user_id)",
             f"        b_i = keras.layers.Embedding(num_movies, 1, embeddings_initializer={bias_init}{bias_regularizer})(movie_id)",
             "        terms = [prediction, b_u, b_i]"]
    if global_bias:
        lines.append(f"        terms.append(keras.layers.Embedding(1, 1, embeddings_initializer={bias_init}{bias_regularizer}, "
                     f"trainable={global_trainable})(keras.ops.zeros_like(user_id)))")
    lines.append("        prediction = keras.layers.Add()(terms)")
    if reshape:
        lines.append("    prediction = keras.layers.Reshape(())(prediction)")
    lines.append('    return keras.Model({"user_id": user_id, "movie_id": movie_id}, prediction)')
    return _MF_HEAD + "\n".join(lines) + "\n"


MF_NO_GLOBAL = _mf(global_bias=False, doc="No global bias.")
MF_FROZEN_GLOBAL = _mf(global_trainable=False, doc="A global bias that never trains.")
MF_COLUMN = _mf(reshape=False, doc="Output [batch, 1].")
MF_L2_BIASES = _mf(regularize_biases=True, doc="The biases penalized too.")
MF_L2_ACTIVITY = _mf(activity=True, doc="activity_regularizer: only the rows of a batch, after a call.")
MF_L2_USERS_ONLY = _mf(only_users=True, doc="Only the user table penalized.")
MF_RANDOM_BIASES = _mf(bias_init='"uniform"', doc="Biases start at random values.")
MF_LAMBDA = _mf(dot="keras.layers.Lambda(lambda pair: keras.ops.sum(pair[0] * pair[1], axis=1, keepdims=True))([p, q])",
                doc="A Lambda layer: does not load back without safe_mode=False.")
MF_ALWAYS_BIASES = _mf(always_biases=True, doc="use_biases ignored.")
MF_SUM = _mf(dot="keras.ops.sum(keras.layers.Add()([p, q]), axis=1, keepdims=True)", doc="Sum instead of dot product.")
MF_SWAPPED = _mf(user_rows="num_movies", movie_rows="num_users", doc="The tables' sizes swapped.")
MF_CONSTANT_GLOBAL = _MF_HEAD + '''    """The global bias as a constant 3.5."""
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    p = keras.layers.Embedding(num_users, embedding_dim, embeddings_regularizer=regularizer)(user_id)
    q = keras.layers.Embedding(num_movies, embedding_dim, embeddings_regularizer=regularizer)(movie_id)
    prediction = keras.layers.Dot(axes=1)([p, q])
    if use_biases:
        b_u = keras.layers.Embedding(num_users, 1, embeddings_initializer="zeros")(user_id)
        b_i = keras.layers.Embedding(num_movies, 1, embeddings_initializer="zeros")(movie_id)
        prediction = keras.layers.Add()([prediction, b_u, b_i]) + 3.5
    return keras.Model({"user_id": user_id, "movie_id": movie_id}, keras.layers.Reshape(())(prediction))
'''

SPLIT = Exercise("split_by_time", "ratings, holdout_per_user=1", "ratings, holdout_per_user",
                 library=("recsys_course.splits.split_by_time",))
MODEL = Exercise("build_keras_mf", "num_users, num_movies, embedding_dim=32, use_biases=True, l2=0.0",
                 "num_users, num_movies, embedding_dim, use_biases, l2",
                 library=("recsys_course.keras_mf.build_keras_mf",))


S = "split_by_time_solution"
M = "build_keras_mf_solution"
SPLIT_HIDDEN = ("split_by_time_hidden_most_recent split_by_time_hidden_ties split_by_time_hidden_short_histories "
                "split_by_time_hidden_parts_and_input")
MF_HIDDEN = ("build_keras_mf_hidden_prediction build_keras_mf_hidden_output_shape build_keras_mf_hidden_without_biases "
             "build_keras_mf_hidden_parameter_count build_keras_mf_hidden_biases_start_at_zero "
             "build_keras_mf_hidden_l2_penalty build_keras_mf_hidden_save_and_load")

# Graded by the real test: a wrong split and a wrong model share a notebook (independent exercises).
CASES = [
    Case({S: SPLIT_POSITION_SORT, M: MF_OPS}, "sort by (time, position); keras.ops model"),
    Case({S: SPLIT_UNSTABLE, M: MF_COLUMN}, "unstable sort; output [batch, 1]",
         lost="split_by_time_hidden_ties build_keras_mf_visible_format build_keras_mf_hidden_output_shape"),
    Case({S: SPLIT_NO_SHORT_RULE, M: MF_L2_ACTIVITY}, "short histories all in test; L2 as an activity regularizer",
         lost="split_by_time_hidden_short_histories build_keras_mf_hidden_l2_penalty"),
    Case({S: SPLIT_IN_PLACE, M: MF_LAMBDA}, "sorts the input in place; a Lambda layer",
         lost="split_by_time_hidden_parts_and_input build_keras_mf_hidden_save_and_load"),
    Case({S: SPLIT_OLDEST, M: MF_ALWAYS_BIASES}, "oldest held out; use_biases ignored",
         lost=SPLIT_HIDDEN + " build_keras_mf_hidden_without_biases"),
    Case({M: MF_NO_GLOBAL}, "no global bias", lost="build_keras_mf_hidden_prediction "
         "build_keras_mf_hidden_parameter_count build_keras_mf_hidden_biases_start_at_zero"),
    Case({M: MF_RANDOM_BIASES}, "biases start at random", lost="build_keras_mf_hidden_biases_start_at_zero"),
]

# Every cell of both exercises fails under the guard (the visible checks end with a hidden guard block).
DELEGATED, MORE_DELEGATED = delegation_cases(9, SPLIT, MODEL, what="both handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(SPLIT, MODEL, value="0"), "both return 0", lost="*", pending="values_before_structure"),
    Case(constant(SPLIT, MODEL, value="None"), "both return None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    Case({S: SPLIT_LOOP, M: MF_FLATTEN}, "a loop with lexsort; Dot(axes=-1) and a reshape op"),
    Case({S: SPLIT_TAIL}, "stable sort and groupby tail"),
    Case({S: SPLIT_OLDEST}, "oldest held out", lost=SPLIT_HIDDEN),
    Case({S: SPLIT_UNSTABLE}, "unstable sort", lost="split_by_time_hidden_ties"),
    Case({S: SPLIT_FIRST_TIE}, "ties: the earlier row counts as newer", lost="split_by_time_hidden_ties"),
    Case({S: SPLIT_NO_SHORT_RULE}, "short histories all in test", lost="split_by_time_hidden_short_histories"),
    Case({S: SPLIT_OFF_BY_ONE}, ">= instead of >", lost="split_by_time_hidden_short_histories"),
    Case({S: SPLIT_GLOBAL_CUT}, "one cut in time for all", lost=SPLIT_HIDDEN),
    Case({S: SPLIT_IN_PLACE}, "sorts the input in place", lost="split_by_time_hidden_parts_and_input"),
    Case({S: SPLIT_FOUR_COLUMNS}, "drops other columns", lost="split_by_time_hidden_parts_and_input"),
    Case({S: SPLIT_SWAPPED}, "(test, train)", lost=SPLIT_HIDDEN),
    Case({M: MF_FROZEN_GLOBAL}, "global bias not trainable", lost="build_keras_mf_hidden_biases_start_at_zero"),
    Case({M: MF_CONSTANT_GLOBAL}, "global bias a constant 3.5",
         lost=MF_HIDDEN.replace("build_keras_mf_hidden_without_biases ", "")),
    Case({M: MF_COLUMN}, "output [batch, 1]", lost="build_keras_mf_visible_format build_keras_mf_hidden_output_shape"),
    Case({M: MF_L2_BIASES}, "L2 on the biases too", lost="build_keras_mf_hidden_l2_penalty"),
    Case({M: MF_L2_ACTIVITY}, "L2 as an activity regularizer", lost="build_keras_mf_hidden_l2_penalty"),
    Case({M: MF_L2_USERS_ONLY}, "L2 on the user table only", lost="build_keras_mf_hidden_l2_penalty"),
    Case({M: MF_LAMBDA}, "a Lambda layer", lost="build_keras_mf_hidden_save_and_load"),
    Case({M: MF_ALWAYS_BIASES}, "use_biases ignored", lost="build_keras_mf_hidden_without_biases"),
    Case({M: MF_SUM}, "sum instead of dot product", lost=MF_HIDDEN),
    Case({M: MF_SWAPPED}, "table sizes swapped", lost="build_keras_mf"),
    *MORE_DELEGATED,
]
