"""nbgrader configuration of the course.

Pass it explicitly (nbgrader has no ``--config`` alias, and the file name
goes without ``.py``)::

    nbgrader <command> --NbGrader.config_file=grader/nbgrader_config

``grader.release`` and ``grader.nbgrader_helpers`` do. The course layout is:

- ``solutions/<assignment>/<assignment>.ipynb``: instructor sources (nbgrader's
  "source" step), the only notebooks edited by hand;
- ``notebooks/<assignment>/<assignment>.ipynb``: student versions (the
  "release" step), generated;
- ``grading/``: submissions, autograded copies, feedback and the gradebook,
  never committed (the gradebook holds every hidden test).

Environment variables point the same configuration at another copy of the
course, which is how the tests build a throwaway course in a temp dir:

- ``RECSYS_COURSE_ROOT``: course root holding ``solutions/`` and
  ``notebooks/`` (default: this repository);
- ``RECSYS_COURSE_GRADING_DIR``: the working folder (default:
  ``<root>/grading``); put it outside the repository on a shared grading
  machine, since autograded code can read anything the grader's user can;
- ``RECSYS_COURSE_CELL_TIMEOUT``: seconds a cell may run during autograde.
"""

import os

c = get_config()  # noqa: F821 -- injected by the traitlets config loader

# --- Where things live ------------------------------------------------------

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ROOT = os.path.abspath(os.environ.get("RECSYS_COURSE_ROOT") or _REPO_ROOT)
_GRADING = os.path.abspath(
    os.environ.get("RECSYS_COURSE_GRADING_DIR") or os.path.join(_ROOT, "grading")
)


def _step_dir(name: str) -> str:
    """Folder of one nbgrader step inside the working folder.

    Relative to the root when possible: nbgrader escapes the root before
    using it in regular expressions, but not the step names, so a relative
    step name keeps odd characters of an absolute path out of its patterns.
    """
    path = os.path.join(_GRADING, name)
    if os.path.commonpath([path, _ROOT]) == _ROOT:
        return os.path.relpath(path, _ROOT)
    return path


c.CourseDirectory.root = _ROOT
c.CourseDirectory.course_id = "recsys_movielens"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = _step_dir("submitted")
c.CourseDirectory.autograded_directory = _step_dir("autograded")
c.CourseDirectory.feedback_directory = _step_dir("feedback")
c.CourseDirectory.solution_directory = _step_dir("solution")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_GRADING, "gradebook.db")
# SQLite creates the gradebook file but not its folder.
os.makedirs(_GRADING, exist_ok=True)

# generate_assignment copies every other file of solutions/<assignment>/ into
# the release, and autograde copies them next to each submission: keep
# instructor-only material out of both. Convention: a `private/` folder or a
# name containing `private`; databases and editor debris never travel.
c.CourseDirectory.ignore = [
    ".*",  # hidden files, .ipynb_checkpoints included
    ".ipynb_checkpoints",
    "__pycache__",
    "*.pyc",
    "feedback",
    "private",
    "*private*",
    "*.db",
    "*.db-journal",
    "*~",
]

# --- Generating the student version -----------------------------------------

# Defaults written out so that authors can see the exact markers.
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# A solution region in a cell not marked as a solution cell must fail the
# build rather than silently ship (or strip) the answer.
c.ClearSolutions.enforce_metadata = True

c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
c.ClearHiddenTests.enforce_metadata = True

# JupyterLab records run times in cell metadata; they must not reach the
# student version (or make regeneration differ from one run to the next).
c.ClearOutput.remove_metadata_fields = {"collapsed", "scrolled", "execution", "ExecuteTime"}

# The sources say {{ repository_url }} and {{ colab_url }} (set once, in
# pyproject.toml): fill them in first, before nbgrader checksums and records
# the cells, so that release, gradebook and autograde agree. Hidden blocks
# import their helpers from grader.hidden_tests, which graded kernels cannot
# import: inline them too, so that the gradebook's hidden tests stand alone.
from grader.course_links import FillCourseLinks  # noqa: E402
from grader.inline_hidden_helpers import InlineHiddenTestHelpers  # noqa: E402
from nbgrader.converters import GenerateAssignment  # noqa: E402

c.GenerateAssignment.preprocessors = [
    FillCourseLinks, InlineHiddenTestHelpers,
    *GenerateAssignment.class_traits()["preprocessors"].default()]

# --- Autograding --------------------------------------------------------------

# Per cell, not per notebook. Hidden tests run in seconds, but the notebooks
# also train small models and a slow grading machine must not turn a correct
# submission into a CellTimeoutError; an endless loop still stops here.
c.Execute.timeout = int(os.environ.get("RECSYS_COURSE_CELL_TIMEOUT") or 300)
# After a cell finishes, nbgrader waits 4 s for the rest of its output and then
# fails the cell (a CellTimeoutError, which stops the rest of the notebook):
# training cells redraw their progress line many times, and on a busy grading
# machine that output lags behind (measured: a fatal error validating notebook 9
# at load 10). The wait ends as soon as the output is in.
c.Execute.iopub_timeout = 60

# ipykernel forwards what C code writes to file descriptors 1 and 2 into the
# cell's output; TensorFlow's C++ logging (CUDA probing, CPU feature notices)
# would then appear as stderr in whichever graded cell first touches
# TensorFlow, and any stderr in a test cell scores 0. Leave it on the
# kernel's own stderr instead (the grader's console).
c.Execute.extra_arguments = ["--IPKernelApp.capture_fd_output=False"]

# Python-level noise from TensorFlow / absl / Keras that may still reach a
# cell's stderr. IgnorePattern drops a whole stderr output when the pattern
# matches anywhere in it; real failures are `error` outputs, which it never
# touches, so a broken answer still scores 0.
_TENSORFLOW_NOISE = [
    # absl C++ log lines: "I0000 00:00:1795432025.155018    3801 cudart_stub.cc:31] ..."
    r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\]",
    r"WARNING: All log messages before absl::InitializeLog\(\) is called",
    # older TensorFlow C++ log format: "2024-01-01 10:00:00.000000: I tensorflow/..."
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] ",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
    # Python logging through absl and the tensorflow logger
    r"^WARNING:(absl|tensorflow):",
    # Python warnings raised inside the libraries themselves
    r"[\\/](tensorflow|keras|tf_keras|absl)[\\/]\S*\.py:\d+: \w*Warning:",
]
c.IgnorePattern.enabled = True  # off by default in nbgrader
c.IgnorePattern.pattern = "(?m)" + "|".join(f"(?:{p})" for p in _TENSORFLOW_NOISE)

# --- Feedback pages -------------------------------------------------------------

# nbgrader's page with a summary that names each test by exercise and behaviour
# and totals the points per exercise, and MathJax inside the page (formulas
# typeset offline): grader/feedback_exporter.py. The same for `grade`,
# `nbgrader generate_feedback` and the formgrader's button.
c.GenerateFeedback.exporter_class = "grader.feedback_exporter.FeedbackExporter"

# --- Grading submissions with `grade` (grader/grade.py) -------------------------

# The grader sets RECSYS_GRADER_GUARDED for the nbgrader it runs on each
# submission: execution then happens in the sandbox kernel (no view of the
# course, a memory cap), with a notebook deadline, dead-kernel recovery,
# stderr that cannot fail a test, and a tamper guard (grader/execution.py).
if os.environ.get("RECSYS_GRADER_GUARDED"):
    from grader.execution import GuardedExecute
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades,
    )

    c.Autograde.autograde_preprocessors = [
        GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    c.GuardedExecute.kernel_name = "recsys-sandbox"
    c.GuardedExecute.notebook_timeout = int(os.environ.get("RECSYS_GRADER_NOTEBOOK_TIMEOUT") or 600)
    c.GuardedExecute.sandbox_report = os.environ.get("RECSYS_GRADER_SANDBOX_REPORT", "")
    # Cells no graded cell depends on are left out unless the grader asks for every cell.
    c.GuardedExecute.skip_unneeded_cells = os.environ.get("RECSYS_GRADER_RUN_EVERY_CELL") != "1"

# --- nbgrader's own path (a JupyterHub: grader/hub.py) ----------------------------

# `python -m grader.hub autograde` runs `nbgrader autograde` once per student,
# sandboxed as above, with RECSYS_GRADER_HUB set: repair each submission
# against the release first, as `grade` does before nbgrader sees it.
if os.environ.get("RECSYS_GRADER_HUB"):
    from grader.hub import RepairSubmission
    from nbgrader.converters import Autograde

    c.Autograde.sanitize_preprocessors = [
        RepairSubmission, *Autograde.class_traits()["sanitize_preprocessors"].default()]

# Feedback (`nbgrader generate_feedback`, the formgrader's button) shows each
# hidden test's docstring and verdict, not its code. `grade` hides them itself
# before it renders feedback (it has a --show-hidden-code option).
if not os.environ.get("RECSYS_GRADER_GUARDED"):
    from grader.hub import HideHiddenTestsInFeedback
    from nbgrader.converters import GenerateFeedback

    c.GenerateFeedback.preprocessors = [
        HideHiddenTestsInFeedback, *GenerateFeedback.class_traits()["preprocessors"].default()]
