"""Sandboxed kernels forked from a template that has imported the course's stack once.

A grading kernel used to spend most of its CPU time importing TensorFlow
(about 4 of its 7 CPU seconds). The zygote is a process that imports what the
notebooks import (numpy, pandas, SciPy, TensorFlow, Keras, Altair, the
course library, ipykernel) once per grading run and then only forks: each
notebook's kernel is a fresh child of it, made before the zygote reads the
request (:mod:`grader.fork_server`), so no notebook's code or data has ever
been in the process it starts from. The child then builds its sandbox
exactly as :mod:`grader.sandbox_kernel` does for a kernel it starts itself:

1. new user, mount, network and PID namespaces (``unshare``), its first
   process the kernel, so when it ends everything it started ends;
2. the allow-list root of the notebook's own policy (the same mount script:
   the submission's folder and the kernel's private folder writable, Python,
   the library and the data read-only, a fresh private ``/tmp``, ``/dev``,
   ``/proc`` and ``/etc``), then ``pivot_root``, the old root detached;
3. a nested user namespace as an unprivileged user (no way back);
4. every file descriptor the zygote held closed, numpy's global generator
   seeded afresh (Python's ``random`` reseeds itself after a fork), the
   grader's modules dropped, then ``ipykernel_launcher`` on the connection
   file jupyter_client gave.

jupyter_client still starts ``python -m grader.sandbox_kernel POLICY -f
CONNECTION_FILE`` from the kernel spec; with ``RECSYS_GRADER_ZYGOTE`` set
(:mod:`grader.worker_pool` sets it) that launcher is a small shim
(:func:`run_shim`): it hands the zygote its policy, environment, working
folder and standard streams, keeps the memory cap (it sums the kernel tree's
resident memory, as before), forwards interrupts, and when it is killed or
its grading worker dies, the kernel dies too. Without a zygote (it is not
running, or failed to start), the launcher starts a kernel of its own as
before.

Run as ``python -m grader.kernel_zygote SOCKET`` (by :mod:`grader.worker_pool`).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import fork_server
from .sandbox_kernel import (
    POLL_SECONDS,
    UNIMPORTABLE_IN_KERNEL,
    SandboxPolicy,
    _kill_tree,
    _mount_script,
    _report,
    missing_features,
    platform_features,
    process_tree,
)

ZYGOTE_ENV = "RECSYS_GRADER_ZYGOTE"  # the zygote's socket, for the kernel launcher

# What the notebooks import, imported once. A module that fails to import is
# left out (the notebook that needs it imports it, or fails, as it would anyway).
PRELOAD = ("numpy", "pandas", "scipy.sparse", "tensorflow", "keras", "altair",
           "recsys_course", "ipykernel.kernelapp", "ipykernel_launcher")
# Read by TensorFlow and Keras when they load: what the notebooks' setup sets
# (recsys_course.notebook.quiet_tensorflow) before importing them.
IMPORT_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_REC, MS_PRIVATE = 0x4000, 0x40000

_FEATURES: frozenset[str] = frozenset()


# --- the zygote ---------------------------------------------------------------------

def preload() -> None:
    """Import the course's stack, as a kernel would, with nothing of the grader's user around.

    HOME, IPython's and matplotlib's folders point at an empty folder while the
    libraries load (Keras reads ``~/.keras/keras.json``): the user's own settings
    must not reach graded kernels, which get a private home of their own.
    """
    global _FEATURES
    import importlib
    import pkgutil

    _FEATURES = platform_features()  # probed once, not per kernel
    empty = tempfile.mkdtemp(prefix="recsys-zygote-home-")
    os.environ.update({"HOME": empty, "IPYTHONDIR": empty, "MPLCONFIGDIR": empty, **IMPORT_ENV})
    for name in UNIMPORTABLE_IN_KERNEL:  # as KERNEL_BOOT; every kernel forked from here inherits it
        sys.modules.setdefault(name, None)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 -- see PRELOAD
            pass
    skip_token_transforms_of_plain_python()  # once, for every kernel forked from here
    library = sys.modules.get("recsys_course")
    for module in pkgutil.iter_modules(getattr(library, "__path__", [])):
        try:
            importlib.import_module(f"recsys_course.{module.name}")
        except Exception:  # noqa: BLE001 -- see PRELOAD
            pass


def kernel_child(conn: socket.socket) -> int:
    """A forked child of the zygote: read the request, sandbox itself, become the kernel."""
    request, fds = fork_server.read_request(conn)
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    # An interrupt is for the kernel: forwarded once it exists (not fatal to this waiter).
    state = {"kernel": 0}

    def forward(signum, _frame):
        if state["kernel"]:
            try:
                os.kill(state["kernel"], signal.SIGKILL if signum == signal.SIGTERM else signum)
            except OSError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    fork_server.answer(conn, pid=os.getpid())
    conn.close()
    fork_server.close_inherited_fds()
    os.environ.clear()
    os.environ.update({k: v for k, v in request["env"].items() if k != ZYGOTE_ENV})  # the kernel cannot ask
    policy = SandboxPolicy.load(Path(request["policy"]))
    cwd = request.get("cwd") or "/tmp"
    features = _FEATURES
    if "namespaces" not in features:
        _report(policy, isolation="none", missing=missing_features(features), kernel="zygote")
        os.chdir(cwd)
        return _become_kernel(request["args"])
    root = Path(request["policy"]).parent / "root"
    root.mkdir(exist_ok=True)
    _report(policy, isolation="namespaces", missing=missing_features(features), kernel="zygote")
    script = _mount_script(policy, root, features, policy.memory_mb)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWNS
    flags |= CLONE_NEWPID if "pid" in features else 0
    flags |= CLONE_NEWNET if "network" in features else 0
    _unshare(flags)
    _map_ids(0, uid, 0, gid)
    if _libc().mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "cannot make the mounts private")
    kernel = os.fork()  # the first process of the new PID namespace
    if kernel == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        subprocess.run(["sh", "-c", script], check=True, stdin=subprocess.DEVNULL)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/tmp")
        # Inside, an ordinary user with no capability left: it cannot undo the mounts.
        _unshare(CLONE_NEWUSER)
        _map_ids(1000 if uid == 0 else uid, 0, 1000 if gid == 0 else gid, 0)
        return _become_kernel(request["args"])
    state["kernel"] = kernel
    while True:
        try:
            _, status = os.waitpid(kernel, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _become_kernel(kernel_args: list[str]) -> int:
    """Run ipykernel_launcher as ``python -c KERNEL_BOOT ARGS`` would; returns its exit code."""
    import runpy
    import types

    import numpy

    for name in [name for name in sys.modules if name == "grader" or name.startswith("grader.")]:
        del sys.modules[name]
    sys.modules["__main__"] = types.ModuleType("__main__")
    sys.argv = ["-c", *kernel_args]
    sys.path[0] = ""  # as for `python -c`
    numpy.random.seed()  # a fresh process draws its own seed; a fork would share the zygote's
    code = 0
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    # No exit handlers: the kernel has answered its shutdown request, and the stack's
    # handlers take seconds (past jupyter_client's patience, which then kills the kernel).
    return code


def skip_token_transforms_of_plain_python() -> None:
    """IPython's token transforms (magics, ``!`` commands, ``?`` help) only rewrite what is not Python;
    a cell that parses as Python skips them: they tokenize the whole cell in pure Python (0.17 s of a
    kernel's CPU for notebook 7's test cells, whose inlined helpers make 240,000 characters), where
    the parser takes a fraction of that. The result is the same text either way (tested).
    """
    import ast
    import warnings

    from IPython.core.inputtransformer2 import TransformerManager

    tokenize_all = TransformerManager.do_token_transforms
    if getattr(tokenize_all, "skips_plain_python", False):
        return

    def do_token_transforms(self, lines):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the compile that runs the cell warns, once
                ast.parse("".join(lines))
        except (SyntaxError, ValueError):  # magics or other IPython syntax (or an error to report)
            return tokenize_all(self, lines)
        return lines

    do_token_transforms.skips_plain_python = True
    TransformerManager.do_token_transforms = do_token_transforms


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc().unshare(flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare({flags:#x}): {os.strerror(error)}")


def _map_ids(inner_uid: int, outer_uid: int, inner_gid: int, outer_gid: int) -> None:
    """This process's uid and gid in its new user namespace (one id each, as ``unshare --map-user``)."""
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{inner_uid} {outer_uid} 1")
    Path("/proc/self/gid_map").write_text(f"{inner_gid} {outer_gid} 1")


# --- the shim jupyter_client starts ----------------------------------------------------

def run_shim(policy_file: str, kernel_args: list[str], socket_path: str) -> int:
    """Ask the zygote for a kernel, keep its memory cap, forward signals; its exit code.

    Raises ``OSError`` when the zygote cannot be asked (the launcher then starts a kernel itself).
    """
    policy = SandboxPolicy.load(Path(policy_file))
    payload = {"policy": str(Path(policy_file).resolve()), "args": kernel_args, "env": dict(os.environ),
               "cwd": os.getcwd()}
    request = fork_server.Request(socket_path, payload, fds=[0, 1, 2], connect_timeout=30)
    try:
        kernel = request.wait_pid(timeout=600)  # the zygote may still be importing
    except (TimeoutError, OSError):
        request.close()
        raise OSError("the kernel zygote did not answer") from None

    try:
        return _supervise(request, kernel, policy)
    except Exception:  # noqa: BLE001 -- the kernel exists: never fall back to a second one
        _kill_tree(kernel)
        request.kill()
        return 1


def _supervise(request: fork_server.Request, kernel: int, policy: SandboxPolicy) -> int:
    """Wait for the kernel's end; keep its memory cap; stop it with its worker or on SIGTERM."""
    stopping: list[float] = []

    def stop(_signum, _frame):
        # The waiter kills the kernel (all of its PID namespace) and ends, reporting its CPU time.
        stopping.append(time.monotonic())
        _signal(kernel, signal.SIGTERM)

    signal.signal(signal.SIGINT, lambda *_: _signal(kernel, signal.SIGINT))
    signal.signal(signal.SIGTERM, stop)
    parent = os.getppid()
    cap = policy.memory_mb * 1024 * 1024
    while True:
        readable, _, _ = select.select([request.conn], [], [], POLL_SECONDS)
        if readable:
            try:
                request.wait_exit(timeout=5)
            except TimeoutError:
                continue
            break
        if os.getppid() != parent or (stopping and time.monotonic() - stopping[0] > 3):
            _kill_tree(kernel)  # the grading worker is gone (or the waiter did not end): so is the kernel
            break
        tree = process_tree(kernel)
        # The waiter that holds the kernel's PID namespace is a copy of the zygote doing nothing:
        # only the kernel and what it starts count, as for a kernel started as a process.
        kernel_tree = {pid: rss for pid, rss in tree.items() if pid != kernel}
        if sum(kernel_tree.values()) > cap:
            _report(policy, killed=f"memory limit exceeded ({policy.memory_mb} MB)")
            _kill_tree(kernel, kernel_tree)  # the waiter then ends by itself
            stopping.append(time.monotonic())
    if request.exit_code is None:
        try:
            request.wait_exit(timeout=10)
        except (TimeoutError, OSError):
            pass
    request.kill()
    if request.cpu_seconds is not None:
        _report(policy, kernel_cpu_seconds=request.cpu_seconds)
    code = request.exit_code
    return 1 if code is None else code


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    socket_path = Path(argv[0])
    code = fork_server.serve(socket_path, kernel_child, preload)
    os._exit(code)  # no interpreter teardown: nothing to save, and unloading this stack costs seconds


if __name__ == "__main__":
    # Started in a folder of its own: `python -m` puts the working folder on sys.path.
    sys.exit(main(sys.argv[1:]))
