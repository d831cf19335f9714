"""The grader's own cases, on notebooks 1-7: broken files, hostile code, the rest of the class.

These test the grader (repair, sandbox, limits, tampering), not a notebook's
hidden tests, so they stay on the seven notebooks they were written for; a new
notebook adds nothing here (its cases go to its ``answers_NN.py``).

- BROKEN: what LMS exports contain: not JSON, truncated, nbformat 3, cells
  deleted, duplicated, reordered or turned into markdown, metadata stripped
  (Colab), a graded cell duplicated, visible tests edited, renamed files;
- HOSTILE: an endless loop, a memory bomb, ``os._exit``, gigantic outputs,
  stderr from an honest answer, monkeypatching what tests compare with,
  an always-equal object, reading the solutions or the gradebook from disk;
- the rest of the class of 20 hands in the reference or another correct route
  (each module's ``OTHER_ROUTE``), with gaps (:data:`MISSING`: ``not_submitted``).
"""

from __future__ import annotations

from .answers_03 import MSE_SUM
from .answers_05 import SCORES_TF
from .cases import ASSIGNMENTS, Case, answer_modules
from .notebooks import (
    delete_cells, duplicate_cell, edit_answer, edit_visible_test, exercise_ids, gigantic_outputs, move_cell,
    solved, source_path, strip_metadata, to_bytes, to_markdown, to_v3, with_answers,
)

A1, A2, A3, A4, A5, A6, A7 = CLASS_ASSIGNMENTS = (
    "01_exploring_movielens", "02_sparse_rating_matrix", "03_measuring_error", "04_matrix_factorization",
    "05_inspecting_embeddings", "06_regularization", "07_softmax_model",
)
CLASS_STUDENTS = [f"s{i:02d}" for i in range(1, 21)]
MSE = "sparse_mean_square_error"

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


def _notebook(make) -> callable:
    return lambda: to_bytes(make())


def class_cases() -> list[Case]:
    """Broken files (s09-s13) and hostile code (s13-s18), each for a named student."""
    def case(student, assignment, make, what, status="graded", **expected) -> Case:
        return Case(make, what, status=status, student=student, assignment=assignment, **expected)

    return [
        # s09-s13: broken files (what LMS exports and Colab do to notebooks).
        case("s09", A1, lambda: b"this is not a notebook\n", "not JSON", "unreadable"),
        case("s09", A2, lambda: to_bytes(solved(A2))[:5000], "truncated", "unreadable"),
        case("s09", A3, lambda: to_v3(solved(A3)), "nbformat 3", "repaired"),
        case("s10", A1, _notebook(lambda: delete_cells(solved(A1), "split_dataframe_visible_format", "nb01_top_md",
                                                       "movie_rating_stats_hidden_counts")),
             "cells deleted", "repaired"),
        case("s10", A2, _notebook(lambda: duplicate_cell(solved(A2), "nb02_toy", keep_metadata=False)),
             "a plain cell duplicated"),
        case("s10", A3, _notebook(lambda: move_cell(solved(A3), f"{MSE}_hidden_values", f"{MSE}_hidden_scalar_float32")),
             "cells reordered", "repaired"),
        case("s10", A4, _notebook(lambda: to_markdown(solved(A4), "build_model_solution")),
             "answer cell turned into markdown", "repaired"),
        Case(_notebook(lambda: strip_metadata(solved(A1))), "metadata stripped (Colab)", status="repaired",
             student="s11", assignment=A1, file_name=f"Copy of {A1}.ipynb"),
        case("s11", A5, _notebook(lambda: strip_metadata(with_answers(solved(A5), {"compute_scores_solution": SCORES_TF}))),
             "metadata stripped, other route", "repaired"),
        case("s11", A3, _notebook(lambda: duplicate_cell(solved(A3), f"{MSE}_solution")),
             "graded cell duplicated with its metadata", "repaired"),
        case("s12", A3, _notebook(lambda: edit_visible_test(with_answers(solved(A3), {f"{MSE}_solution": MSE_SUM}),
                                                            f"{MSE}_visible_format")),
             "visible test emptied (restored), sum instead of mean", "repaired",
             lost=f"{MSE}_hidden_values {MSE}_hidden_mean_of_squares {MSE}_hidden_gradient_values {MSE}_hidden_scalar_float32"),
        Case(_notebook(lambda: solved(A6)), "renamed (1)", student="s12", assignment=A6, file_name=f"{A6} (1).ipynb"),
        Case(_notebook(lambda: solved(A7)), "renamed Copy of", student="s12", assignment=A7,
             file_name=f"Copy of {A7}.ipynb"),
        case("s13", A6, _notebook(lambda: duplicate_cell(solved(A6), "gravity_hidden_values")),
             "hidden test cell duplicated", "repaired"),
        case("s13", A4, _notebook(lambda: gigantic_outputs(edit_answer(solved(A4), "build_model_solution",
                                                                       lambda s: PRINT_FLOOD + s))),
             "gigantic outputs (24 MB saved, 100k lines printed)"),

        # s14-s18: hostile code.
        case("s14", A1, _notebook(lambda: with_answers(solved(A1), {"split_dataframe_solution": ENDLESS})),
             "endless loop in exercise 2", "cell_timeout", kept=exercise_ids(A1, "movie_rating_stats")),
        case("s14", A2, _notebook(lambda: edit_answer(solved(A2), "build_rating_sparse_tensor_solution",
                                                      lambda s: MEMORY_BOMB + s)),
             "memory bomb", "memory_limit", lost="*"),
        case("s15", A1, _notebook(lambda: edit_answer(solved(A1), "split_dataframe_solution", lambda s: s + EXIT)),
             "os._exit in exercise 2", "kernel_died", kept=exercise_ids(A1, "movie_rating_stats")),
        case("s15", A3, _notebook(lambda: edit_answer(solved(A3), f"{MSE}_solution", lambda s: PATCH_ALLCLOSE + s)),
             "numpy.allclose replaced", "tampering_detected", lost="*"),
        case("s16", A5, _notebook(lambda: edit_answer(solved(A5), "compute_scores_solution",
                                                      lambda s: PATCH_BUILTINS + s)),
             "builtins replaced", "tampering_detected", lost="*"),
        case("s16", A3, _notebook(lambda: with_answers(solved(A3), {f"{MSE}_solution": ALWAYS_EQUAL})),
             "always-equal object", lost="*"),
        case("s17", A3, _notebook(lambda: with_answers(solved(A3), {f"{MSE}_solution": STEAL % {"solution": str(source_path(A3))}})),
             "reads solutions and gradebook from disk (finds nothing: returns 0.0)",
             kept=f"{MSE}_visible_format"),  # a scalar float32 passes the format check
        case("s17", A6, _notebook(lambda: edit_answer(
            solved(A6), "gravity_solution",
            lambda s: s.replace('"""\n', '"""\n    ' + "import warnings; warnings.warn('honest')\n", 1)
            + "\n" + STDERR_WARNING)),
             "stderr from an honest answer"),
        case("s18", A7, _notebook(lambda: edit_answer(solved(A7), "softmax_loss_solution", lambda s: s + EXIT)),
             "os._exit in exercise 1", "kernel_died", lost="*"),
    ]


# Notebooks the class does not hand in (not_submitted); also spares the test's time.
MISSING = {("s07", A1), ("s08", A2), ("s09", A7), ("s10", A6), ("s11", A2), ("s13", A5),
           ("s15", A4), ("s17", A5), ("s18", A1), ("s19", A3), ("s19", A6), ("s20", A2), ("s20", A7),
           ("s16", A6), ("s14", A7), ("s12", A4),
           # fewer correct notebooks keep the test within its CI budget
           ("s19", A1), ("s19", A4), ("s20", A4), ("s20", A5), ("s08", A4), ("s08", A6), ("s07", A2),
           ("s07", A5), ("s16", A1), ("s18", A3)}


def fill_the_class(table: dict, put) -> None:
    """Every other notebook of s01-s20 on notebooks 1-7: the reference or the module's OTHER_ROUTE."""
    modules = answer_modules()
    for index, student in enumerate(CLASS_STUDENTS):
        for position, assignment in enumerate(CLASS_ASSIGNMENTS):
            if assignment not in ASSIGNMENTS or (student, assignment) in table or (student, assignment) in MISSING:
                continue
            other = getattr(modules.get(assignment), "OTHER_ROUTE", None)
            if (index + position) % 2 or not other:
                case = Case(_notebook(lambda a=assignment: solved(a)), "reference", assignment=assignment)
            else:
                case = Case(other, "other route", assignment=assignment)
            put(student, case)
