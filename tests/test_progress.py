"""recsys_course.progress: a long step says what it does, then how long it took; silent under the grader."""

from __future__ import annotations

import io
import re

import pytest

from recsys_course.progress import progress_wanted, say, step


def test_a_step_opens_its_line_before_and_closes_it_with_the_time(capsys):
    with step("Spark: reading ratings.csv (678 MB)"):
        assert capsys.readouterr().out == "Spark: reading ratings.csv (678 MB) ..."
    assert re.fullmatch(r" \d+\.\d s\n", capsys.readouterr().out)


def test_a_failed_step_says_so_and_the_error_goes_on(capsys):
    with pytest.raises(ValueError), step("extracting"):
        raise ValueError("corrupt")
    assert re.fullmatch(r"extracting \.\.\. failed after \d+\.\d s\n", capsys.readouterr().out)


def test_progress_goes_to_stdout_never_stderr_and_is_silent_under_the_grader(capsys, monkeypatch):
    stream = io.StringIO()
    say("hello\n", stream)
    assert stream.getvalue() == "hello\n"
    monkeypatch.setenv("RECSYS_GRADER_GUARDED", "1")
    assert not progress_wanted()
    with step("training"):
        say("more")
    assert capsys.readouterr() == ("", "")
