"""grader.library_versions: an answer that copies the library's source is recognised, renamed or not."""

from __future__ import annotations

import ast
import textwrap

import pytest

from grader.cells import exercise_of
from grader.library_versions import LIBRARY_VERSIONS, _module_file, copied_from, library_fingerprint

LIBRARY_GRAVITY = "recsys_course.regularization.gravity"


def _library_source(dotted: str) -> str:
    module, _, name = dotted.rpartition(".")
    tree = ast.parse(_module_file(module).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(_module_file(module).read_text(), node)


@pytest.mark.parametrize("exercise", sorted(LIBRARY_VERSIONS))
def test_every_mapped_library_function_exists_and_its_copy_is_found(exercise):
    dotted = LIBRARY_VERSIONS[exercise]
    assert library_fingerprint(dotted) is not None, f"{dotted} not found in the library's source"
    copy = _library_source(dotted).replace(f"def {dotted.rsplit('.', 1)[1]}(", f"def {exercise}(", 1)
    assert copied_from(copy, exercise) == dotted


def test_a_copy_with_renamed_variables_no_docstring_and_other_layout_is_found():
    copy = textwrap.dedent('''
        import tensorflow as tf

        def gravity(users, movies):
            # copied, then tidied
            users, movies = tf.convert_to_tensor(users), tf.convert_to_tensor(movies)
            a = tf.matmul(users, users, transpose_a=True)
            b = tf.matmul(movies,
                          movies, transpose_a=True)
            return tf.reduce_sum(a * b) / (_num_rows(users) * _num_rows(movies))
        ''')
    assert copied_from(copy, "gravity") == LIBRARY_GRAVITY


def test_an_answer_of_ones_own_is_not_flagged():
    own = textwrap.dedent('''
        def gravity(U, V):
            return tf.reduce_mean(tf.square(tf.matmul(U, V, transpose_b=True)))
        ''')
    assert copied_from(own, "gravity") is None
    assert copied_from("def gravity(U, V):\n    raise NotImplementedError()", "gravity") is None
    assert copied_from("not python (", "gravity") is None
    assert copied_from("def movie_rating_stats(r):\n    return r", "movie_rating_stats") is None  # no library version


def test_a_changed_computation_is_not_a_copy():
    original = _library_source(LIBRARY_GRAVITY)
    changed = original.replace("transpose_a=True)   # [d, d]", "transpose_b=True)")
    assert changed != original
    assert copied_from(changed, "gravity") is None


def test_the_map_names_exercises_of_notebooks_1_to_7():
    assert {"split_dataframe", "build_rating_sparse_tensor", "sparse_mean_square_error", "compute_scores",
            "gravity", "softmax_loss"} <= set(LIBRARY_VERSIONS)
    assert LIBRARY_VERSIONS["sparse_mean_square_error"] == "recsys_course.losses.observed_mse"
    assert exercise_of("gravity_solution") == "gravity"


def test_the_library_is_read_not_imported():
    import sys

    library_fingerprint.cache_clear()
    before = set(sys.modules)
    library_fingerprint(LIBRARY_GRAVITY)
    assert not {m for m in set(sys.modules) - before if m.startswith(("recsys_course", "tensorflow"))}


def test_no_reference_solution_is_flagged():
    """The course's own answers are written for the notebook, not copied: a student who writes
    the reference answer is not sent to review."""
    from pathlib import Path

    import nbformat

    from grader.grade_one import library_copies

    flagged = {}
    for path in sorted(Path(__file__).resolve().parent.parent.glob("solutions/*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            cell.source = "\n".join(line for line in cell.source.splitlines()
                                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
        if copies := library_copies(notebook):
            flagged[path.stem] = copies
    assert not flagged
