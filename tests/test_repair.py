"""grader.repair: every way a submitted notebook arrives broken, built here with nbformat.

The release notebook below has the shape of the course's notebooks: markdown,
a locked setup cell, two answer cells with visible and hidden-style test
cells, and a manually graded markdown answer. Each test damages a student's
copy the way students (and Colab, and browsers) do, and checks the status,
the record, and that the transplant has the student's answers in the
release's cells with the release's metadata.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `grader` when pytest runs from anywhere

from grader.repair import (  # noqa: E402
    REPAIR_KINDS,
    Release,
    content_match_score,
    defined_names,
    repair_file,
    repair_submission,
)
from nbgrader.utils import compute_checksum  # noqa: E402

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

STATS_TEMPLATE = f'''def movie_rating_stats(ratings):
    """Count and mean of the ratings of each movie."""
    {STUB.replace(chr(10), chr(10) + "    ")}'''
STATS_ANSWER = '''def movie_rating_stats(ratings):
    """Count and mean of the ratings of each movie."""
    grouped = ratings.groupby("movie_id")["rating"]
    return grouped.agg(rating_count="count", rating_mean="mean")'''
STATS_HELPER_ANSWER = '''def movie_rating_stats(ratings):
    """Count and mean of the ratings of each movie."""
    return _aggregate(ratings)'''
SPLIT_TEMPLATE = f'''def split_dataframe(df, holdout_fraction=0.1, seed=0):
    """Split df into a training and a test part."""
    {STUB.replace(chr(10), chr(10) + "    ")}'''
SPLIT_ANSWER = '''def split_dataframe(df, holdout_fraction=0.1, seed=0):
    """Split df into a training and a test part."""
    test = df.sample(frac=holdout_fraction, random_state=seed)
    return df.drop(test.index), test'''
VISIBLE_TEST = 'stats = movie_rating_stats(TOY)\nassert list(stats.columns) == ["rating_count", "rating_mean"]'
HIDDEN_TEST = "assert movie_rating_stats(TOY).loc[1, 'rating_count'] == 2"
SPLIT_TEST = "train, test = split_dataframe(TOY)\nassert len(train) + len(test) == len(TOY)"
SETUP = "import pandas as pd\nTOY = pd.DataFrame({'movie_id': [1, 1, 2], 'rating': [4, 5, 3]})"


def _nbgrader(cell: NotebookNode, grade_id: str, *, grade=False, solution=False, locked=False, points=None):
    """Mark a cell as nbgrader's generate_assignment leaves it in the release."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    if locked or grade and not solution:
        cell.metadata.update(deletable=False, editable=False)
    cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    return cell


def make_release() -> NotebookNode:
    cells = [
        new_markdown_cell("# Exploring MovieLens\n\nGoals: load, describe, split."),
        _nbgrader(new_code_cell(SETUP), "setup", locked=True),
        new_markdown_cell("## Exercise 1\n\nWrite `movie_rating_stats`."),
        _nbgrader(new_code_cell(STATS_TEMPLATE), "stats_answer", solution=True),
        _nbgrader(new_code_cell(VISIBLE_TEST), "test_stats_columns", grade=True, locked=True, points=2),
        _nbgrader(new_code_cell(HIDDEN_TEST), "test_stats_values", grade=True, locked=True, points=3),
        new_markdown_cell("## Exercise 2\n\nWrite `split_dataframe`."),
        _nbgrader(new_code_cell(SPLIT_TEMPLATE), "split_answer", solution=True),
        _nbgrader(new_code_cell(SPLIT_TEST), "test_split", grade=True, locked=True, points=2),
        new_markdown_cell("## Questions\n\nWhy hold out ratings at random?"),
        _nbgrader(new_markdown_cell("YOUR ANSWER HERE"), "why_random", grade=True, solution=True, points=1),
    ]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"release-{index}"
    nbformat.validate(notebook)
    return notebook


ANSWERS = {"stats_answer": STATS_ANSWER, "split_answer": SPLIT_ANSWER, "why_random": "So the test set is unbiased."}


@pytest.fixture()
def release() -> NotebookNode:
    return make_release()


def student_copy(release: NotebookNode, answers=ANSWERS, outputs=True) -> NotebookNode:
    """A well-formed submission: the release with answers typed in, and run."""
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        if outputs and cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    return notebook


def to_bytes(notebook: NotebookNode | dict) -> bytes:
    return json.dumps(notebook, indent=1).encode()


def cell_of(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    (cell,) = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def kinds(result) -> list[str]:
    return [c.kind for c in result.changes]


def assert_gradable(result, release: NotebookNode, answers=ANSWERS) -> None:
    """The transplant: valid nbformat, the release's nbgrader cells and metadata, the answers, no outputs."""
    notebook = result.notebook
    nbformat.validate(notebook)
    graded = [c for c in notebook.cells if "nbgrader" in c.metadata]
    release_graded = [c for c in release.cells if "nbgrader" in c.metadata]
    assert [c.metadata for c in graded] == [c.metadata for c in release_graded]
    for cell, original in zip(graded, release_graded):
        assert cell.cell_type == original.cell_type
        grade_id = cell.metadata.nbgrader["grade_id"]
        if grade_id in answers:
            assert cell.source == answers[grade_id], grade_id
        else:
            assert cell.source == original.source, grade_id
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in notebook.cells if c.cell_type == "code")
    ids = [c.get("id") for c in notebook.cells]
    assert len(ids) == len(set(ids))


# --- well formed ----------------------------------------------------------------------------


def test_a_well_formed_notebook_is_ok_and_its_transplant_runs_the_same_sources(release):
    submitted = student_copy(release)
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "ok", result.describe()
    assert result.changes == []
    assert_gradable(result, release)
    # Same code, same order: the transplant is the student's notebook minus outputs.
    assert [(c.cell_type, c.source) for c in result.notebook.cells] == [
        (c.cell_type, c.source) for c in submitted.cells
    ]
    assert [n.kind for n in result.notes] == ["outputs_cleared"]
    assert result.found_fraction == 1.0


def test_the_untouched_template_keeps_its_checksum_so_nbgrader_scores_it_zero(release):
    result = repair_submission(to_bytes(student_copy(release, answers={})), release)
    assert result.status == "ok"
    cell = cell_of(result.notebook, "why_random")
    assert cell.metadata.nbgrader["checksum"] == compute_checksum(cell)


def test_repair_file_writes_the_gradable_notebook(release, tmp_path):
    (tmp_path / "in.ipynb").write_bytes(to_bytes(student_copy(release)))
    result = repair_file(tmp_path / "in.ipynb", release, tmp_path / "out" / "nb.ipynb")
    assert result.status == "ok"
    assert nbformat.read(tmp_path / "out" / "nb.ipynb", as_version=4).cells == result.notebook.cells


# --- unreadable --------------------------------------------------------------------------------


def test_truncated_json_is_unreadable_with_the_error_position(release):
    data = to_bytes(student_copy(release))
    result = repair_submission(data[: len(data) // 2], release)
    assert result.status == "unreadable"
    assert result.notebook is None
    assert "not valid JSON" in result.message and "line " in result.message and "column " in result.message
    assert f"of {len(data) // 2})" in result.message
    assert "truncated" in result.message


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", "empty file"),
        (b"%PDF-1.4 binary \xff\xfe", "not UTF-8"),
        (b'{"cells": [1, 2,, 3]}', "line 1 column 17"),
        (b'{"hello": "world"}', "not a notebook"),
        (b"[1, 2, 3]", "not a notebook"),
    ],
)
def test_other_unreadable_files_say_why(release, data, expected):
    result = repair_submission(data, release)
    assert result.status == "unreadable"
    assert expected in result.message


def test_a_utf8_bom_is_accepted(release):
    result = repair_submission(b"\xef\xbb\xbf" + to_bytes(student_copy(release)), release)
    assert result.status == "ok"


# --- old nbformat ---------------------------------------------------------------------------------


def test_nbformat_3_is_upgraded_and_recorded(release):
    """An nbformat 3 file (worksheets, `input`), as old Jupyter or a converter writes it."""
    submitted = student_copy(release, outputs=False)
    cells = []
    for cell in submitted.cells:
        v3 = {"cell_type": cell.cell_type, "metadata": dict(cell.metadata)}
        if cell.cell_type == "code":
            v3.update(input=cell.source, language="python", outputs=[], collapsed=False)
        else:
            v3["source"] = cell.source
        cells.append(v3)
    old = {"metadata": {}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": cells, "metadata": {}}]}
    result = repair_submission(to_bytes(old), release)
    assert result.status == "repaired"
    assert kinds(result) == ["upgraded"]
    assert "nbformat 3" in result.changes[0].message
    assert_gradable(result, release)


# --- metadata ---------------------------------------------------------------------------------------


def test_metadata_stripped_by_colab_is_restored(release):
    submitted = student_copy(release)
    for cell in submitted.cells:
        cell.metadata = {"id": "colab-xyz"}  # what Colab leaves
        cell.pop("id")
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "repaired"
    assert kinds(result) == ["metadata_restored"]
    assert result.changes[0].message.startswith("metadata restored for 7 cells")
    assert_gradable(result, release)


def test_altered_points_and_grade_id_the_release_values_win(release):
    submitted = student_copy(release)
    cell_of(submitted, "test_stats_columns").metadata.nbgrader["points"] = 1000
    cell_of(submitted, "test_split").metadata.nbgrader["grade_id"] = "my_test"
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "repaired"
    messages = {c.grade_id: c.message for c in result.changes}
    assert "points 1000 -> 2" in messages["test_stats_columns"]
    assert "grade_id 'my_test' -> 'test_split'" in messages["test_split"]
    assert_gradable(result, release)
    assert cell_of(result.notebook, "test_stats_columns").metadata.nbgrader["points"] == 2


def test_a_cell_copied_from_another_notebook_brings_foreign_metadata_that_is_ignored(release):
    submitted = student_copy(release)
    foreign = new_code_cell("def plot_norms(model):\n    return model")
    foreign.metadata["nbgrader"] = {"grade": False, "grade_id": "other_nb_answer", "locked": False, "solution": True, "schema_version": 3}
    submitted.cells.insert(3, foreign)
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "ok"
    assert [n.kind for n in result.notes if n.kind == "helper_carried"] == ["helper_carried"]
    carried = result.notebook.cells[3]
    assert carried.source == foreign.source and "nbgrader" not in carried.metadata


# --- cell types, insertions, deletions, duplicates, order ------------------------------------------


def test_answer_cell_turned_into_markdown_goes_back_to_code(release):
    submitted = student_copy(release)
    cell = cell_of(submitted, "stats_answer")
    cell.cell_type = "markdown"
    del cell["outputs"], cell["execution_count"]
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "repaired"
    assert kinds(result) == ["cell_type_restored"]
    assert_gradable(result, release)


def test_test_cell_turned_into_markdown_and_stripped_is_restored(release):
    submitted = student_copy(release, outputs=False)
    cell = cell_of(submitted, "test_split")
    cell.cell_type = "markdown"
    cell.metadata = {}
    del cell["outputs"], cell["execution_count"]
    result = repair_submission(to_bytes(submitted), release)
    assert set(kinds(result)) == {"cell_type_restored", "metadata_restored"}
    assert_gradable(result, release)


def test_an_inserted_helper_is_carried_right_before_the_answer_that_uses_it(release):
    answers = dict(ANSWERS, stats_answer=STATS_HELPER_ANSWER)
    submitted = student_copy(release, answers)
    helper = new_code_cell("import numpy as np\n\ndef _aggregate(ratings):\n    return ratings.groupby('movie_id')['rating'].agg(rating_count='count', rating_mean='mean')")
    scratch = new_code_cell("movie_rating_stats(TOY).head()")  # defines nothing
    pip = new_code_cell("!pip install -q altair\nK = 10")
    answer_at = submitted.cells.index(cell_of(submitted, "stats_answer"))
    submitted.cells[answer_at:answer_at] = [helper]
    submitted.cells.insert(answer_at + 2, scratch)
    submitted.cells.append(pip)
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "ok", result.describe()
    cells = result.notebook.cells
    at = cells.index(cell_of(result.notebook, "stats_answer"))
    assert cells[at - 1].source == helper.source and "nbgrader" not in cells[at - 1].metadata
    assert scratch.source not in [c.source for c in cells]
    assert cells[-1].source == "# (disabled by the grader) !pip install -q altair\nK = 10"
    notes = [n.kind for n in result.notes]
    assert notes.count("helper_carried") == 2 and "cell_dropped" in notes and "install_disabled" in notes
    assert_gradable(result, release, dict(ANSWERS, stats_answer=STATS_HELPER_ANSWER))


def test_deleted_cells_come_back_and_a_deleted_answer_is_missing(release):
    submitted = student_copy(release)
    submitted.cells.remove(cell_of(submitted, "test_stats_values"))
    submitted.cells.remove(cell_of(submitted, "split_answer"))
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "repaired"
    by_kind = {c.kind: c for c in result.changes}
    assert by_kind["cell_restored"].grade_id == "test_stats_values"
    assert by_kind["answer_missing"].grade_id == "split_answer"
    assert_gradable(result, release, {k: v for k, v in ANSWERS.items() if k != "split_answer"})
    assert "NotImplementedError" in cell_of(result.notebook, "split_answer").source


def test_duplicated_answer_cell_the_first_non_template_copy_is_the_answer(release):
    """JupyterLab's duplicate copies the metadata too: raw nbgrader would abort the batch."""
    submitted = student_copy(release)
    answer = cell_of(submitted, "stats_answer")
    at = submitted.cells.index(answer)
    template = copy.deepcopy(answer)
    template.source = STATS_TEMPLATE
    second = copy.deepcopy(answer)
    second.source = STATS_ANSWER.replace('"count"', "'count'")
    for cell in (template, second):
        cell["id"] = f"dup-{id(cell)}"
    submitted.cells[at:at] = [template]  # the untouched template above the answer
    submitted.cells.insert(at + 2, second)  # a later attempt below
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "repaired"
    (dup,) = [c for c in result.changes if c.kind == "duplicate_answer"]
    assert "found in 3 cells" in dup.message
    assert_gradable(result, release)
    cells = result.notebook.cells
    at = cells.index(cell_of(result.notebook, "stats_answer"))
    # The later attempt follows, unmarked, as it ran in the student's notebook.
    assert cells[at + 1].source == second.source and "nbgrader" not in cells[at + 1].metadata
    assert STATS_TEMPLATE not in [c.source for c in cells]


def test_duplicated_test_cell_with_its_grade_id_is_dropped(release):
    submitted = student_copy(release)
    test = cell_of(submitted, "test_split")
    clone = copy.deepcopy(test)
    clone["id"] = "clone"
    submitted.cells.append(clone)
    result = repair_submission(to_bytes(submitted), release)
    assert kinds(result) == ["duplicate_cell"]
    assert_gradable(result, release)


def test_reordered_cells_get_the_release_order(release):
    submitted = student_copy(release)
    cells = submitted.cells
    cells[3:6], cells[7:9] = cells[7:9], cells[3:6]  # exercise 2 before exercise 1
    result = repair_submission(to_bytes(submitted), release)
    assert "reordered" in kinds(result)
    assert_gradable(result, release)


def test_edited_visible_test_is_restored_from_the_release(release):
    submitted = student_copy(release)
    cell_of(submitted, "test_stats_columns").source = VISIBLE_TEST.replace("assert", "# assert")
    result = repair_submission(to_bytes(submitted), release)
    assert kinds(result) == ["visible_test_restored"]
    assert_gradable(result, release)


def test_edited_and_stripped_visible_test_is_still_recognised(release):
    submitted = student_copy(release)
    cell = cell_of(submitted, "test_stats_columns")
    cell.source = VISIBLE_TEST.replace('"rating_mean"', '"mean"')
    cell.metadata = {}
    result = repair_submission(to_bytes(submitted), release)
    assert set(kinds(result)) == {"visible_test_restored", "metadata_restored"}
    assert_gradable(result, release)


def test_gigantic_outputs_never_reach_the_transplant(release):
    submitted = student_copy(release)
    huge = "x" * 5_000_000
    cell_of(submitted, "stats_answer").outputs = [nbformat.v4.new_output("stream", name="stdout", text=huge)]
    cell_of(submitted, "test_split").outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": huge})
    ]
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "ok"
    assert len(nbformat.writes(result.notebook)) < 20_000


# --- everything at once, and position matching ------------------------------------------------------


def test_stripped_metadata_with_template_only_answers_are_found_by_position(release):
    """The markdown answer has no text of its own: only where it sits tells which cell it is."""
    submitted = student_copy(release)
    for cell in submitted.cells:
        cell.metadata = {}
        cell.pop("id")
    result = repair_submission(to_bytes(submitted), release)
    assert [n.grade_id for n in result.notes if n.kind == "matched_by_position"] == ["why_random"]
    assert_gradable(result, release)


def test_colab_download_with_everything_wrong_at_once(release):
    submitted = student_copy(release)
    for cell in submitted.cells:
        cell.metadata = {}
        cell.pop("id")
    cells = submitted.cells
    helper = new_code_cell("def _aggregate(r):\n    return r")
    cells.insert(3, helper)
    cells.pop(cells.index([c for c in cells if c.source == HIDDEN_TEST][0]))
    split = [c for c in cells if c.source == SPLIT_ANSWER][0]
    split.cell_type = "markdown"
    del split["outputs"], split["execution_count"]
    result = repair_submission(to_bytes(submitted), release)
    assert result.status == "repaired"
    assert {"metadata_restored", "cell_restored", "cell_type_restored"} <= set(kinds(result))
    assert_gradable(result, release)


# --- the wrong notebook ---------------------------------------------------------------------------------


def test_another_assignment_is_the_wrong_notebook(release):
    other = new_notebook(
        cells=[
            new_markdown_cell("# Measuring the error"),
            new_code_cell("def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):\n    pass"),
            new_code_cell("assert True"),
        ]
    )
    result = repair_submission(to_bytes(other), release)
    assert result.status == "wrong_notebook"
    assert result.notebook is None
    assert "0%" in result.message


def test_an_answers_only_notebook_is_not_the_wrong_notebook(release):
    """A student who retyped only the functions in a fresh notebook is still graded."""
    fresh = new_notebook(cells=[new_code_cell(STATS_ANSWER), new_code_cell(SPLIT_ANSWER)])
    result = repair_submission(to_bytes(fresh), release)
    assert result.status == "repaired"
    assert {"cell_restored", "answer_missing"} <= set(kinds(result))
    assert cell_of(result.notebook, "stats_answer").source == STATS_ANSWER


# --- helpers used by the intake ------------------------------------------------------------------------


def test_content_match_score(release):
    assert content_match_score(to_bytes(student_copy(release)), release) == 1.0
    stripped = student_copy(release)
    for cell in stripped.cells:
        cell.metadata = {}
    assert content_match_score(to_bytes(stripped), Release(release)) > 0.8
    assert content_match_score(to_bytes(new_notebook(cells=[new_code_cell("x = 1")])), release) == 0.0
    assert content_match_score(b"{not json", release) is None


def test_defined_names():
    assert defined_names("import numpy as np\nfrom os import path\nx, (y, z) = 1, (2, 3)\n") == {"np", "path", "x", "y", "z"}
    assert defined_names("%matplotlib inline\ndef f():\n    pass\nclass C: pass") == {"f", "C"}
    assert defined_names("print(1)\ndf.head()\n!ls") == set()
    assert defined_names("def broken(:") == set()


def test_every_repair_kind_used_above_is_a_repair():
    assert {"upgraded", "metadata_restored", "cell_type_restored", "visible_test_restored", "cell_restored",
            "answer_missing", "duplicate_answer", "duplicate_cell", "reordered"} <= REPAIR_KINDS


def test_a_written_answer_split_over_several_cells_keeps_all_its_text(release):
    submitted = student_copy(release)
    answer = cell_of(submitted, "why_random")
    more = copy.deepcopy(answer)
    more.source = "Also: a time split would leak the future."
    more["id"] = "more"
    submitted.cells.append(more)
    result = repair_submission(to_bytes(submitted), release)
    assert kinds(result) == ["duplicate_answer"]
    assert cell_of(result.notebook, "why_random").source == ANSWERS["why_random"] + "\n\n" + more.source


def test_guarded_imports_count_as_definitions():
    assert defined_names("try:\n    import tensorflow as tf\nexcept ImportError:\n    tf = None") == {"tf"}
    assert defined_names("def f():\n    inner = 1") == {"f"}


@pytest.mark.parametrize(
    "notebook",
    [
        {"cells": "abc", "nbformat": 4},
        {"cells": [1, "x", None, {"cell_type": 3, "source": 7, "metadata": []}], "nbformat": 4, "nbformat_minor": 5},
        {"cells": [{"cell_type": "code", "source": ["a", 1], "metadata": {"nbgrader": {"grade_id": ["x"], "points": "many"}}}]},
        {"worksheets": "nope", "nbformat": 3},
        {"cells": [], "nbformat": 99},
    ],
)
def test_strange_json_never_raises(release, notebook):
    result = repair_submission(json.dumps(notebook).encode(), release)
    assert result.status in ("unreadable", "wrong_notebook")
    assert result.message


def test_a_release_without_cell_ids_gets_none_in_carried_cells(release):
    old_release = copy.deepcopy(release)
    old_release.nbformat_minor = 4
    for cell in old_release.cells:
        del cell["id"]
    submitted = student_copy(old_release)
    submitted.cells.insert(0, new_code_cell("import math"))
    del submitted.cells[0]["id"]
    result = repair_submission(to_bytes(submitted), old_release)
    assert result.status == "ok"
    nbformat.validate(result.notebook)
    assert all("id" not in c for c in result.notebook.cells)


def test_an_empty_hidden_test_cell_is_found_by_position_when_metadata_is_gone():
    """nbgrader empties a cell that holds only hidden tests: its place is all that identifies it."""
    release = make_release()
    hidden = cell_of(release, "test_stats_values")
    hidden.source = ""
    hidden.metadata.nbgrader["checksum"] = compute_checksum(hidden)
    submitted = student_copy(release)
    for cell in submitted.cells:
        cell.metadata = {}
        cell.pop("id")
    result = repair_submission(to_bytes(submitted), release)
    assert kinds(result) == ["metadata_restored"]
    assert "test_stats_values" in [n.grade_id for n in result.notes if n.kind == "matched_by_position"]
    assert_gradable(result, release)


def test_cells_found_by_position_prefer_the_one_that_defines_the_function(release):
    """Stripped metadata and a template-free answer: the scratch cell above is not the answer."""
    release = copy.deepcopy(release)
    answer = cell_of(release, "stats_answer")
    answer.source = STUB  # no signature in the template: only the position tells
    answer.metadata.nbgrader["checksum"] = compute_checksum(answer)
    submitted = student_copy(release)
    at = submitted.cells.index(cell_of(submitted, "stats_answer"))
    submitted.cells.insert(at, new_code_cell("TOY.head()"))
    for cell in submitted.cells:
        cell.metadata = {}
        cell.pop("id")
    result = repair_submission(to_bytes(submitted), release)
    assert cell_of(result.notebook, "stats_answer").source == STATS_ANSWER
    assert "TOY.head()" not in [c.source for c in result.notebook.cells]
    assert "duplicate_answer" in kinds(result)
