"""Run nbgrader with the course configuration, on the course or on a copy.

``grader.release`` uses it to generate the student notebooks; the grader tests
use :class:`ThrowawayCourse` to generate, submit and autograde in a temp dir
and to read the scores nbgrader stored in the gradebook.

nbgrader runs as a subprocess (as an instructor would run it) with
``grader/nbgrader_config.py``; environment variables tell that config which
copy of the course to work on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import nbformat
from nbformat import NotebookNode
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .cells import nbgrader_meta

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = REPO_ROOT / "grader" / "nbgrader_config.py"
SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"

# Files never copied into a throwaway course (editor and cache debris).
_COPY_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


class NbgraderError(RuntimeError):
    """nbgrader is missing or failed, or the course layout is not what it expects."""


# --- Course layout ----------------------------------------------------------------


def course_root() -> Path:
    """The course being worked on: ``$RECSYS_COURSE_ROOT`` or this repository."""
    return Path(os.environ.get("RECSYS_COURSE_ROOT") or REPO_ROOT).resolve()


def list_assignments(root: Path) -> list[str]:
    """Names of the assignment folders in ``<root>/solutions``, sorted.

    Every folder is one, hidden ones aside: that is what nbgrader's
    ``--assignment=*`` picks up too.
    """
    source = root / SOURCE_DIR
    if not source.is_dir():
        return []
    return sorted(
        p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def source_notebook(root: Path, assignment: str) -> Path:
    """Path of ``solutions/<assignment>/<assignment>.ipynb``, checking the layout.

    Raises :class:`NbgraderError` when the folder is missing, holds no notebook
    named after it, or holds other notebooks (nbgrader would release them too).
    """
    folder = root / SOURCE_DIR / assignment
    if not folder.is_dir():
        raise NbgraderError(f"no assignment folder {folder}")
    notebook = folder / f"{assignment}.ipynb"
    others = sorted(p.name for p in folder.glob("*.ipynb") if p != notebook)
    if not notebook.is_file():
        hint = f" (found {', '.join(others)})" if others else ""
        raise NbgraderError(
            f"{folder} has no notebook {notebook.name}{hint}: "
            "each assignment is one notebook named after its folder"
        )
    if others:
        raise NbgraderError(
            f"{folder} holds other notebooks ({', '.join(others)}) that nbgrader would "
            "release as well: keep one notebook per assignment folder"
        )
    return notebook


def copy_assignment_source(root: Path, dest_root: Path, assignment: str) -> None:
    """Copy ``solutions/<assignment>/`` of one course root into another (checked first)."""
    source_notebook(root, assignment)
    shutil.copytree(
        root / SOURCE_DIR / assignment, dest_root / SOURCE_DIR / assignment, ignore=_COPY_IGNORE
    )


def release_notebook(root: Path, assignment: str) -> Path:
    """Path of the student version ``notebooks/<assignment>/<assignment>.ipynb``."""
    return root / RELEASE_DIR / assignment / f"{assignment}.ipynb"


# --- Running nbgrader -------------------------------------------------------------


def nbgrader_env(
    root: Path | None = None,
    grading_dir: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for an nbgrader subprocess working on the course at ``root``."""
    env = dict(os.environ)
    # nbgrader runs `alembic` by name, and the venv may not be activated: put
    # this interpreter's bin/ first (not resolved: a venv's python is a symlink).
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    # Only grader/nbgrader_config.py applies, never a ~/.jupyter one: the
    # generated notebooks must not depend on who generates them.
    env["JUPYTER_NO_CONFIG"] = "1"
    if root is not None:
        env["RECSYS_COURSE_ROOT"] = str(root)
    if grading_dir is not None:
        env["RECSYS_COURSE_GRADING_DIR"] = str(grading_dir)
    env.update(extra or {})
    return env


def find_tools(env: Mapping[str, str]) -> str:
    """Path of the ``nbgrader`` executable; raise if it or ``alembic`` is missing."""
    path = env.get("PATH")
    missing = [tool for tool in ("nbgrader", "alembic") if shutil.which(tool, path=path) is None]
    if missing:
        raise NbgraderError(
            f"{' and '.join(missing)} not found on PATH. Install the course tools "
            "(pip install -e '.[course]') and run with that environment's python, "
            "e.g. .venv/bin/python -m grader.release"
        )
    return shutil.which("nbgrader", path=path)  # type: ignore[return-value]


def check_cell_metadata_cheaply() -> None:
    """Have nbgrader build its cell-metadata validator once, not once per cell.

    nbgrader checks each graded cell's metadata with ``jsonschema.validate``,
    which first checks nbgrader's own (constant) schema: about a seventh of a
    grading worker's CPU time. This gives nbgrader's module a ``jsonschema``
    whose ``validate`` reuses one validator per schema; the checks and their
    errors are the same. Idempotent; grading workers call it.
    """
    import json

    import jsonschema
    from nbgrader.nbgraderformat import common

    if getattr(common.jsonschema, "reuses_validators", False):
        return
    validators: dict[str, object] = {}

    class ReusedValidators:
        reuses_validators = True
        ValidationError = jsonschema.ValidationError

        @staticmethod
        def validate(instance, schema) -> None:
            key = json.dumps(schema, sort_keys=True)
            if key not in validators:
                cls = jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
                validators[key] = cls(schema)
            error = jsonschema.exceptions.best_match(validators[key].iter_errors(instance))
            if error is not None:
                raise error

        def __getattr__(self, name):
            return getattr(jsonschema, name)

    common.jsonschema = ReusedValidators()


def load_course_config(env: Mapping[str, str]) -> Config:
    """Load ``grader/nbgrader_config.py`` as nbgrader would with ``env``.

    nbgrader only logs a warning when its config file fails to load and then
    carries on with defaults (wrong folders, no timeout, no noise filter), so
    load it here first and fail loudly instead.
    """
    # The config reads RECSYS_COURSE_* when it runs: give it exactly env's,
    # and restore os.environ afterwards.
    with mock.patch.dict(os.environ):
        for key in [k for k in os.environ if k.startswith("RECSYS_COURSE_")]:
            del os.environ[key]
        os.environ.update({k: v for k, v in env.items() if k.startswith("RECSYS_COURSE_")})
        try:
            return PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
        except Exception as error:
            raise NbgraderError(f"cannot load {CONFIG_FILE}: {error}") from error


def run_nbgrader(
    args: Iterable[str], env: Mapping[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` with ``grader/nbgrader_config.py``; raise on failure.

    The error carries nbgrader's log, which is where it explains what went wrong.
    """
    args = list(args)
    load_course_config(env)
    # nbgrader has no --config alias; it wants the config file without ".py".
    command = [find_tools(env), *args, f"--NbGrader.config_file={CONFIG_FILE.with_suffix('')}"]
    result = subprocess.run(
        command,
        env=dict(env),
        cwd=env.get("RECSYS_COURSE_ROOT", str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        log = (result.stdout + result.stderr).strip()
        raise NbgraderError(
            f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{log[-6000:]}"
        )
    return result


# --- Notebooks as a student would hand them in --------------------------------------


def read_notebook(path: Path) -> NotebookNode:
    """Read a notebook as nbformat 4."""
    return nbformat.read(path, as_version=4)


def fill_in_solutions(student: NotebookNode, source: NotebookNode) -> NotebookNode:
    """A copy of the student notebook with every answer cell taken from the source.

    This is a student who writes exactly the reference solution into the
    released notebook, matched by grade_id.
    """
    answers = {
        meta["grade_id"]: cell.source
        for cell in source.cells
        if (meta := nbgrader_meta(cell)).get("solution")
    }
    filled = nbformat.from_dict(student)
    for cell in filled.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            try:
                cell.source = answers[meta["grade_id"]]
            except KeyError:
                raise NbgraderError(
                    f"answer cell {meta['grade_id']!r} of the student notebook is not in the source"
                ) from None
    return filled


# --- A course in a temp dir --------------------------------------------------------------


@dataclass(frozen=True)
class CellScore:
    """What the autograder stored for one graded cell of one submission."""

    grade_id: str
    auto_score: float | None
    max_score: float
    needs_manual_grade: bool
    is_test: bool  # an autograder test cell (not a manually graded answer)


@dataclass
class ThrowawayCourse:
    """A copy of the course's sources in a temp dir, with its own gradebook.

    ``kernel_env`` reaches the kernels that autograde runs (e.g.
    ``RECSYS_COURSE_DATA`` pointing at the synthetic data).
    """

    root: Path
    kernel_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        dest: Path,
        assignments: Iterable[str],
        source_root: Path | None = None,
        kernel_env: Mapping[str, str] | None = None,
    ) -> ThrowawayCourse:
        """Copy ``solutions/<assignment>/`` of each assignment into ``dest``."""
        source_root = source_root or course_root()
        dest.mkdir(parents=True, exist_ok=True)
        for assignment in assignments:
            copy_assignment_source(source_root, dest, assignment)
        return cls(root=dest.resolve(), kernel_env=dict(kernel_env or {}))

    @property
    def grading_dir(self) -> Path:
        return self.root / "grading"

    @property
    def env(self) -> dict[str, str]:
        return nbgrader_env(self.root, self.grading_dir, self.kernel_env)

    @property
    def config(self) -> Config:
        return load_course_config(self.env)

    def _step_dir(self, step: str) -> Path:
        """Folder of an nbgrader step (e.g. ``submitted_directory``) as configured."""
        return self.root / self.config.CourseDirectory[step]

    def generate(self, assignment: str = "*") -> None:
        """``nbgrader generate_assignment --force`` (``*``: every assignment, one run)."""
        run_nbgrader(["generate_assignment", f"--assignment={assignment}", "--force"], self.env)

    def submit(self, assignment: str, student: str, notebook: NotebookNode) -> Path:
        """Put ``notebook`` where ``nbgrader autograde`` looks for the student's hand-in."""
        folder = self._step_dir("submitted_directory") / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}.ipynb"
        nbformat.write(notebook, path)
        return path

    def autograde(self, assignment: str, student: str = "*", timeout: float | None = None) -> None:
        """``nbgrader autograde`` every submission of ``assignment`` (or one student's)."""
        run_nbgrader(
            ["autograde", f"--assignment={assignment}", f"--student={student}", "--force"],
            self.env,
            timeout=timeout,
        )

    def autograded_notebook(self, assignment: str, student: str) -> Path:
        """The executed notebook autograde wrote (to see what a cell printed)."""
        folder = self._step_dir("autograded_directory") / student / assignment
        return folder / f"{assignment}.ipynb"

    def scores(self, assignment: str, student: str) -> dict[str, CellScore]:
        """Scores per graded cell, read from the gradebook, keyed by grade_id."""
        from nbgrader.api import Gradebook, MissingEntry  # slow import, only when needed

        course = self.config.CourseDirectory
        with Gradebook(course.db_url, course.course_id) as gradebook:
            try:
                submission = gradebook.find_submission_notebook(assignment, assignment, student)
            except MissingEntry:
                raise NbgraderError(
                    f"no autograded submission of {assignment} by {student} in the gradebook"
                ) from None
            scores = {}
            for grade in submission.grades:
                try:
                    gradebook.find_solution_cell(grade.name, assignment, assignment)
                    is_test = False
                except MissingEntry:
                    is_test = True
                scores[grade.name] = CellScore(
                    grade_id=grade.name,
                    auto_score=grade.auto_score,
                    max_score=grade.max_score,
                    needs_manual_grade=grade.needs_manual_grade,
                    is_test=is_test,
                )
        return scores


def cell_outputs_text(notebook_path: Path, grade_id: str) -> str:
    """Errors and stderr a graded cell produced, for failure messages."""
    for cell in read_notebook(notebook_path).cells:
        if nbgrader_meta(cell).get("grade_id") != grade_id:
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                parts.append(f"{output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                parts.append(f"stderr: {output.text.strip()}")
            elif output.output_type == "execute_result":
                parts.append(f"value: {output.data.get('text/plain', '')}")
        return "\n".join(parts) or "(no error output)"
    return f"(cell {grade_id} not found in {notebook_path})"
