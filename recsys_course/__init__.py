"""Helpers shared by the notebooks of the MovieLens recommendation course.

Each notebook imports what it needs from here, so that the notebooks stay
about ideas and the reusable code is tested once:

- :mod:`recsys_course.movielens`: ``load_movielens`` and the course's columns;
- :mod:`recsys_course.fetch`: ``fetch_movielens`` (GroupLens, the package
  index, a zip) and ``make_synthetic_movielens``;
- :mod:`recsys_course.data_home`: where the data lives;
- :mod:`recsys_course.notebook`: ``setup_notebook``, the first call of every notebook.

Names are imported on first use, so that ``import recsys_course`` stays
instant and a command line tool pays only for the modules it needs.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "data_home": "data_home",
    "FetchError": "fetch",
    "fetch_movielens": "fetch",
    "make_synthetic_movielens": "fetch",
    "MovieLens": "movielens",
    "load_movielens": "movielens",
    "setup_notebook": "notebook",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
