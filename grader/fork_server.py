"""A process that pays for slow imports once and forks a fresh child for every request.

The grader's two expensive start-ups, a kernel that imports TensorFlow and a
worker that imports nbgrader, are each done once per grading run in such a
server (:mod:`grader.kernel_zygote`, :mod:`grader.worker_pool`); every
notebook then gets a child forked from it: a new process, with the modules
already imported and nothing else, because the server forks *before* it reads
a request. The server itself never reads a request, runs no request's code
and keeps nothing of one but the child's pid and its connection, so no
notebook's data reaches the next notebook's process.

Protocol, over a Unix socket (the folder holding it is private to the user):

1. the client connects and sends one JSON line, optionally with file
   descriptors (``SCM_RIGHTS``) in the same message;
2. the server forks at once; the child reads the request (:func:`read_request`)
   and answers ``{"pid": N}`` (:func:`answer`) before doing its work;
3. when the child ends, the server sends ``{"exit": code}`` and closes;
4. a client that hangs up before that (killed, timed out) gets its child's
   process group killed: a child never outlives the one who asked for it.

The server runs until its standard input closes: the process that started it
holds the other end, so the server and every child still running die with it.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

MAX_FDS = 8
MAX_REQUEST = 1 << 22  # 4 MB of JSON: an environment and a few paths


def read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request the client sent on ``conn`` and the file descriptors that came with it."""
    data, fds, _flags, _address = socket.recv_fds(conn, 1 << 16, MAX_FDS)
    chunks = [data]
    while not data.endswith(b"\n") and data and sum(map(len, chunks)) < MAX_REQUEST:
        data = conn.recv(1 << 16)
        chunks.append(data)
    return json.loads(b"".join(chunks) or b"{}"), list(fds)


def answer(conn: socket.socket, **message) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def close_inherited_fds(keep: tuple[int, ...] = (0, 1, 2)) -> None:
    """Close every file descriptor but ``keep``: nothing the server held stays open in a child."""
    top = max(keep) + 1
    os.closerange(top, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
    for fd in range(top):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def serve(socket_path: Path, child: Callable[[socket.socket], int],
          preload: Callable[[], None] = lambda: None) -> int:
    """Listen on ``socket_path``, run ``preload()``, then fork and run ``child(conn)`` per connection.

    The socket listens before ``preload`` runs, so a client may connect at once:
    its request waits until the server is ready (or gets an end of file if
    ``preload`` fails).

    ``child`` runs in a new session (its own process group) and its return
    value is the child's exit code (it may also never return: ``os._exit``,
    ``exec``). Returns when standard input reaches end of file.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(64)
    preload()
    # What preload made is shared with every child: frozen, the children's garbage collections
    # skip it (less CPU, and no copy-on-write of its pages just to walk it).
    gc.collect()
    gc.freeze()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select()
    children: dict[int, socket.socket] = {}  # pid -> its client's connection
    by_fd: dict[int, int] = {}  # connection fd -> pid
    poller = select.poll()
    for fd in (listener.fileno(), wake_read, 0):
        poller.register(fd, select.POLLIN)
    # A hang-up is watched for, not data: the child reads the request from the same socket.
    hangup = getattr(select, "POLLRDHUP", 0x2000) | select.POLLHUP | select.POLLERR
    print("ready", flush=True)
    try:
        while True:
            events = dict(poller.poll())
            if events.get(0) and not os.read(0, 4096):
                return 0  # the owner is gone: stop everything
            if wake_read in events:
                os.read(wake_read, 4096)
            if listener.fileno() in events:
                conn, _ = listener.accept()
                pid = os.fork()
                if pid == 0:
                    _run_child(child, conn, listener, wake_read, wake_write)
                children[pid] = conn
                by_fd[conn.fileno()] = pid
                poller.register(conn.fileno(), hangup)
            for fd in [fd for fd in events if fd in by_fd]:
                _kill_group(by_fd.pop(fd))  # the client hung up: its child goes too
                poller.unregister(fd)
            for fd in _reap(children, by_fd):
                poller.unregister(fd)
    finally:
        for pid in children:
            _kill_group(pid)
        for pid in list(children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        _write_stats(socket_path)


def _write_stats(socket_path: Path) -> None:
    """With ``RECSYS_GRADER_POOL_STATS`` (a folder) set, note this server's CPU time there (benchmarks)."""
    folder = os.environ.get("RECSYS_GRADER_POOL_STATS")
    if not folder:
        return
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = {"server_cpu_seconds": own.ru_utime + own.ru_stime,
             "children_cpu_seconds": children.ru_utime + children.ru_stime}
    Path(folder, f"{Path(socket_path).stem}-{os.getpid()}.json").write_text(json.dumps(stats))


def _run_child(child, conn, listener, wake_read, wake_write) -> None:
    """In the forked child: a session of its own, default signals, then the work."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (listener.fileno(), wake_read, wake_write):
            os.close(fd)
        os.setsid()
        code = child(conn)
    except BaseException:  # noqa: BLE001 -- a child never returns into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _reap(children: dict[int, socket.socket], by_fd: dict[int, int]) -> list[int]:
    """Collect ended children, tell their clients; the connections closed (their fds, to unwatch)."""
    closed = []
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        conn = children.pop(pid, None)
        if conn is None:
            continue
        if by_fd.pop(conn.fileno(), None) is not None:
            closed.append(conn.fileno())
            try:
                answer(conn, exit=os.waitstatus_to_exitcode(status),
                       cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3))  # the child's and its waited-for descendants
            except OSError:
                pass
        conn.close()
    return closed


class Request:
    """A client's side of one request: send it, learn the child's pid, wait for its exit."""

    def __init__(self, socket_path: Path | str, payload: dict, fds: list[int] | tuple[int, ...] = (),
                 connect_timeout: float = 300.0):
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.settimeout(connect_timeout)
        self.conn.connect(str(socket_path))
        data = json.dumps(payload).encode() + b"\n"
        if fds:
            socket.send_fds(self.conn, [data], list(fds))
        else:
            self.conn.sendall(data)
        self._buffer = b""
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.cpu_seconds: float | None = None

    def _line(self, timeout: float | None) -> dict | None:
        self.conn.settimeout(timeout)
        while b"\n" not in self._buffer:
            chunk = self.conn.recv(1 << 12)  # raises TimeoutError
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def wait_pid(self, timeout: float | None = 600.0) -> int:
        """The child's pid (it sends it before doing anything else)."""
        message = self._line(timeout)
        if not message or "pid" not in message:
            raise OSError("the fork server ended the request before the child started")
        self.pid = int(message["pid"])
        return self.pid

    def wait_exit(self, timeout: float | None = None) -> int | None:
        """The child's exit code; None when the server went away. Raises TimeoutError."""
        message = self._line(timeout)
        self.exit_code = None if message is None else int(message.get("exit", 1))
        self.cpu_seconds = None if message is None else message.get("cpu_seconds")
        return self.exit_code

    def poll_exit(self) -> bool:
        """True once the child has ended (or the server has gone)."""
        readable, _, _ = select.select([self.conn], [], [], 0)
        if not readable:
            return False
        try:
            self.wait_exit(timeout=1)
        except TimeoutError:
            return False
        return True

    def kill(self) -> None:
        """Kill the child's process group, then hang up (the server kills it too on hang-up)."""
        if self.pid:
            _kill_group(self.pid)
        self.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
