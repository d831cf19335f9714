"""Fill the course's links into the student notebooks as nbgrader generates them.

The source notebooks say ``{{ repository_url }}`` (where Colab installs the
helper package from) and ``{{ colab_url }}`` (the notebook's own "Open in
Colab" link) instead of a fixed address. Both point at the **student
edition** (``python -m grader.student_edition``), the public repository
students receive, never at the instructor repository, which holds the
solutions and hidden tests and stays private: ``Student edition`` under
``[project.urls]`` in ``pyproject.toml`` (``Repository`` is the instructor
repository). A fork changes that one line and regenerates.

This preprocessor runs first in ``generate_assignment`` (see
``nbgrader_config.py``), before nbgrader checksums and records the cells, so
the release, the gradebook and autograde all see the same filled-in text.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from nbconvert.preprocessors import Preprocessor

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
BRANCH = "main"  # the branch Colab opens the notebooks from
RELEASE_FOLDER = "notebooks"
PLACEHOLDER = re.compile(r"\{\{\s*(repository_url|colab_url)\s*\}\}")


STUDENT_EDITION = "Student edition"  # the [project.urls] key students' links point at
INSTRUCTOR_REPOSITORY = "Repository"


def project_url(key: str, pyproject: Path = PYPROJECT) -> str:
    """A GitHub repository's address from ``[project.urls]`` of ``pyproject.toml``."""
    with pyproject.open("rb") as file:
        urls = tomllib.load(file).get("project", {}).get("urls", {})
    url = urls.get(key, "")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(
            f"{pyproject}: [project.urls] {key} must be a GitHub repository's address "
            f"like https://github.com/OWNER/NAME (Colab opens notebooks from GitHub), not {url!r}")
    return url


def repository_url(pyproject: Path = PYPROJECT) -> str:
    """The student edition's address: where Colab installs the helper package from."""
    return project_url(STUDENT_EDITION, pyproject)


def instructor_repository_url(pyproject: Path = PYPROJECT) -> str:
    """The instructor repository's address (private: never in a student notebook)."""
    return project_url(INSTRUCTOR_REPOSITORY, pyproject)


def colab_url(assignment: str, notebook: str, repository: str | None = None) -> str:
    """The address that opens the student version of a notebook in Google Colab (student edition)."""
    owner_and_name = (repository or repository_url()).removeprefix("https://github.com/")
    return (f"https://colab.research.google.com/github/{owner_and_name}/blob/{BRANCH}/"
            f"{RELEASE_FOLDER}/{assignment}/{notebook}.ipynb")


def fill_links(text: str, assignment: str, notebook: str, repository: str) -> str:
    """``text`` with its placeholders replaced."""
    values = {"repository_url": repository, "colab_url": colab_url(assignment, notebook, repository)}
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


class FillCourseLinks(Preprocessor):
    """Replace ``{{ repository_url }}`` and ``{{ colab_url }}`` in every cell."""

    enabled = True  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        assignment, notebook = info.get("assignment"), info.get("notebook")
        if not assignment or not notebook:
            raise ValueError("FillCourseLinks runs inside nbgrader, which names the notebook")
        repository = repository_url()
        for cell in nb.cells:
            cell.source = fill_links(cell.source, assignment, notebook, repository)
        return nb, resources
