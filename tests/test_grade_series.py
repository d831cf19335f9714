"""The done-when test of the grader: a class of 20 students x every notebook, graded with two jobs and on Dask.

``tests/grading_corpus/`` builds the class from the release and solution
notebooks: for every released notebook its reference solution and untouched
release, and the cases of its ``answers_NN.py`` (other correct routes,
plausible wrong answers); broken files and hostile code; some notebooks
missing. The grade sheet must
say exactly what each student x notebook gets (status and points), with real
nbgrader, the sandbox and two notebooks at a time; graded again from scratch
with ``grade --scheduler`` on a local Dask cluster of two workers, the sheet
and every notebook's status and points must be the same.

It also holds what the per-assignment autograde test checked: the reference
solution gets full marks on every test cell of every assignment (and the
gradebook scores every graded cell of the source; written answers wait for a
human), the untouched release gets 0 on every test cell; and what the
one-assignment class test checked: feedback keeps hidden tests hidden.

Budget: about 8 minutes on 2 cores for notebooks 1-11, 170 notebooks graded twice (3.9 and 3.8
minutes in CI, December 2026; see ``benchmarks/bench_grading.py``); a new notebook adds its reference,
its untouched release and its own cases, a few seconds each per grading, so each module keeps
only the cases that matter most in ``CASES`` (two delegation forms, ``return 0``,
``return None`` in ``PENDING_CASES``) and the rest in ``DRY_RUN_CASES``, which
only ``python -m grading_corpus.dry_run`` checks. The pending switches
(``grading_corpus.PENDING``) are on.
"""

from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path

import pytest

from grader.grade import grade_class
from grader.sandbox_kernel import namespaces_available

from grading_corpus import (
    ASSIGNMENTS, CELL_TIMEOUT, MEMORY_MB, NOTEBOOK_TIMEOUT, build_corpus, expected_sheet, pending_switches, points,
)
from grading_corpus.snooping import plant_bait, serve_bait

pytestmark = [pytest.mark.grader, pytest.mark.slow]


@contextlib.contextmanager
def local_dask_cluster():
    """A Dask LocalCluster of two worker processes of one thread over TCP, as in the README's example."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                         dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def graded(tmp_path_factory, synthetic_dir):
    """The class, graded once with ``--jobs 2`` for every test of this module."""
    grading_options = {"jobs": 2}
    folder = tmp_path_factory.mktemp("class")
    with contextlib.ExitStack() as bait:
        if "no_solutions_reachable" in pending_switches():
            # what an older `grade --out` folder holds, and the course served on this machine
            plant_bait(tmp_path_factory.mktemp("older-grading-output"))
            bait.enter_context(serve_bait())
        table = build_corpus(folder)
        out = tmp_path_factory.mktemp("out")
        started = time.monotonic()
        results = grade_class(folder, out, data_dir=synthetic_dir.parent, cell_timeout=CELL_TIMEOUT,
                              notebook_timeout=NOTEBOOK_TIMEOUT, memory_mb=MEMORY_MB, **grading_options)
        seconds = time.monotonic() - started
    print(f"graded {len(results)} notebooks in {seconds:.0f} s ({grading_options})")
    return {"folder": folder, "table": table, "out": out, "seconds": seconds, "data_dir": synthetic_dir.parent,
            "options": grading_options, "results": {(r["student"], r["assignment"]): r for r in results}}


@pytest.fixture(scope="module")
def graded_on_dask(graded, tmp_path_factory):
    """The same class graded again from scratch with ``grade --scheduler`` on two local Dask workers."""
    out = tmp_path_factory.mktemp("out-dask")
    started = time.monotonic()
    with local_dask_cluster() as scheduler:
        results = grade_class(graded["folder"], out, data_dir=graded["data_dir"], cell_timeout=CELL_TIMEOUT,
                              notebook_timeout=NOTEBOOK_TIMEOUT, memory_mb=MEMORY_MB, scheduler=scheduler)
    print(f"graded {len(results)} notebooks on Dask in {time.monotonic() - started:.0f} s")
    return {"out": out, "results": {(r["student"], r["assignment"]): r for r in results}}


def read_sheet(path: Path) -> dict[tuple[str, str], tuple[str, float]]:
    sheet = {}
    for row in csv.DictReader(open(path, newline="")):
        for assignment in ASSIGNMENTS:
            sheet[(row["student"], assignment)] = (row[f"{assignment} status"],
                                                   float(row[f"{assignment} points"] or 0))
    return sheet


def test_the_sheet_says_exactly_what_each_notebook_deserves(graded):
    got = read_sheet(graded["out"] / "grades.csv")
    expected = expected_sheet(graded["table"])
    wrong = []
    for key in sorted(expected):
        if got.get(key) != expected[key]:
            case = graded["table"].get(key)
            result = graded["results"].get(key, {})
            lost = sorted(g for g, v in result.get("scores", {}).items() if v < result["max_scores"][g])
            wrong.append(f"- {key[0]} {key[1]} ({case.what if case else 'not submitted'}): expected "
                         f"{expected[key]}, got {got.get(key)}; {result.get('message', '')[:200]}; "
                         f"cells that lost points: {lost}")
    assert not wrong, f"{len(wrong)} of {len(expected)} notebooks graded differently:\n" + "\n".join(wrong)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_gets_full_marks_on_every_test_cell(graded, assignment):
    result = graded["results"][("s01", assignment)]
    assert result["status"] == "graded", result["message"]
    assert set(result["max_scores"]) == set(points(assignment)), "gradebook and notebook disagree"
    tests = set(result["max_scores"]) - set(result.get("written_answers", {}))
    lost = {g: f"{result['scores'][g]}/{result['max_scores'][g]}" for g in tests
            if result["scores"][g] != result["max_scores"][g]}
    assert not lost, f"the reference solution loses points: {lost}"
    # Written answers cannot be autograded; they must be waiting for a human.
    unflagged = [g for g, flagged in result.get("written_answers", {}).items() if not flagged]
    assert not unflagged, f"manually graded answers not flagged for grading: {unflagged}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_gets_zero_on_every_test_cell(graded, assignment):
    result = graded["results"][("s02", assignment)]
    assert set(result["max_scores"]) == set(points(assignment)), "gradebook and notebook disagree"
    tests = set(result["max_scores"]) - set(result.get("written_answers", {}))
    passing = sorted(g for g in tests if result["scores"][g] != 0)
    assert not passing, f"these test cells give points to a notebook with no answer in it: {passing}"


def test_feedback_keeps_hidden_tests_hidden(graded):
    feedback = graded["out"] / "feedback"
    pages = sorted(feedback.rglob("*.html"))
    assert len(pages) >= 100
    leaking = [str(p.relative_to(feedback)) for p in pages if "BEGIN HIDDEN TESTS" in p.read_text()]
    assert not leaking, f"hidden tests shown in {leaking}"
    wrong = (feedback / "s05" / "03_measuring_error.html").read_text()
    assert "Hidden test failed" in wrong and "Hidden test passed" in wrong


def test_the_kernels_ran_in_the_sandbox(graded):
    """Where the machine allows namespaces, every kernel ran in them (the sheet's exact points
    for the notebook that looks for solutions and gradebooks show it found none)."""
    isolation = {r.get("isolation") for r in graded["results"].values() if r["status"] == "graded"}
    assert isolation == ({"namespaces"} if namespaces_available() else {"none"}), isolation


def test_a_second_run_grades_nothing_again(graded):
    """Nothing changed: every result comes from the previous run, none is graded again."""
    started = time.monotonic()
    again = grade_class(graded["folder"], graded["out"], data_dir=graded["data_dir"], cell_timeout=CELL_TIMEOUT,
                        notebook_timeout=NOTEBOOK_TIMEOUT, memory_mb=MEMORY_MB, **graded["options"])
    assert time.monotonic() - started < 60
    assert {(r["student"], r["assignment"]): r for r in again} == graded["results"]


def test_answers_copied_from_the_library_are_flagged_for_review_and_nothing_else_is(graded):
    """The review column names the library function an answer copies; no other notebook is flagged."""
    wrong = []
    for key, result in graded["results"].items():
        case = graded["table"].get(key)
        expected = [case.review] if case is not None and case.review else []
        if result.get("review", []) != expected:
            wrong.append(f"{key}: expected {expected}, got {result.get('review')}")
    assert any(case.review for case in graded["table"].values()), "the corpus has no copied answer"
    assert not wrong, "\n".join(wrong)


def test_dask_workers_give_the_same_sheet_and_results(graded, graded_on_dask):
    """``--scheduler`` on two local Dask workers: the same grades.csv, and per notebook the same status,
    and points of each graded cell as ``--jobs 2``."""
    assert (graded_on_dask["out"] / "grades.csv").read_text() == (graded["out"] / "grades.csv").read_text()

    def essentials(results):
        return {key: (r["status"], r["scores"], r["max_scores"]) for key, r in results.items()}

    local, dask = essentials(graded["results"]), essentials(graded_on_dask["results"])
    differ = sorted(key for key in local.keys() | dask.keys() if local.get(key) != dask.get(key))
    assert not differ, f"{len(differ)} notebooks differ, e.g. {differ[:3]}: " + "; ".join(
        f"{k}: local {local.get(k)}, dask {dask.get(k)}" for k in differ[:3])
