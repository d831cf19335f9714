"""A class of 20 synthetic students x 7 notebooks, built from the release and solution notebooks.

Used by ``tests/test_grade_series.py`` (the done-when test of the grader) and
``benchmarks/bench_grading.py``. :func:`build_corpus` writes one folder per
student (the layout ``grade`` reads) and returns what the grade sheet must
say for every student x notebook: the status and the exact points.

The cases:

- CORRECT: the reference solution, and other correct routes per exercise
  (dense or gather, NumPy or TensorFlow, Keras losses...): full marks;
- WRONG: answers a careless student would plausibly write (sum instead of
  mean, forgetting to square, swapping users and movies, cosine without
  normalising the query, normalising along the wrong axis, gravity without
  1/(MN) or as the square of a mean, softmax before a from-logits loss,
  sigmoid instead of softmax...): each loses exactly the points of the
  behaviours it gets wrong, named by grade_id;
- BROKEN: what LMS exports contain: not JSON, truncated, nbformat 3, cells
  deleted, duplicated, reordered or turned into markdown, metadata stripped
  (Colab), a graded cell duplicated, visible tests edited, renamed files;
- HOSTILE: an endless loop, a memory bomb, ``os._exit``, gigantic outputs,
  stderr from an honest answer, monkeypatching what tests compare with,
  an always-equal object, reading the solutions or the gradebook from disk;
- the untouched release: 0 on every test cell;
- missing notebooks (``not_submitted``).

Points are never written by hand: they are the sums of the source
notebook's points, minus the points of the test cells a case names.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.nbgrader_helpers import REPO_ROOT, fill_in_solutions

A1, A2, A3, A4, A5, A6, A7 = ASSIGNMENTS = (
    "01_exploring_movielens", "02_sparse_rating_matrix", "03_measuring_error", "04_matrix_factorization",
    "05_inspecting_embeddings", "06_regularization", "07_softmax_model",
)
STUDENTS = [f"s{i:02d}" for i in range(1, 21)]

# Settings the corpus is calibrated for (an endless loop costs CELL_TIMEOUT seconds).
CELL_TIMEOUT = 60
NOTEBOOK_TIMEOUT = 240
MEMORY_MB = 2500


def source_path(assignment: str) -> Path:
    return REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str) -> Path:
    return REPO_ROOT / "notebooks" / assignment / f"{assignment}.ipynb"


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def points(assignment: str) -> dict[str, float]:
    """grade_id -> points of every graded cell of the source."""
    result = {}
    for cell in read(source_path(assignment)).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            result[meta["grade_id"]] = float(meta.get("points", 0))
    return result


def exercise_ids(assignment: str, exercise: str) -> set[str]:
    """grade_ids of an exercise's test cells (``split_dataframe`` -> its visible and hidden tests)."""
    return {g for g in points(assignment) if g.startswith(exercise + "_")}


# --- Building notebooks --------------------------------------------------------------


def solved(assignment: str) -> NotebookNode:
    """The release with the reference solution in every answer cell."""
    return fill_in_solutions(read(release_path(assignment)), read(source_path(assignment)))


def with_answers(notebook: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """A copy whose answer cells named by grade_id (``split_dataframe_solution``) get new sources."""
    changed = copy.deepcopy(notebook)
    found = set()
    for cell in changed.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers and cell.metadata.nbgrader.get("solution"):
            cell.source = answers[grade_id]
            found.add(grade_id)
    missing = set(answers) - found
    assert not missing, f"no answer cells {missing}"
    return changed


def edit_answer(notebook: NotebookNode, grade_id: str, edit: Callable[[str], str]) -> NotebookNode:
    source = next(c.source for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    return with_answers(notebook, {grade_id: edit(source)})


def index_of(notebook: NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook.cells)
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def to_bytes(notebook: NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode()


# --- Answers -------------------------------------------------------------------------
# Each: the whole answer cell (signature included), as a student would write it.

STATS_UNIQUE = '''
def movie_rating_stats(ratings):
    """Counts and means with np.unique and np.bincount."""
    ids, inverse, counts = np.unique(ratings["movie_id"].to_numpy(), return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ratings["rating"].to_numpy(dtype=float))
    return pd.DataFrame({"rating_count": counts.astype("int64"), "rating_mean": sums / counts},
                        index=pd.Index(ids, name="movie_id"))
'''
STATS_SIZE = '''
def movie_rating_stats(ratings):
    by_movie = ratings.groupby("movie_id")["rating"]
    return pd.DataFrame({"rating_count": by_movie.size(), "rating_mean": by_movie.mean().astype(float)})
'''
STATS_SUM = '''
def movie_rating_stats(ratings):
    by_movie = ratings.groupby("movie_id")["rating"]
    return pd.DataFrame({"rating_count": by_movie.size(), "rating_mean": by_movie.sum().astype(float)})
'''
SPLIT_PERMUTATION = '''
def split_dataframe(df, holdout_fraction=0.1, seed=42):
    if not 0 <= holdout_fraction <= 1:
        raise ValueError("holdout_fraction must be in [0, 1]")
    order = np.random.RandomState(seed).permutation(len(df))
    num_test = int(round(holdout_fraction * len(df)))
    return df.iloc[np.sort(order[num_test:])], df.iloc[np.sort(order[:num_test])]
'''
SPLIT_SWAPPED = '''
def split_dataframe(df, holdout_fraction=0.1, seed=42):
    """Returns (test, train): the pair the wrong way round."""
    if not 0 <= holdout_fraction <= 1:
        raise ValueError("holdout_fraction must be in [0, 1]")
    rng = np.random.default_rng(seed)
    in_test = np.zeros(len(df), dtype=bool)
    in_test[rng.choice(len(df), size=round(holdout_fraction * len(df)), replace=False)] = True
    return df.iloc[in_test], df.iloc[~in_test]
'''
SPARSE_STACK = '''
def build_rating_sparse_tensor(ratings_df, num_users, num_movies):
    indices = np.stack([ratings_df["user_id"].to_numpy(), ratings_df["movie_id"].to_numpy()], axis=1)
    matrix = tf.SparseTensor(indices=tf.constant(indices, tf.int64),
                             values=tf.constant(ratings_df["rating"].to_numpy(), tf.float32),
                             dense_shape=[num_users, num_movies])
    return tf.sparse.reorder(matrix)
'''
SPARSE_SWAPPED = '''
def build_rating_sparse_tensor(ratings_df, num_users, num_movies):
    indices = ratings_df[["movie_id", "user_id"]].to_numpy(dtype=np.int64)
    values = ratings_df["rating"].to_numpy(dtype=np.float32)
    return tf.SparseTensor(indices=indices, values=values, dense_shape=[num_movies, num_users])
'''
SPARSE_FLOAT64 = '''
def build_rating_sparse_tensor(ratings_df, num_users, num_movies):
    indices = ratings_df[["user_id", "movie_id"]].to_numpy(dtype=np.int64)
    values = ratings_df["rating"].to_numpy(dtype=np.float64)
    return tf.SparseTensor(indices=indices, values=values, dense_shape=[num_users, num_movies])
'''
MSE_DENSE_KERAS = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    """The dense route: every prediction, then the observed ones."""
    all_predictions = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    predictions = tf.gather_nd(all_predictions, sparse_ratings.indices)
    return tf.keras.losses.MeanSquaredError()(sparse_ratings.values, predictions)
'''
MSE_EINSUM = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users = tf.gather(user_embeddings, sparse_ratings.indices[:, 0])
    movies = tf.gather(movie_embeddings, sparse_ratings.indices[:, 1])
    errors = sparse_ratings.values - tf.einsum("nd,nd->n", users, movies)
    return tf.reduce_sum(errors * errors) / tf.cast(tf.size(errors), tf.float32)
'''
MSE_SUM = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_sum(tf.square(predictions - sparse_ratings.values))
'''
MSE_NO_SQUARE = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_mean(tf.abs(sparse_ratings.values - predictions))
'''
MSE_SWAPPED = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 1], sparse_ratings.indices[:, 0]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_mean(tf.square(sparse_ratings.values - predictions))
'''
MSE_ALL_CELLS = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    """Mean over every cell, the unrated ones (zeros) too."""
    dense = tf.sparse.to_dense(tf.sparse.reorder(sparse_ratings))
    return tf.reduce_mean(tf.square(dense - tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)))
'''
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

# --- Hostile code ----------------------------------------------------------------------

ENDLESS = "while True:\n    pass\n"
MEMORY_BOMB = "hog = bytearray(3 * 1024**3)\nhog[::4096] = b'1' * len(hog[::4096])\n"
EXIT = "\nimport os\nos._exit(0)\n"
PATCH_ALLCLOSE = "import numpy\nnumpy.allclose = lambda *args, **kwargs: True\n"
PATCH_BUILTINS = "import builtins\nbuiltins.abs = lambda value: 0  # every tolerance check passes\n"
PRINT_FLOOD = "for _line in range(100_000):\n    print('flood', _line)\n"
STDERR_WARNING = "import sys, warnings\nwarnings.warn('an honest warning on stderr')\nprint('progress: 100%', file=sys.stderr)\n"
ALWAYS_EQUAL = '''
class _Anything(float):
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
    def __getattr__(self, name):
        return lambda *args, **kwargs: self

def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    return _Anything(0.0)
'''
# Uses the instructor's solution if the sandbox lets it find one: in the
# repository, in its own copy of the course, in the copies of the notebooks
# graded at the same time, in the grading folder; else gives up (returns 0.0).
STEAL = '''
import glob, json, os
_found, _folder = [%(solution)r], os.getcwd()
for _level in range(8):
    for _pattern in ("solutions/*/*.ipynb", "*/solutions/*/*.ipynb", "*/*/solutions/*/*.ipynb",
                     "gradebook.db", "*/gradebook.db", "*/*/gradebook.db", ".courses/*/course/solutions/*/*.ipynb"):
        _found += glob.glob(os.path.join(_folder, _pattern))
    _folder = os.path.dirname(_folder)
_found += glob.glob("/tmp/grade-*/**/solutions/*/*.ipynb", recursive=True)
_found += glob.glob("/tmp/grade-*/**/gradebook.db", recursive=True)
for _path in _found:
    try:
        if _path.endswith(".db"):
            _cells = open(_path, "rb").read().decode("utf-8", "replace")
            exec(_cells[_cells.index("def sparse_mean_square_error"):].split("### END SOLUTION")[0])
        else:
            exec(next("".join(c["source"]) for c in json.load(open(_path))["cells"]
                      if "def sparse_mean_square_error" in "".join(c["source"])))
        break
    except Exception:
        continue
else:
    def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
        return tf.constant(0.0)
'''


# --- Damage ------------------------------------------------------------------------------


def strip_metadata(notebook: NotebookNode) -> NotebookNode:
    """As Colab saves it: no cell metadata at all."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        cell.metadata = {}
    return changed


def delete_cells(notebook: NotebookNode, *grade_ids: str) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    changed.cells = [c for c in changed.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in grade_ids]
    return changed


def duplicate_cell(notebook: NotebookNode, grade_id: str, keep_metadata: bool = True) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    index = index_of(changed, grade_id)
    twin = copy.deepcopy(changed.cells[index])
    twin["id"] = f"{twin.get('id', 'cell')[:58]}-copy"  # a copy gets a new cell id, as Jupyter does
    if not keep_metadata:
        twin.metadata = {}
    changed.cells.insert(index + 1, twin)
    return changed


def move_cell(notebook: NotebookNode, grade_id: str, before: str) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    cell = changed.cells.pop(index_of(changed, grade_id))
    changed.cells.insert(index_of(changed, before), cell)
    return changed


def to_markdown(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    cell = changed.cells[index_of(changed, grade_id)]
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)
    return changed


def edit_visible_test(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    """The student "fixes" a failing visible test by emptying it."""
    changed = copy.deepcopy(notebook)
    changed.cells[index_of(changed, grade_id)].source = "# this test was wrong\npass\n"
    return changed


def gigantic_outputs(notebook: NotebookNode, megabytes: int = 24) -> NotebookNode:
    """Outputs saved in the file (``megabytes`` in all, spread over the code cells)."""
    changed = copy.deepcopy(notebook)
    code = [cell for cell in changed.cells if cell.cell_type == "code"]
    line = "x" * 1023 + "\n"
    for cell in code:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=line * (megabytes * 1024 // len(code)))]
    return changed


def to_v3(notebook: NotebookNode) -> bytes:
    return nbformat.writes(nbformat.convert(copy.deepcopy(notebook), 3), version=3).encode()


# --- The class ----------------------------------------------------------------------------


@dataclass
class Case:
    """One notebook of one student and what the sheet must say about it."""

    assignment: str
    make: Callable[[], bytes]  # the file's bytes
    status: str = "graded"
    lost: set[str] = field(default_factory=set)  # grade_ids of test cells that must score 0
    kept: set[str] | None = None  # if set: only these score (everything else 0)
    file_name: str | None = None  # default: <assignment>.ipynb
    what: str = ""

    def expected_points(self) -> float:
        table = points(self.assignment)
        unknown = (self.lost | (self.kept or set())) - set(table)
        assert not unknown, f"{self.what}: unknown grade_ids {unknown}"
        if self.status in ("unreadable", "wrong_notebook"):
            return 0.0
        if self.kept is not None:
            return sum(table[g] for g in self.kept)
        return sum(p for g, p in table.items() if g not in self.lost)


def answer(assignment: str, answers: dict[str, str]) -> Callable[[], bytes]:
    return lambda: to_bytes(with_answers(solved(assignment), answers))


def reference(assignment: str) -> Callable[[], bytes]:
    return lambda: to_bytes(solved(assignment))


def untouched(assignment: str) -> Callable[[], bytes]:
    return lambda: release_path(assignment).read_bytes()


def all_tests(assignment: str) -> set[str]:
    return set(points(assignment))


def cases() -> dict[tuple[str, str], Case]:
    """(student, assignment) -> Case, for the 20 students (missing notebooks are absent)."""
    C: dict[tuple[str, str], Case] = {}

    def put(student: str, case: Case) -> None:
        assert (student, case.assignment) not in C
        C[(student, case.assignment)] = case

    mse = "sparse_mean_square_error"
    # s01: the reference solution everywhere; s02: the untouched release everywhere.
    for a in ASSIGNMENTS:
        put("s01", Case(a, reference(a), what="reference solution"))
        put("s02", Case(a, untouched(a), lost=all_tests(a), what="untouched release"))

    # s03, s04: other correct routes.
    put("s03", Case(A1, answer(A1, {"movie_rating_stats_solution": STATS_UNIQUE,
                                    "split_dataframe_solution": SPLIT_PERMUTATION}), what="np.unique, permutation"))
    put("s04", Case(A1, answer(A1, {"movie_rating_stats_solution": STATS_SIZE}), what="groupby size"))
    put("s03", Case(A2, answer(A2, {"build_rating_sparse_tensor_solution": SPARSE_STACK}), what="stack + reorder"))
    put("s03", Case(A3, answer(A3, {f"{mse}_solution": MSE_DENSE_KERAS}), what="dense route, Keras MSE"))
    put("s04", Case(A3, answer(A3, {f"{mse}_solution": MSE_EINSUM}), what="einsum, sum / size"))
    put("s03", Case(A4, answer(A4, {"build_model_solution": MODEL_LAMBDAS}), what="lambdas"))
    put("s03", Case(A5, answer(A5, {"compute_scores_solution": SCORES_TF}), what="TensorFlow ops"))
    put("s03", Case(A6, answer(A6, {"gravity_solution": GRAVITY_ONE_LINE}), what="gravity in one line"))
    put("s03", Case(A7, answer(A7, {"softmax_loss_solution": SOFTMAX_LOGSUMEXP}), what="logsumexp"))
    put("s04", Case(A7, answer(A7, {"softmax_loss_solution": SOFTMAX_KERAS}), what="Keras from_logits"))

    # s05-s08: plausible wrong answers.
    put("s05", Case(A1, answer(A1, {"movie_rating_stats_solution": STATS_SUM}), what="sum instead of mean",
                    lost={"movie_rating_stats_hidden_means"}))
    put("s06", Case(A1, answer(A1, {"split_dataframe_solution": SPLIT_SWAPPED}), what="(test, train) swapped",
                    lost={"split_dataframe_hidden_sizes", "split_dataframe_hidden_edge_fractions"}))
    put("s05", Case(A2, answer(A2, {"build_rating_sparse_tensor_solution": SPARSE_SWAPPED}),
                    what="users and movies swapped",
                    lost={"build_rating_sparse_tensor_visible_format", "build_rating_sparse_tensor_hidden_dense_shape",
                          "build_rating_sparse_tensor_hidden_values", "build_rating_sparse_tensor_hidden_synthetic"}))
    put("s06", Case(A2, answer(A2, {"build_rating_sparse_tensor_solution": SPARSE_FLOAT64}), what="float64 values",
                    lost={"build_rating_sparse_tensor_visible_format", "build_rating_sparse_tensor_hidden_types"}))
    put("s05", Case(A3, answer(A3, {f"{mse}_solution": MSE_SUM}), what="sum instead of mean",
                    lost={f"{mse}_hidden_values", f"{mse}_hidden_mean_of_squares", f"{mse}_hidden_gradient_values"}))
    put("s06", Case(A3, answer(A3, {f"{mse}_solution": MSE_NO_SQUARE}), what="forgot to square",
                    lost={f"{mse}_hidden_values", f"{mse}_hidden_mean_of_squares", f"{mse}_hidden_gradient_values"}))
    put("s07", Case(A3, answer(A3, {f"{mse}_solution": MSE_SWAPPED}), what="users and movies swapped",
                    lost=all_tests(A3) - {f"{mse}_hidden_observed_entries_only"}))
    put("s08", Case(A3, answer(A3, {f"{mse}_solution": MSE_ALL_CELLS}), what="mean over all cells",
                    lost={f"{mse}_hidden_values", f"{mse}_hidden_observed_entries_only", f"{mse}_hidden_mean_of_squares",
                          f"{mse}_hidden_users_rows_movies_columns", f"{mse}_hidden_gradient_values"}))
    put("s05", Case(A4, answer(A4, {"build_model_solution": MODEL_FIXED_STDDEV}), what="init_stddev ignored",
                    lost={"build_model_hidden_init_stddev"}))
    put("s06", Case(A4, answer(A4, {"build_model_solution": MODEL_NO_HOLDOUT}), what="tests on the training ratings",
                    lost={"build_model_hidden_test_error_held_out", "build_model_hidden_loss_on_train_ratings"}))
    put("s05", Case(A5, answer(A5, {"compute_scores_solution": SCORES_DOT_ONLY_QUERY}),
                    what="cosine without normalising the query",
                    lost={"compute_scores_hidden_cosine_values", "compute_scores_hidden_cosine_scale_invariant",
                          "compute_scores_hidden_tensorflow_inputs"}))
    put("s06", Case(A5, answer(A5, {"compute_scores_solution": SCORES_WRONG_AXIS}),
                    what="normalised along the wrong axis",
                    lost={"compute_scores_hidden_cosine_values", "compute_scores_hidden_cosine_scale_invariant",
                          "compute_scores_hidden_tensorflow_inputs"}))
    put("s05", Case(A6, answer(A6, {"gravity_solution": GRAVITY_NO_MEAN}), what="gravity without 1/(MN)",
                    lost={"gravity_hidden_values", "gravity_hidden_mean_over_pairs", "gravity_hidden_gradient",
                          # the regularized model adds the student's gravity to its loss
                          "build_regularized_model_hidden_gravity_term", "build_regularized_model_hidden_loss_at_init",
                          "build_regularized_model_hidden_metrics", "build_regularized_model_hidden_trains"}))
    put("s06", Case(A6, answer(A6, {"gravity_solution": GRAVITY_SQUARED_MEAN}), what="gravity as the square of a mean",
                    lost={"gravity_hidden_values", "gravity_hidden_gradient", "gravity_hidden_no_n_by_m_matrix",
                          "build_regularized_model_hidden_gravity_term", "build_regularized_model_hidden_loss_at_init",
                          "build_regularized_model_hidden_metrics"}))
    put("s05", Case(A7, answer(A7, {"softmax_loss_solution": SOFTMAX_TWICE}), what="softmax before a from-logits loss",
                    lost={"softmax_loss_hidden_values", "softmax_loss_hidden_gradient", "softmax_loss_hidden_large_logits",
                          "softmax_loss_hidden_mean_over_examples", "build_softmax_model_hidden_label_held_out"}))
    put("s06", Case(A7, answer(A7, {"softmax_loss_solution": SOFTMAX_SIGMOID}), what="sigmoid instead of softmax",
                    lost={"softmax_loss_hidden_values", "softmax_loss_hidden_gradient", "softmax_loss_hidden_large_logits",
                          "softmax_loss_hidden_mean_over_examples", "build_softmax_model_hidden_loss_value"}))
    put("s07", Case(A7, answer(A7, {"softmax_loss_solution": SOFTMAX_UNSTABLE}), what="naive -log(softmax)",
                    lost={"softmax_loss_hidden_large_logits"}))

    # s09-s14: broken files (what LMS exports and Colab do to notebooks).
    put("s09", Case(A1, lambda: b"this is not a notebook\n", "unreadable", what="not JSON"))
    put("s09", Case(A2, lambda: to_bytes(solved(A2))[:5000], "unreadable", what="truncated"))
    put("s09", Case(A3, lambda: to_v3(solved(A3)), "repaired", what="nbformat 3"))
    put("s10", Case(A1, lambda: to_bytes(delete_cells(solved(A1), "split_dataframe_visible_format", "nb01_top_md",
                                                       "movie_rating_stats_hidden_counts")),
                    "repaired", what="cells deleted"))
    put("s10", Case(A2, lambda: to_bytes(duplicate_cell(solved(A2), "nb02_toy", keep_metadata=False)),
                    "graded", what="a plain cell duplicated"))
    put("s10", Case(A3, lambda: to_bytes(move_cell(solved(A3), "sparse_mean_square_error_hidden_values",
                                                    "sparse_mean_square_error_hidden_scalar_float32")),
                    "repaired", what="cells reordered"))
    put("s10", Case(A4, lambda: to_bytes(to_markdown(solved(A4), "build_model_solution")), "repaired",
                    what="answer cell turned into markdown"))
    put("s11", Case(A1, lambda: to_bytes(strip_metadata(solved(A1))), "repaired", what="metadata stripped (Colab)",
                    file_name=f"Copy of {A1}.ipynb"))
    put("s11", Case(A5, lambda: to_bytes(strip_metadata(with_answers(solved(A5), {"compute_scores_solution": SCORES_TF}))),
                    "repaired", what="metadata stripped, other route"))
    put("s11", Case(A3, lambda: to_bytes(duplicate_cell(solved(A3), f"{mse}_solution")), "repaired",
                    what="graded cell duplicated with its metadata"))
    put("s12", Case(A3, lambda: to_bytes(edit_visible_test(with_answers(solved(A3), {f"{mse}_solution": MSE_SUM}),
                                                            f"{mse}_visible_format")),
                    "repaired", what="visible test emptied (restored), sum instead of mean",
                    lost={f"{mse}_hidden_values", f"{mse}_hidden_mean_of_squares", f"{mse}_hidden_gradient_values"}))
    put("s12", Case(A6, lambda: to_bytes(solved(A6)), file_name=f"{A6} (1).ipynb", what="renamed (1)"))
    put("s12", Case(A7, lambda: to_bytes(solved(A7)), file_name=f"Copy of {A7}.ipynb", what="renamed Copy of"))
    put("s13", Case(A6, lambda: to_bytes(duplicate_cell(solved(A6), "gravity_hidden_values")), "repaired",
                    what="hidden test cell duplicated"))
    put("s13", Case(A4, lambda: to_bytes(gigantic_outputs(edit_answer(solved(A4), "build_model_solution",
                                                                      lambda s: PRINT_FLOOD + s))),
                    "graded", what="gigantic outputs (24 MB saved, 100k lines printed)"))

    # s14-s20: hostile code.
    put("s14", Case(A1, lambda: to_bytes(with_answers(solved(A1), {"split_dataframe_solution": ENDLESS})),
                    "cell_timeout", kept=exercise_ids(A1, "movie_rating_stats"), what="endless loop in exercise 2"))
    put("s14", Case(A2, lambda: to_bytes(edit_answer(solved(A2), "build_rating_sparse_tensor_solution",
                                                      lambda s: MEMORY_BOMB + s)),
                    "memory_limit", lost=all_tests(A2), what="memory bomb"))
    put("s15", Case(A1, lambda: to_bytes(edit_answer(solved(A1), "split_dataframe_solution", lambda s: s + EXIT)),
                    "kernel_died", kept=exercise_ids(A1, "movie_rating_stats"), what="os._exit in exercise 2"))
    put("s15", Case(A3, lambda: to_bytes(edit_answer(solved(A3), f"{mse}_solution", lambda s: PATCH_ALLCLOSE + s)),
                    "tampering_detected", lost=all_tests(A3), what="numpy.allclose replaced"))
    put("s16", Case(A5, lambda: to_bytes(edit_answer(solved(A5), "compute_scores_solution", lambda s: PATCH_BUILTINS + s)),
                    "tampering_detected", lost=all_tests(A5), what="builtins replaced"))
    put("s16", Case(A3, answer(A3, {f"{mse}_solution": ALWAYS_EQUAL}), what="always-equal object",
                    lost=all_tests(A3)))
    put("s17", Case(A3, answer(A3, {f"{mse}_solution": STEAL % {"solution": str(source_path(A3))}}),
                    what="reads solutions and gradebook from disk (finds nothing: returns 0.0)",
                    lost=all_tests(A3) - {f"{mse}_visible_format", f"{mse}_hidden_scalar_float32"}))
    put("s17", Case(A6, lambda: to_bytes(edit_answer(solved(A6), "gravity_solution",
                                                      lambda s: s.replace('"""\n', '"""\n    ' + "import warnings; warnings.warn('honest')\n", 1)
                                                      + "\n" + STDERR_WARNING)),
                    what="stderr from an honest answer"))
    put("s18", Case(A7, lambda: to_bytes(edit_answer(solved(A7), "softmax_loss_solution", lambda s: s + EXIT)),
                    "kernel_died", lost=all_tests(A7), what="os._exit in exercise 1"))

    # Everyone else hands in the reference or another correct route, with gaps.
    fill = {A1: answer(A1, {"movie_rating_stats_solution": STATS_SIZE, "split_dataframe_solution": SPLIT_PERMUTATION}),
            A2: answer(A2, {"build_rating_sparse_tensor_solution": SPARSE_STACK}),
            A3: answer(A3, {f"{mse}_solution": MSE_EINSUM}),
            A4: answer(A4, {"build_model_solution": MODEL_LAMBDAS}),
            A5: answer(A5, {"compute_scores_solution": SCORES_TF}),
            A6: answer(A6, {"gravity_solution": GRAVITY_ONE_LINE}),
            A7: answer(A7, {"softmax_loss_solution": SOFTMAX_LOGSUMEXP})}
    missing = {("s07", A1), ("s08", A2), ("s09", A7), ("s10", A6), ("s11", A2), ("s13", A5),
               ("s15", A4), ("s17", A5), ("s18", A1), ("s19", A3), ("s19", A6), ("s20", A2), ("s20", A7),
               ("s16", A6), ("s14", A7), ("s12", A4),
               # fewer correct notebooks keep the test within its CI budget
               ("s19", A1), ("s19", A4), ("s20", A4), ("s20", A5), ("s08", A4), ("s08", A6), ("s07", A2),
               ("s07", A5), ("s16", A1), ("s18", A3)}
    for index, student in enumerate(STUDENTS):
        for position, a in enumerate(ASSIGNMENTS):
            if (student, a) in C or (student, a) in missing:
                continue
            route = "reference" if (index + position) % 2 else "other route"
            put(student, Case(a, reference(a) if route == "reference" else fill[a], what=route))
    return C


def build_corpus(folder: Path) -> dict[tuple[str, str], Case]:
    """Write the class into ``folder/<student>/<file>``; return the cases."""
    table = cases()
    for (student, assignment), case in table.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        (folder / student / (case.file_name or f"{assignment}.ipynb")).write_bytes(case.make())
    return table


def expected_sheet(table: dict[tuple[str, str], Case]) -> dict[tuple[str, str], tuple[str, float]]:
    """(student, assignment) -> (status, points) for every student x assignment."""
    return {(s, a): (table[(s, a)].status, table[(s, a)].expected_points()) if (s, a) in table
            else ("not_submitted", 0.0) for s in STUDENTS for a in ASSIGNMENTS}
