"""The files of MovieLens 100K as GroupLens publishes them: read, write, check.

The formats (from GroupLens's README of ml-100k):

- ``u.data``: tab separated ``user id, item id, rating, timestamp``;
- ``u.item``: ``|`` separated, latin-1: ``movie id | title | release date |
  video release date | IMDb URL | 19 genre flags`` (dates like
  ``01-Jan-1995``; the video release date is always empty);
- ``u.user``: ``|`` separated ``user id | age | sex | occupation | zip code``;
- ``u.genre`` (``name|index``), ``u.occupation`` (one a line), ``u.info``
  (counts).

Ids start at 1 in the files. The frames here keep the files' ids; shifting
them to 0 is :func:`recsys_course.movielens.load_movielens`'s job.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: checking a manifest needs none of it
    import pandas as pd

GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
    "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
    "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
RATING_COLUMNS = ["user_id", "movie_id", "rating", "unix_timestamp"]
USER_COLUMNS = ["user_id", "age", "sex", "occupation", "zip_code"]
MOVIE_COLUMNS = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES]
# The files every loader needs; the others are descriptive.
CORE_FILES = ("u.data", "u.item", "u.user")
ALL_FILES = (*CORE_FILES, "u.genre", "u.occupation", "u.info")
ENCODING = "latin-1"


class MovieLensFormatError(ValueError):
    """A MovieLens file is missing or does not have GroupLens's format."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``sha256``, or ``sha1`` as GroupLens's zip is pinned)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return file_digest(path, "sha256")


def _read_table(path: Path, sep: str, names: list[str], dtypes: dict) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise MovieLensFormatError(f"{path} is missing")
    try:
        frame = pd.read_csv(
            path, sep=sep, names=names, header=None, encoding=ENCODING,
            quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""],
            dtype=dtypes, on_bad_lines="error", engine="c",
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise MovieLensFormatError(f"{path.name} is malformed: {error}") from error
    if frame.empty:
        raise MovieLensFormatError(f"{path.name} is empty")
    return frame


def read_ratings_file(folder: Path) -> pd.DataFrame:
    """Read ``u.data`` with the file's 1-based ids."""
    frame = _read_table(Path(folder) / "u.data", "\t", RATING_COLUMNS, dict.fromkeys(RATING_COLUMNS, "int64"))
    if not frame["rating"].between(1, 5).all():
        raise MovieLensFormatError("u.data is malformed: ratings must be whole numbers from 1 to 5")
    return frame


def read_users_file(folder: Path) -> pd.DataFrame:
    """Read ``u.user`` with the file's 1-based ids."""
    dtypes = {"user_id": "int64", "age": "int64", "sex": str, "occupation": str, "zip_code": str}
    return _read_table(Path(folder) / "u.user", "|", USER_COLUMNS, dtypes)


def read_movies_file(folder: Path) -> pd.DataFrame:
    """Read ``u.item`` with the file's 1-based ids; missing text fields are empty strings."""
    dtypes = {"movie_id": "int64", "title": str, "release_date": str,
              "video_release_date": str, "imdb_url": str, **dict.fromkeys(GENRES, "int64")}
    frame = _read_table(Path(folder) / "u.item", "|", MOVIE_COLUMNS, dtypes)
    text = ["title", "release_date", "video_release_date", "imdb_url"]
    frame[text] = frame[text].fillna("")
    return frame


def check_movielens_folder(folder: Path) -> dict[str, int]:
    """Parse the core files and check that they fit together.

    Returns the counts ``{'users': ..., 'movies': ..., 'ratings': ...}``;
    raises :class:`MovieLensFormatError` saying what is wrong otherwise.
    """
    folder = Path(folder)
    ratings = read_ratings_file(folder)
    users = read_users_file(folder)
    movies = read_movies_file(folder)
    for name, frame, column in (("u.user", users, "user_id"), ("u.item", movies, "movie_id")):
        ids = frame[column]
        if ids.duplicated().any() or ids.min() < 1:
            raise MovieLensFormatError(f"{name} is malformed: ids must be unique and start at 1")
    unknown_users = ~ratings["user_id"].isin(users["user_id"])
    unknown_movies = ~ratings["movie_id"].isin(movies["movie_id"])
    if unknown_users.any() or unknown_movies.any():
        raise MovieLensFormatError("u.data rates users or movies that u.user / u.item do not list")
    return {"users": len(users), "movies": len(movies), "ratings": len(ratings)}


def write_movielens_files(folder: Path, users: pd.DataFrame, movies: pd.DataFrame,
                          ratings: pd.DataFrame) -> None:
    """Write frames with the file's column names and 1-based ids in GroupLens's formats."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def write_lines(name: str, lines) -> None:
        # newline="\n": the files have Unix line ends on every platform.
        with open(folder / name, "w", encoding=ENCODING, newline="\n") as handle:
            handle.writelines(line + "\n" for line in lines)

    write_lines("u.data", (
        f"{u}\t{m}\t{r}\t{t}" for u, m, r, t in ratings[RATING_COLUMNS].itertuples(index=False)
    ))
    write_lines("u.user", (
        "|".join(str(value) for value in row) for row in users[USER_COLUMNS].itertuples(index=False)
    ))
    movie_text = movies[MOVIE_COLUMNS].astype(object).where(movies[MOVIE_COLUMNS].notna(), "")
    write_lines("u.item", (
        "|".join(str(value) for value in row) for row in movie_text.itertuples(index=False)
    ))
    write_lines("u.genre", (f"{genre}|{index}" for index, genre in enumerate(GENRES)))
    write_lines("u.occupation", sorted(users["occupation"].unique()))
    write_lines("u.info", (
        f"{len(users)} users", f"{len(movies)} items", f"{len(ratings)} ratings",
    ))
