"""grader.feedback, grader.feedback_exporter, grader.mathjax_offline: the feedback page.

Hidden tests reduced to their verdicts before the page is rendered; a summary
naming each test by exercise and behaviour with points per exercise; MathJax
inside the page, pinned and checked. The browser check that its formulas
typeset offline is in tests/test_browser.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader import mathjax_offline
from grader.cells import HIDDEN_BEGIN, HIDDEN_END
from grader.feedback import (
    cell_docstring,
    feedback_summary,
    format_points,
    hidden_test_ids,
    hide_hidden_tests,
    short_behaviour,
    verdict,
)
from grader.feedback_exporter import FeedbackExporter, has_math


def _test(source, grade_id, points=2):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": points,
                                                        "solution": False, "locked": True}})


HIDDEN = f'"""Checks the values on fresh data."""\nassert f(1) == 1\n{HIDDEN_BEGIN}\nassert f(2) == 4  # secret\n{HIDDEN_END}'


def test_only_test_cells_with_hidden_regions_count():
    source = new_notebook(cells=[_test(HIDDEN, "f_hidden_values"), _test("assert f(1) == 1", "f_visible_format"),
                                 new_code_cell(HIDDEN)])
    assert hidden_test_ids(source) == {"f_hidden_values"}


def test_a_hidden_cell_keeps_its_visible_part_and_a_verdict():
    source = new_notebook(cells=[_test(HIDDEN, "f_hidden_values")])
    failed = _test(HIDDEN, "f_hidden_values")
    failed.outputs = [new_output("error", ename="AssertionError", evalue="f(2) is 3, expected 4\nmore",
                                 traceback=["  assert f(2) == 4  # secret"])]
    graded = hide_hidden_tests(new_notebook(cells=[failed]), source)
    cell = graded.cells[0]
    assert "secret" not in cell.source and HIDDEN_BEGIN not in cell.source
    assert cell.source.startswith('"""Checks the values on fresh data."""\nassert f(1) == 1')
    assert cell.source.endswith("# Hidden tests: their code is not shown.")
    assert cell.outputs[0]["text"] == "Hidden test failed (0 of 2 points): AssertionError: f(2) is 3, expected 4\n"
    assert "secret" not in str(cell.outputs)


def test_a_passing_hidden_cell_says_so_with_its_points():
    only_hidden = f'{HIDDEN_BEGIN}\n"""Checks the seed."""\nassert True\n{HIDDEN_END}'
    source = new_notebook(cells=[_test(only_hidden, "f_hidden_seed", points=3)])
    graded = hide_hidden_tests(new_notebook(cells=[_test(only_hidden, "f_hidden_seed", points=3)]), source)
    assert graded.cells[0].source == '"""Checks the seed."""\n# Hidden tests: their code is not shown.'
    assert graded.cells[0].outputs[0]["text"] == "Hidden test passed (3 of 3 points)\n"


def test_verdict_and_docstring_helpers():
    assert verdict(_test("x", "a")) == (True, "passed")
    cell = _test("x", "a")
    cell.outputs = [new_output("error", ename="NameError", evalue="", traceback=[])]
    assert verdict(cell) == (False, "NameError")
    assert cell_docstring("x = (") == ""
    assert cell_docstring(HIDDEN) == "Checks the values on fresh data."


# --- The summary: tests named by exercise and behaviour, points per exercise -------------


def _graded(source, grade_id, points, score, *, cell=new_code_cell, solution=False):
    made = cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": points,
                                               "solution": solution, "locked": not solution}})
    made.metadata.nbgrader["score"] = score  # what nbgrader's GetGrades puts there while rendering
    return made


def small_graded_notebook():
    return new_notebook(cells=[
        new_markdown_cell("The mean over pairs: $g = \\frac{1}{NM}\\sum_{i,j} \\langle u_i, v_j \\rangle^2$."),
        new_code_cell("def gravity(U, V):\n    return 0.0", metadata={"nbgrader": {
            "grade": False, "grade_id": "gravity_solution", "solution": True, "locked": False}}),
        _graded('"""Visible check (format only): gravity returns a scalar tensor."""\nassert True',
                "gravity_visible_format", 1, 1.0),
        _graded('"""Hidden test: the value equals the definition, the mean over all pairs of the squared\n'
                'prediction, on fresh random embeddings of several shapes and far more words than fit.\n"""\n'
                f'pass\n{HIDDEN_BEGIN}\nassert False\n{HIDDEN_END}', "gravity_hidden_values", 3, 0.0),
        _graded(f'{HIDDEN_BEGIN}\nassert True\n{HIDDEN_END}', "gravity_hidden_no_n_by_m_matrix", 2, 2.0),
        _graded('"""Hidden test: with l2 > 0 and `use_biases`, the penalty is <p_u, q_i> free."""\npass',
                "build_keras_mf_hidden_l2_penalty", 2, 1.5),
        _graded("Why does gravity help?", "why_gravity_solution", 2, None, cell=new_markdown_cell, solution=True),
    ])


def test_the_summary_names_each_test_by_exercise_and_behaviour():
    summary = feedback_summary(small_graded_notebook())
    assert [exercise.exercise for exercise in summary] == ["gravity", "build_keras_mf", "why_gravity"]
    gravity = summary[0]
    assert [cell.line() for cell in gravity.cells] == [
        "gravity — gravity returns a scalar tensor (visible, format only): 1 / 1",
        "gravity — the value equals the definition, the mean over all pairs of the squared prediction (hidden): 0 / 3",
        "gravity — no n by m matrix (hidden): 2 / 2",  # no docstring: the grade_id says it
    ]
    assert [cell.outcome for cell in gravity.cells] == ["passed", "failed", "passed"]
    assert gravity.line() == "gravity: 3 / 6" and not gravity.pending
    keras = summary[1].cells[0]
    assert keras.line() == "build_keras_mf — with l2 > 0 and `use_biases`, the penalty is <p_u, q_i> free (hidden): 1.5 / 2"
    assert keras.outcome == "partial"
    assert keras.behaviour_html == "with l2 &gt; 0 and <code>use_biases</code>, the penalty is &lt;p_u, q_i&gt; free"
    written = summary[2]
    assert written.cells[0].label == "why_gravity — your answer (written answer)"
    assert written.pending and written.line() == "why_gravity: 0 / 2" and written.cells[0].outcome == "pending"


def test_the_summary_reads_cells_whose_hidden_tests_were_hidden():
    notebook = small_graded_notebook()
    source = small_graded_notebook()
    hide_hidden_tests(notebook, source)
    assert [cell.line() for cell in feedback_summary(notebook)[0].cells] == \
        [cell.line() for cell in feedback_summary(source)[0].cells]


@pytest.mark.parametrize(("docstring", "expected"), [
    ("Hidden test: a hand-made case. The movie itself is not its own neighbour.", ("", "a hand-made case")),
    ("Visible check (format only): on the toy example, a tensor.", ("format only", "on the toy example, a tensor")),
    # a long first sentence ends at its last clause that keeps at least half of it...
    ("Hidden test: on synthetic MovieLens frames of three sizes and two seeds, the dense view of the "
     "(reordered) result is the rating matrix.",
     ("", "on synthetic MovieLens frames of three sizes and two seeds")),
    # ...not inside brackets or <p_u, q_i>, else at a word, with an ellipsis
    ("Hidden test: with random values set in every table the prediction is <p_u, q_i> + b_u + b_i + b for "
     "every pair of ids in the batch.",
     ("", "with random values set in every table the prediction is <p_u, q_i> + b_u + b_i + b for…")),
    ("", ("", "")),
])
def test_short_behaviour(docstring, expected):
    assert short_behaviour(docstring) == expected


def test_points_are_written_as_numbers_not_floats():
    assert [format_points(value) for value in (3.0, 1.5, 0.25, 0, None)] == ["3", "1.5", "0.25", "0", "?"]


# --- The page: the course's template, MathJax inside ------------------------------------------


def _require_mathjax() -> None:
    if mathjax_offline.mathjax_path().exists():
        return
    message = f"MathJax is not installed ({mathjax_offline.mathjax_path()}): run scripts/setup.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _render(notebook, **options):
    resources = {"nbgrader": {"notebook": "06_regularization", "score": 4.5, "max_score": 10, "late_penalty": 0}}
    return FeedbackExporter(**options).from_notebook_node(notebook, resources=resources)[0]


def test_the_page_shows_the_summary_and_carries_mathjax():
    _require_mathjax()
    page = _render(small_graded_notebook())
    assert "06_regularization (Score: 4.5 / 10)" in page
    assert "Test cell" not in page  # nbgrader's unnamed summary lines
    assert ">gravity</a></th>" in page and "3 / 6" in page
    assert "the value equals the definition, the mean over all pairs of the squared prediction</a>" in page
    assert "cdnjs.cloudflare.com" not in page and "cdn.jsdelivr.net" not in page
    assert page.count("MathJax 3.2.2 (Apache License 2.0") == 1
    assert 'class="recsys-no-math"' in page  # MathJax leaves the summary's text alone


def test_a_page_without_formulas_carries_no_mathjax_and_cdn_mode_links_it():
    plain = small_graded_notebook()
    plain.cells.pop(0)
    assert not has_math(plain)
    assert "MathJax" not in _render(plain).split("</style>")[-1]
    cdn = _render(small_graded_notebook(), mathjax="cdn")
    assert mathjax_offline.CDN_URL in cdn and "DecompressionStream" not in cdn


def test_code_is_highlighted_and_images_get_an_alt_text():
    notebook = small_graded_notebook()
    picture = new_output("display_data", data={"image/png": "iVBORw0KGgo="})
    notebook.cells.append(new_code_cell("total = sum([1, 2])", outputs=[picture]))
    page = _render(notebook)
    assert '<span class="n">total</span>' in page  # pygments' spans
    images = re.findall(r"<img[^>]*>", page)
    assert images and all('alt="No description has been provided for this image"' in image for image in images)


def test_highlighted_code_is_kept_for_the_run_and_the_page_stays_the_same(tmp_path, monkeypatch):
    """The run's other workers read each cell's highlighting from the disk: the same page, no pygments."""
    from nbconvert.filters.highlight import Highlight2HTML

    notebook = small_graded_notebook()
    notebook.cells.append(new_code_cell("%%bash\necho hi", metadata={"magics_language": "bash"}))
    without_cache = _render(notebook)
    monkeypatch.setenv("RECSYS_GRADER_CELL_ANALYSIS_CACHE", str(tmp_path))
    first = _render(notebook)
    kept = list((tmp_path / "highlighted").glob("*.pickle"))
    assert kept and first == without_cache
    monkeypatch.setattr(Highlight2HTML, "__call__", lambda *args, **kwargs: pytest.fail("highlighted again"))
    assert _render(notebook) == first
    for path in kept:
        path.write_bytes(b"not a pickle")  # a broken file is highlighted again, and replaced
    monkeypatch.undo()
    monkeypatch.setenv("RECSYS_GRADER_CELL_ANALYSIS_CACHE", str(tmp_path))
    assert _render(notebook) == first


def test_has_math():
    assert has_math(new_notebook(cells=[new_markdown_cell("a $x$ b")]))
    assert has_math(new_notebook(cells=[new_markdown_cell("\\begin{align} x \\end{align}")]))
    assert not has_math(new_notebook(cells=[new_markdown_cell("costs 5 dollars"), new_code_cell("x = '$a$'")]))


def test_nbgrader_renders_feedback_with_this_exporter():
    from grader.nbgrader_helpers import load_course_config

    config = load_course_config(dict(os.environ))
    assert config.GenerateFeedback.exporter_class == "grader.feedback_exporter.FeedbackExporter"


# --- MathJax: pinned, checked, installed once -----------------------------------------------


def test_the_installed_mathjax_is_the_pinned_file():
    _require_mathjax()
    script = gzip.decompress(mathjax_offline.read_gzipped())
    assert hashlib.sha256(script).hexdigest() == mathjax_offline.MEMBER_SHA256
    assert len(script) > 2_000_000 and b"MathJax" in script


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_install_checks_the_tarball_and_the_file_and_runs_once(tmp_path, monkeypatch):
    script = b"window.MathJax = window.MathJax || {}; // a stand-in"
    tarball = _tarball({mathjax_offline.MEMBER: script})
    with pytest.raises(mathjax_offline.MathJaxError, match="corrupt or not the pinned one"):
        mathjax_offline.install(tmp_path, tarball=tarball)  # the real pins: this is not MathJax 3.2.2
    assert not mathjax_offline.mathjax_path(tmp_path).exists()

    monkeypatch.setattr(mathjax_offline, "TARBALL_INTEGRITY", mathjax_offline.integrity_of(tarball))
    monkeypatch.setattr(mathjax_offline, "MEMBER_SHA256", hashlib.sha256(script).hexdigest())
    with pytest.raises(mathjax_offline.MathJaxError, match="corrupt"):
        mathjax_offline.install(tmp_path, tarball=tarball[:-10])  # a truncated download
    path = mathjax_offline.install(tmp_path, tarball=tarball)
    assert gzip.decompress(path.read_bytes()) == script
    written = path.stat().st_mtime_ns
    monkeypatch.setattr(mathjax_offline, "download", lambda: pytest.fail("downloaded again"))
    assert mathjax_offline.install(tmp_path) == path and path.stat().st_mtime_ns == written  # already there

    path.write_bytes(gzip.compress(b"something else"))  # damaged: found out when read, installed again
    with pytest.raises(mathjax_offline.MathJaxError, match="is not MathJax"):
        mathjax_offline.read_gzipped(path)
    monkeypatch.setattr(mathjax_offline, "download", lambda: tarball)
    mathjax_offline.install(tmp_path)
    assert gzip.decompress(path.read_bytes()) == script
    assert "DecompressionStream" in mathjax_offline.loader_html(path)


def test_a_tarball_without_the_file_is_refused(monkeypatch):
    tarball = _tarball({"package/README.md": b"no script here"})
    monkeypatch.setattr(mathjax_offline, "TARBALL_INTEGRITY", mathjax_offline.integrity_of(tarball))
    with pytest.raises(mathjax_offline.MathJaxError, match="is not MathJax"):
        mathjax_offline.script_from_tarball(tarball)
