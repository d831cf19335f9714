"""The ml-25m source of the fetch script: checksum, extraction, reuse, and the offline message.

GroupLens cannot be reached from CI, so a small fake ``ml-25m.zip`` stands in
for the real one (its MD5 passed in place of GroupLens's), served through a
``file://`` URL for the download path; the pinned MD5 is GroupLens's own.
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pytest

from recsys_course import fetch_ml25m as ml25m
from recsys_course.fetch import FetchError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "data_scripts"))
import fetch_movielens as cli  # noqa: E402

RATINGS = "userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n2,296,4.0,1141415820\n"
MOVIES = "movieId,title,genres\n296,Pulp Fiction (1994),Comedy|Crime|Drama|Thriller\n306,Three Colors: Red (1994),Drama\n"


def fake_zip(path: Path, prefix: str = "ml-25m/", ratings: str = RATINGS) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(prefix, "")
        archive.writestr(prefix + "ratings.csv", ratings)
        archive.writestr(prefix + "movies.csv", MOVIES)
        archive.writestr(prefix + "README.txt", "a stand-in for GroupLens's zip")
    path.write_bytes(buffer.getvalue())
    return hashlib.md5(buffer.getvalue()).hexdigest()


def test_the_pinned_checksum_is_groupLens_published_md5():
    assert ml25m.ML25M_MD5 == "6b51fb2759a8657d3bfcbfc42b592ada"
    assert ml25m.ML25M_URL.endswith("/movielens/ml-25m.zip")


def test_a_zip_is_checked_extracted_and_reused(tmp_path):
    archive = tmp_path / "ml-25m.zip"
    md5 = fake_zip(archive)
    result = ml25m.fetch_ml25m(tmp_path / "data", zip_path=archive, md5=md5)
    folder = tmp_path / "data" / "ml-25m"
    assert result.folder == folder and result.source == "zip" and not result.reused
    assert (folder / "ratings.csv").read_text() == RATINGS
    assert ml25m.ml25m_ratings_file(tmp_path / "data") == folder / "ratings.csv"
    again = ml25m.fetch_ml25m(tmp_path / "data", zip_path=archive, md5=md5)
    assert again.reused
    (folder / "ratings.csv").write_text(RATINGS[:40])  # damaged: no longer complete
    assert ml25m.ml25m_ratings_file(tmp_path / "data") is None


def test_a_wrong_checksum_changes_nothing(tmp_path):
    archive = tmp_path / "ml-25m.zip"
    fake_zip(archive)
    with pytest.raises(FetchError, match="MD5") as error:
        ml25m.fetch_ml25m(tmp_path / "data", zip_path=archive)  # GroupLens's MD5: the fake differs
    assert "download it again" in error.value.hint
    assert not (tmp_path / "data" / "ml-25m").exists()
    assert not list((tmp_path / "data").glob(".ml-25m-*"))  # no staging folder left behind


@pytest.mark.parametrize("prefix, ratings, message", [
    ("ml-100k/", RATINGS, "has no ml-25m/ratings.csv"),
    ("ml-25m/", "user,item\n1,2\n", "starts with"),
])
def test_a_zip_that_is_not_ml25m_is_refused(tmp_path, prefix, ratings, message):
    archive = tmp_path / "other.zip"
    md5 = fake_zip(archive, prefix=prefix, ratings=ratings)
    with pytest.raises(FetchError, match=message):
        ml25m.fetch_ml25m(tmp_path / "data", zip_path=archive, md5=md5)
    assert not (tmp_path / "data" / "ml-25m").exists()


def test_a_truncated_zip_is_refused(tmp_path):
    archive = tmp_path / "ml-25m.zip"
    fake_zip(archive)
    archive.write_bytes(archive.read_bytes()[:100])
    with pytest.raises(FetchError, match="not a readable zip"):
        ml25m.fetch_ml25m(tmp_path / "data", zip_path=archive, md5=ml25m.md5_of(archive))


def test_download_path_checks_and_extracts(tmp_path):
    archive = tmp_path / "served" / "ml-25m.zip"
    archive.parent.mkdir()
    md5 = fake_zip(archive)
    result = ml25m.fetch_ml25m(tmp_path / "data", url=archive.as_uri(), md5=md5)
    assert result.source == "grouplens" and result.downloaded_bytes == archive.stat().st_size
    assert sorted(p.name for p in result.folder.iterdir()) == [".fetched.json", "README.txt", "movies.csv",
                                                               "ratings.csv"]


def test_offline_gives_the_manual_route(tmp_path, capsys):
    unreachable = "http://127.0.0.1:9/ml-25m.zip"  # the discard port: nothing listens
    with pytest.raises(FetchError) as error:
        ml25m.fetch_ml25m(tmp_path / "data", url=unreachable)
    assert "could not be reached" in str(error.value)
    assert ml25m.ML25M_PAGE in error.value.hint and "--source ml-25m" in error.value.hint
    assert not (tmp_path / "data" / "ml-25m").exists()


def test_command_line(tmp_path, capsys):
    archive = tmp_path / "ml-25m.zip"
    fake_zip(archive)
    code = cli.main(["--source", "ml-25m", str(archive), "--dest", str(tmp_path / "data")])
    assert code == 2  # the fake zip is not GroupLens's: refused, with a hint
    assert "MD5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--source", "grouplens", str(archive)])  # a zip path only with zip or ml-25m


def test_the_fetch_says_each_step_checksum_and_extraction_with_a_bar(tmp_path, capsys):
    archive = tmp_path / "ml-25m.zip"
    md5 = fake_zip(archive)
    ml25m.fetch_ml25m(tmp_path / "data", zip_path=archive, md5=md5)
    out = capsys.readouterr().out
    assert "Checking the MD5 of ml-25m.zip (0 MB) ..." in out
    total = (len(RATINGS) + len(MOVIES) + len("a stand-in for GroupLens's zip")) / 1e6
    assert "\rextracting 3 files of ml-25m.zip [" in out and f"100.0%  {total:.1f}/{total:.1f} MB" in out
    assert out.endswith("\n")
