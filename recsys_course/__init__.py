"""Helpers shared by the notebooks of the MovieLens recommendation course.

Each notebook imports what it needs from here, so that the notebooks stay
about ideas and the reusable code is tested once:

- :mod:`recsys_course.movielens`: ``load_movielens`` and the course's columns;
- :mod:`recsys_course.fetch`: ``fetch_movielens`` (GroupLens, the package
  index, a zip) and ``make_synthetic_movielens``;
- :mod:`recsys_course.data_home`: where the data lives.
"""

from .data_home import data_home
from .fetch import FetchError, fetch_movielens, make_synthetic_movielens
from .movielens import MovieLens, load_movielens
from .notebook import setup_notebook

__all__ = ["FetchError", "MovieLens", "data_home", "fetch_movielens", "load_movielens",
           "make_synthetic_movielens", "setup_notebook"]
__version__ = "0.1.0"
