"""grader.sandbox_kernel: what a process started the way the grading kernel is can see and reach.

A probe script runs inside the sandbox (the same namespaces, root and
mounts as a kernel, under a policy like the grader's) and reports what it
lists and which connections it can open; nothing here starts Jupyter.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grader.grade_one import GradeJob, library_paths, sandbox_policy
from grader.sandbox_kernel import (
    MISSING, SandboxPolicy, interpreter_paths, missing_features, platform_features, sandboxed_command,
)

REPO = Path(__file__).resolve().parent.parent
FEATURES = platform_features()
needs_namespaces = pytest.mark.skipif("namespaces" not in FEATURES,
                                      reason="no user namespaces here: the kernel runs unisolated (isolation: none)")

PROBE = r'''
import json, os, socket, sys
seen = {}
for path in sys.argv[2:]:
    try:
        seen[path] = sorted(os.listdir(path))
    except OSError as error:
        seen[path] = type(error).__name__
def connect(host, port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as error:
        return type(error).__name__
    finally:
        s.close()
interfaces = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
report = {"seen": seen, "interfaces": interfaces, "uid": os.getuid(), "cwd": os.getcwd(),
          "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
          "loopback": connect("127.0.0.1", int(sys.argv[1]))}
# A public address is tried only when no interface but loopback exists: then nothing can leave.
if interfaces == ["lo"]:
    report["public"] = connect("192.0.2.1", 80)  # TEST-NET-1, reserved for documentation
try:
    report["own_name"] = socket.gethostbyname(socket.gethostname())
except OSError as error:
    report["own_name"] = type(error).__name__
try:
    open("/etc/written-by-the-kernel", "w")
    report["etc_writable"] = True
except OSError:
    report["etc_writable"] = False
open("probe.json", "w").write(json.dumps(report))
import numpy  # the interpreter's packages work
'''


@pytest.fixture
def probe(tmp_path):
    """Run PROBE in the sandbox with a grader-like policy; return its report."""
    submission = tmp_path / "course" / "grading" / "autograded" / "s01" / "01_x"
    submission.mkdir(parents=True)
    secrets = {  # what an earlier grading run or another copy of the course leaves around
        "old_output": tmp_path / "old-grading-output" / ".templates" / "01_x" / "solutions" / "01_x" / "01_x.ipynb",
        "gradebook": tmp_path / "course" / "grading" / "gradebook.db",
        "solution": tmp_path / "course" / "solutions" / "01_x" / "01_x.ipynb",
    }
    for path in secrets.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the answers")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    work = tmp_path / "work"
    work.mkdir()
    job = GradeJob(student="s01", assignment="01_x", submitted="", template="", release="", source="",
                   data_dir=str(tmp_path / "data"), feedback_html="")
    (tmp_path / "data" / "ml-100k").mkdir(parents=True)
    policy = sandbox_policy(job, submission, work, work / "report.json")
    (work / "root").mkdir()
    listed = ["/", "/tmp", "/work", str(Path.home()), str(REPO), str(tmp_path), str(tmp_path / "old-grading-output"),
              str(tmp_path / "course"), str(tmp_path / "course" / "grading"), str(submission), str(tmp_path / "data"),
              "/etc", "/dev"]
    command = sandboxed_command(policy, [sys.executable, "-c", PROBE, str(listener.getsockname()[1]), *listed],
                                work / "root", cwd=str(submission))
    try:
        done = subprocess.run(command, cwd=submission, capture_output=True, text=True, timeout=120)
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((submission / "probe.json").read_text())
    report.update(policy=policy, tmp_path=tmp_path, submission=submission, secrets=secrets)
    return report


@needs_namespaces
def test_the_kernel_sees_only_the_allowed_paths(probe):
    seen, tmp_path = probe["seen"], probe["tmp_path"]
    allowed = {os.path.realpath(p) for p in probe["policy"].read_only + probe["policy"].writable}
    # Each folder it can list is a path the policy allows, or a parent on the way to one.
    for path, entries in seen.items():
        if isinstance(entries, list):
            real = os.path.realpath(path)
            assert any(a == real or a.startswith(real.rstrip("/") + "/") or real.startswith(a + "/")
                       or real in ("/", "/etc", "/dev", "/tmp") for a in allowed), (path, entries)
    assert seen["/tmp"] != sorted(os.listdir("/tmp")), "the host's /tmp is visible"
    assert seen[str(tmp_path / "old-grading-output")] == "FileNotFoundError"
    assert seen[str(tmp_path / "course")] == ["grading"]  # only the way to the submission
    assert seen[str(tmp_path / "course" / "grading")] == ["autograded"]  # no gradebook.db
    assert seen[str(probe["submission"])] == []  # its own folder, writable (probe.json was written there)
    assert seen[str(tmp_path / "data")] == ["ml-100k"]
    repo_entries = seen[str(REPO)]
    assert "solutions" not in repo_entries and "grader" not in repo_entries and "tests" not in repo_entries
    assert set(seen["/"]) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "tmp", "dev", "proc", "etc",
                              *{Path(p).parts[1] for p in allowed}}
    assert set(seen["/etc"]) <= {"passwd", "group", "hosts", "ld.so.cache"}
    assert set(seen["/dev"]) == {"null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout",
                                 "stderr"}
    assert probe["uid"] != 0 and not probe["etc_writable"]
    assert probe["cwd"] == str(probe["submission"])


@needs_namespaces
def test_the_kernel_has_its_own_processes_and_no_network(probe):
    if "pid" in FEATURES:
        assert probe["pids"][0] == 1 and len(probe["pids"]) <= 3, probe["pids"]
    if "network" not in FEATURES:
        pytest.skip(MISSING["network"])
    assert probe["interfaces"] == ["lo"]
    assert probe["loopback"] == "ConnectionRefusedError", "the grader's loopback is reachable"
    assert probe["public"] in ("OSError", "TimeoutError")  # ENETUNREACH: no route out
    assert probe["own_name"] == "127.0.0.1"  # the machine's name resolves (Java and Spark look it up)


def test_the_report_says_what_the_platform_lacks():
    assert missing_features(frozenset({"namespaces", "pid", "network"})) == []
    assert missing_features(frozenset()) == list(MISSING.values())
    assert missing_features(frozenset({"namespaces", "pid"})) == [MISSING["network"]]


def test_the_policy_names_the_interpreter_library_data_and_submission(tmp_path):
    job = GradeJob(student="s", assignment="a", submitted="", template="", release="", source="",
                   data_dir=str(tmp_path / "data"), feedback_html="", memory_mb=1234)
    policy = sandbox_policy(job, tmp_path / "sub", tmp_path / "work", tmp_path / "report.json")
    assert set(interpreter_paths()) <= set(policy.read_only)
    assert set(library_paths()) <= set(policy.read_only)
    assert str(tmp_path / "data") in policy.read_only
    assert policy.writable == [str(tmp_path / "sub"), str(tmp_path / "work" / "kernel")]
    assert policy.memory_mb == 1234
    assert not any(str(REPO / part) in policy.read_only for part in ("solutions", "grader", "tests"))
    assert SandboxPolicy.load(_saved(policy, tmp_path)) == policy


def _saved(policy: SandboxPolicy, tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    policy.save(path)
    return path


_SAME_TRANSFORMS = r'''
import glob, json, sys
from IPython.core.inputtransformer2 import TransformerManager
from grader.inline_hidden_helpers import inlined_source_notebook
from grader.kernel_zygote import skip_token_transforms_of_plain_python

cells = ["%timeit x = 1\n", "files = !ls\nprint(files)", "x?", "%%bash\necho hi", "a = %pwd", "len?\n",
         "\n\n  x = 1\n  y = 2", ">>> x = 1\n>>> x", "s = '\\d'\n", "if True:\n    pass\n%time 1"]
for path in sorted(glob.glob("solutions/*/*.ipynb")):
    notebook = json.load(open(path))
    cells += ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    cells += [cell.source for cell in inlined_source_notebook(path).cells if cell.cell_type == "code"]
before = [TransformerManager().transform_cell(cell) for cell in cells]
skip_token_transforms_of_plain_python()
after = [TransformerManager().transform_cell(cell) for cell in cells]
different = [cell[:80] for cell, old, new in zip(cells, before, after) if old != new]
print(len(cells), "cells", different)
sys.exit(1 if different else 0)
'''


def test_graded_kernels_transform_every_cell_as_ipython_does():
    """The zygote's kernels skip IPython's token transforms for plain Python: same text for every cell
    of the series (sources and inlined hidden tests) and for magics, shell commands and help."""
    result = subprocess.run([sys.executable, "-c", _SAME_TRANSFORMS], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
