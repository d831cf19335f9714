"""Fill the course's links into the student notebooks as nbgrader generates them.

The source notebooks say ``{{ repository_url }}`` (where Colab installs the
helper package from) and ``{{ colab_url }}`` (the notebook's own "Open in
Colab" link) instead of a fixed address, so that a fork changes one line,
``Repository`` under ``[project.urls]`` in ``pyproject.toml``, and
regenerates. This preprocessor runs first in ``generate_assignment`` (see
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


def repository_url(pyproject: Path = PYPROJECT) -> str:
    """The course repository's address, from ``[project.urls]`` of ``pyproject.toml``."""
    with pyproject.open("rb") as file:
        urls = tomllib.load(file).get("project", {}).get("urls", {})
    url = urls.get("Repository", "")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(
            f"{pyproject}: [project.urls] Repository must be a GitHub repository's address "
            f"like https://github.com/OWNER/NAME (Colab opens notebooks from GitHub), not {url!r}")
    return url


def colab_url(assignment: str, notebook: str, repository: str | None = None) -> str:
    """The address that opens the student version of a notebook in Google Colab."""
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
