"""``nbgrader validate`` for one notebook after another in one process (tests/test_nbgrader_validate.py).

Started with the environment of a student's validation, it reads one JSON
line per notebook on stdin, ``{"notebook": path}``, runs nbgrader's command
line application (``NbGraderApp``, as ``nbgrader validate <notebook>`` does)
in the notebook's work folder, and answers with one JSON line,
``{"stdout", "stderr", "returncode", "seconds"}``. It exits at the end of stdin.

Why not one ``nbgrader validate`` process per notebook: each spends about 4 CPU
seconds importing nbgrader (2.3 of them in ``rfc3987_syntax``, which jsonschema
imports and which builds a Lark grammar at import), the cost of a small
notebook. The Validate button runs the same Validator inside the long-lived
notebook server, so a process that validates several notebooks is what a
student's button does. The notebook's kernel is, as before, a fresh process.

What a notebook's validation writes goes, at the file-descriptor level, to
two pipes of its own: the kernel and its children (which inherit them) write
there too, and a pipe is read to its end, when the last of them has exited:
a warning printed by a child process as the kernel dies is still this
notebook's, as with ``subprocess.run``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

# The last process holding a pipe may be a grandchild of the kernel; past this, the answer is sent anyway.
PIPE_DRAIN_SECONDS = 120


def _drain(fd: int, chunks: list[bytes]) -> None:
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)


def _run_nbgrader(args: list[str]) -> int:
    """``nbgrader <args>`` in this process: nbgrader's own command line application, then its reset."""
    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp

    app = NbGraderApp.instance()
    try:
        app.initialize(args)
        app.start()
    except NoStart:  # how a Jupyter application ends once its subcommand has run
        return 0
    except SystemExit as stop:  # app.fail exits, as the command does
        return stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported like the command's uncaught error
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        app.reset()  # nbgrader's apps are singletons: the next notebook gets fresh ones
    return 0


def validate(notebook: Path) -> dict:
    """Validate ``notebook`` from its work folder (two levels up), capturing everything written to fd 1 and 2."""
    started = time.monotonic()
    work_folder = notebook.parent.parent
    outputs: dict[int, list[bytes]] = {1: [], 2: []}
    saved, readers = {}, []
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, chunks in outputs.items():
        read_end, write_end = os.pipe()
        saved[fd] = os.dup(fd)
        os.dup2(write_end, fd)  # inheritable: the kernel and its children write here
        os.close(write_end)
        readers.append(threading.Thread(target=_drain, args=(read_end, chunks), daemon=True))
        readers[-1].start()
    before = os.getcwd()
    os.chdir(work_folder)
    try:
        returncode = _run_nbgrader(["validate", str(notebook.relative_to(work_folder))])
    finally:
        os.chdir(before)
        for fd, copy in saved.items():
            os.dup2(copy, fd)  # this process lets go of the pipes; the readers end when the kernel's children do
            os.close(copy)
    for reader in readers:
        reader.join(PIPE_DRAIN_SECONDS)
    text = {fd: b"".join(chunks).decode("utf-8", "replace") for fd, chunks in outputs.items()}
    return {"stdout": text[1], "stderr": text[2], "returncode": returncode, "seconds": time.monotonic() - started}


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)  # fd 1 itself is redirected during each validation
    for line in sys.stdin:
        if line.strip():
            answers.write(json.dumps(validate(Path(json.loads(line)["notebook"]))) + "\n")


if __name__ == "__main__":
    main()
