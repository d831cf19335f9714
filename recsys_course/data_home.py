"""Where the course keeps its data.

One rule for every notebook, script and test: the environment variable
``RECSYS_COURSE_DATA`` names the data folder when it is set; otherwise a
checkout of the course repository keeps its data in ``<repo>/data`` (git
ignores it), and an installed copy of the package (Colab) in
``~/recsys_course_data``. Each data set lives in a sub-folder of it, the real
MovieLens 100K in ``ml-100k``, as in GroupLens's zip.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "RECSYS_COURSE_DATA"
MOVIELENS_FOLDER = "ml-100k"


def data_home() -> Path:
    """Return the folder that holds the course's data sets (not created here)."""
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR]).expanduser().resolve()
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file() and (repo / "data_scripts").is_dir():
        return repo / "data"
    return Path.home() / "recsys_course_data"


def cache_home() -> Path:
    """Return the folder for downloads worth keeping between fetches."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recsys_course"
