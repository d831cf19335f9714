"""MovieLens 25M for notebook 11's scale experiment: fetched, checked, extracted.

    python data_scripts/fetch_movielens.py --source ml-25m                    # from GroupLens (262 MB)
    python data_scripts/fetch_movielens.py --source ml-25m ~/Downloads/ml-25m.zip   # a copy fetched by hand

MovieLens 25M (162,541 users, 59,047 movies, 25,000,095 ratings, 0.5-5
stars) is GroupLens's, under the same licence as 100K: never in the
repository. GroupLens publishes the MD5 of its zip (``ml-25m.zip.md5``),
which is pinned here and checked before anything is extracted. The files
land in ``<data home>/ml-25m`` (``ratings.csv``, ``movies.csv``, ...) with a
``.fetched.json`` manifest; like the 100K fetch, extraction happens in a
hidden temporary folder that replaces the target only once complete, and a
complete copy is never fetched twice.

Progress, on standard output: the download's bar (percent, megabytes, rate),
then ``Checking the MD5 of ml-25m.zip (262 MB) ... 0.6 s``, then the
extraction's own bar over the 1.2 GB it writes
(``extracting ratings.csv [####------] 41.0% 480.1/1171.0 MB``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from .data_home import data_home
from .fetch import FetchError, FetchResult, ProgressBar, SourceUnreachable, download_file, swap_in
from .progress import say, step

ML25M_FOLDER = "ml-25m"
ML25M_URL = "https://files.grouplens.org/datasets/movielens/ml-25m.zip"
ML25M_PAGE = "https://grouplens.org/datasets/movielens/25m/"
ML25M_MD5 = "6b51fb2759a8657d3bfcbfc42b592ada"  # GroupLens's ml-25m.zip.md5
ML25M_COUNTS = {"users": 162_541, "movies": 59_047, "ratings": 25_000_095}
REQUIRED_FILES = ("ratings.csv", "movies.csv")
MANIFEST = ".fetched.json"
RATINGS_HEADER = "userId,movieId,rating,timestamp"


def md5_of(path: Path) -> str:
    digest = hashlib.md5()  # what GroupLens publishes; not used for security
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ml25m_folder(dest: Path | str | None = None) -> Path:
    """Where MovieLens 25M lives: ``<dest or data home>/ml-25m``."""
    return Path(dest or data_home()).expanduser().resolve() / ML25M_FOLDER


def ml25m_ratings_file(dest: Path | str | None = None) -> Path | None:
    """The path of ``ratings.csv`` when a complete copy is in place, else None."""
    folder = ml25m_folder(dest)
    return folder / "ratings.csv" if _complete(folder) else None


def _complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size
               for name, size in manifest.get("sizes", {}).items()) and bool(manifest.get("sizes"))


def extract_ml25m_zip(zip_path: Path, folder: Path) -> dict[str, int]:
    """Extract the ``ml-25m/`` files of the zip into ``folder``; return ``{file: size}``."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = {Path(name).name: name for name in archive.namelist()
                       if name.startswith(f"{ML25M_FOLDER}/") and not name.endswith("/")}
            missing = [name for name in REQUIRED_FILES if name not in members]
            if missing:
                raise FetchError(f"{zip_path.name} has no {ML25M_FOLDER}/{missing[0]}: it is not GroupLens's ml-25m.zip",
                                 f"download ml-25m.zip from {ML25M_PAGE} unchanged")
            sizes, done = {}, 0
            total = sum(archive.getinfo(member).file_size for member in members.values())
            bar = ProgressBar(total, f"extracting {len(members)} files of {zip_path.name}")
            for name, member in members.items():
                with archive.open(member) as source, open(folder / name, "wb") as target:
                    while block := source.read(1 << 20):
                        target.write(block)
                        done += len(block)
                        bar.update(done)
                sizes[name] = (folder / name).stat().st_size
            bar.close(done)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zipfile.error) as error:
        raise FetchError(f"{zip_path.name} is not a readable zip (truncated or corrupt): {error}",
                         "download it again; nothing was changed in the data folder") from error
    with open(folder / "ratings.csv", encoding="utf-8") as ratings:
        header = ratings.readline().strip()
    if header != RATINGS_HEADER:
        raise FetchError(f"ratings.csv starts with {header!r}, expected {RATINGS_HEADER!r}",
                         f"download ml-25m.zip from {ML25M_PAGE} unchanged")
    return sizes


def _check_md5(zip_path: Path, md5: str) -> str:
    with step(f"Checking the MD5 of {zip_path.name} ({zip_path.stat().st_size / 1e6:,.0f} MB)"):
        actual = md5_of(zip_path)
    if actual != md5:
        raise FetchError(f"{zip_path.name} has MD5 {actual}, GroupLens publishes {md5}: "
                         "it is damaged or not the original",
                         "download it again; nothing was changed in the data folder")
    return actual


def fetch_ml25m(dest: Path | str | None = None, *, zip_path: Path | str | None = None, force: bool = False,
                url: str = ML25M_URL, md5: str = ML25M_MD5) -> FetchResult:
    """Make sure ``<dest>/ml-25m`` holds MovieLens 25M: from GroupLens, or from ``zip_path``.

    Raises:
        FetchError: the zip is damaged (MD5), not MovieLens 25M, or GroupLens
            cannot be reached; its ``hint`` says how to fetch it by hand.
    """
    start = time.perf_counter()
    target = ml25m_folder(dest)
    if not force and _complete(target):
        manifest = json.loads((target / MANIFEST).read_text())
        return FetchResult(target, manifest["source"], ML25M_COUNTS, 0, True, time.perf_counter() - start)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a fetch that was killed
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    staging.chmod(0o755)
    try:
        if zip_path is not None:
            source, archive, downloaded = "zip", Path(zip_path).expanduser(), 0
            if not archive.is_file():
                raise FetchError(f"{archive} does not exist", f"give the path of ml-25m.zip ({ML25M_PAGE})")
        else:
            source, archive = "grouplens", staging / "ml-25m.zip.part"
            say(f"Downloading MovieLens 25M (262 MB) from {url}\n")
            try:
                downloaded = download_file(url, archive, label="ml-25m.zip")
            except SourceUnreachable as error:
                raise FetchError(
                    f"GroupLens could not be reached ({error}); MovieLens 25M has no other source",
                    f"download ml-25m.zip (262 MB) by hand from {ML25M_PAGE}, then run "
                    "python data_scripts/fetch_movielens.py --source ml-25m PATH/TO/ml-25m.zip") from error
        zip_md5 = _check_md5(archive, md5)
        sizes = extract_ml25m_zip(archive, staging)
        if source == "grouplens":
            archive.unlink()
        (staging / MANIFEST).write_text(json.dumps(
            {"source": source, "zip_md5": zip_md5, "sizes": sizes, "url": url if source == "grouplens" else None},
            indent=1) + "\n")
        swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchResult(target, source, ML25M_COUNTS, downloaded, False, time.perf_counter() - start)
