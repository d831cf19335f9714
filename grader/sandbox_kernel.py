"""Start a Jupyter kernel that sees only what it needs and cannot eat the machine.

Autograding runs student code. This launcher stands between jupyter_client
and ipykernel (it is the ``argv`` of the ``recsys-sandbox`` kernel spec that
:func:`install_kernel_spec` writes) and does two things:

- **isolation as an allow-list** (Linux): the kernel runs in new user,
  mount, PID and network namespaces, under a new root file system holding
  only what the policy names, at the same paths: the interpreter and its
  packages (the venv and the base Python it links to), the course library
  and the data, read-only; the submission's own folder and the kernel's
  private home, writable. Besides them: ``/usr`` (and the ``/bin``, ``/lib``
  links of a merged-/usr system), read-only, for the shared libraries; a
  private empty ``/tmp`` and ``/dev/shm``; ``/dev`` with only ``null``,
  ``zero``, ``full``, ``random``, ``urandom`` and the ``fd`` links; a
  ``/proc`` of its own PID namespace (it sees its own processes only); an
  ``/etc`` made for it (``passwd``, ``group``, ``hosts``, and the host's
  ``ld.so.cache`` for the dynamic linker). Nothing else exists: not the
  course repository, not other submissions or output folders, not the
  gradebooks or templates, not the home folder, not the host's ``/tmp``. The
  network namespace has only a loopback interface: no connection leaves it
  (the kernel talks to the grader over Unix sockets in its own folder). The
  kernel then drops into an unprivileged user of a nested user namespace,
  so it cannot unmount any of this. Where the platform lacks a piece, the
  kernel starts with what there is and the report's ``missing`` says what
  (``isolation: none`` and everything missing without user namespaces:
  macOS, Windows, locked-down kernels).
- **a memory cap**: the launcher stays as a small parent process that sums
  the resident memory of the kernel's process tree every 0.2 s and kills the
  tree when it passes the cap, leaving a note that says why.

Run by jupyter_client as
``python -m grader.sandbox_kernel POLICY.json -f CONNECTION_FILE``.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

KERNEL_NAME = "recsys-sandbox"
POLL_SECONDS = 0.2

# The kernel's command. ipykernel_launcher, after two changes that no graded
# notebook can notice, each a module made unimportable:
# - rfc3987_syntax: jsonschema (imported by altair, which every notebook
#   imports) imports it when it is installed, only to check the "iri" string
#   format, and building its grammar costs ~1.5 s of CPU per kernel; without
#   it, jsonschema simply does not check that format;
# - debugpy: ipykernel imports it at start for its debugger (0.16 s of CPU,
#   half of a kernel's start), which nbgrader never asks for.
UNIMPORTABLE_IN_KERNEL = ("rfc3987_syntax", "debugpy")
KERNEL_BOOT = ("import sys; "
               + "; ".join(f"sys.modules.setdefault({name!r}, None)" for name in UNIMPORTABLE_IN_KERNEL)
               + "; import runpy; runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)")

# Top-level system folders the kernel's programs need (shared libraries, the
# `unshare` that drops privileges): bound read-only, or re-created as the
# symbolic links a merged-/usr system has.
SYSTEM_FOLDERS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
# What each missing piece of the platform means, for the report.
MISSING = {
    "namespaces": "user and mount namespaces: the kernel can read every file the grader's user can",
    "pid": "a PID namespace: no /proc inside the sandbox",
    "network": "a network namespace: the kernel can open network connections",
}


@dataclass
class SandboxPolicy:
    """What the kernel may see and use; written as JSON next to the kernel spec.

    Only ``read_only`` and ``writable`` paths (and the system skeleton the
    module doc lists) exist for the kernel; a missing path is skipped.
    """

    read_only: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)
    memory_mb: int = 4096
    report_file: str = ""  # where the launcher notes the isolation used and any kill

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "SandboxPolicy":
        return cls(**json.loads(Path(path).read_text()))


def install_kernel_spec(jupyter_dir: Path, policy: SandboxPolicy) -> Path:
    """Write the ``recsys-sandbox`` kernel spec (and its policy) under ``jupyter_dir``.

    Put ``jupyter_dir`` on ``JUPYTER_PATH`` and name the kernel
    ``recsys-sandbox`` to use it. ``jupyter_dir`` must not be one of the
    policy's paths (the kernel would see its own policy and report).
    """
    spec_dir = Path(jupyter_dir) / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    policy.save(spec_dir / "policy.json")
    grader_parent = str(Path(__file__).resolve().parent.parent)
    spec = {
        "argv": [sys.executable, "-m", "grader.sandbox_kernel", str(spec_dir / "policy.json"),
                 "-f", "{connection_file}"],
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        # The launcher is imported from the course folder, which the kernel never sees.
        "env": {"PYTHONPATH": grader_parent},
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def interpreter_paths() -> list[str]:
    """What this Python needs to run: the venv (``sys.prefix``) and the base Python it links to."""
    return sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
                   os.path.dirname(os.path.realpath(sys.executable))})


# --- isolation ----------------------------------------------------------------------

def _probe(*flags: str, script: str = "true") -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", *flags, "--", "sh", "-c", script],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def namespaces_available() -> bool:
    """True when this machine lets an ordinary user create user and mount namespaces."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare") or not shutil.which("mount"):
        return False
    return _probe("--mount")


@functools.lru_cache(maxsize=1)
def platform_features() -> frozenset[str]:
    """Which of ``namespaces``, ``pid`` (a PID namespace with its own /proc), ``network`` work here."""
    if not namespaces_available():
        return frozenset()
    features = {"namespaces"}
    if _probe("--mount", "--pid", "--fork", script="mount -t proc proc /proc"):
        features.add("pid")
    if _probe("--net"):
        features.add("network")
    return frozenset(features)


def missing_features(features: frozenset[str]) -> list[str]:
    """The report's ``missing``: what the sandbox could not have on this platform."""
    return [MISSING[name] for name in MISSING if name not in features]


def _hostname() -> str:
    name = socket.gethostname()
    return name if name and all(c.isalnum() or c in "-." for c in name) else ""


_LOOPBACK_UP = ("import fcntl, socket, struct; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "f = struct.unpack('16sh', fcntl.ioctl(s, 0x8913, struct.pack('16sh', b'lo', 0)))[1]; "
                "fcntl.ioctl(s, 0x8914, struct.pack('16sh', b'lo', f | 1))")


def _mount_script(policy: SandboxPolicy, root: Path, features: frozenset[str], memory_mb: int) -> str:
    """Shell commands, run as root of the fresh namespaces, that build the kernel's root and enter it.

    A tmpfs becomes the new root; the system skeleton and the policy's paths
    are bound into it at their own paths (parents first, so a path inside
    another is bound over it), then ``pivot_root`` makes it ``/`` and the old
    root is detached: nothing of it stays reachable.
    """
    q = shlex.quote
    r = q(str(root))
    lines = ["set -e", f"mount -t tmpfs -o size=16m,mode=755 recsys-sandbox {r}"]
    for name in SYSTEM_FOLDERS:
        host = Path("/") / name
        if host.is_symlink():
            lines.append(f"ln -s {q(os.readlink(host))} {r}/{name}")
        elif host.is_dir():
            lines.append(f"mkdir -p {r}/{name} && mount --rbind /{name} {r}/{name} "
                         f"&& mount -o remount,bind,ro {r}/{name}")
    tmp_mb = max(64, memory_mb // 4)  # tmpfs is memory the cap does not count: keep it small
    lines += [f"mkdir -p {r}/tmp {r}/dev/shm {r}/proc {r}/etc {r}/.old-root",
              f"mount -t tmpfs -o size={tmp_mb}m,mode=1777 recsys-tmp {r}/tmp",
              f"mount -t tmpfs -o size=16m,mode=755 recsys-dev {r}/dev",
              f"mkdir -p {r}/dev/shm && mount -t tmpfs -o size=64m,mode=1777 recsys-shm {r}/dev/shm"]
    for device in DEVICES:
        lines.append(f"touch {r}/dev/{device} && mount --bind /dev/{device} {r}/dev/{device}")
    lines += [f"ln -s /proc/self/fd {r}/dev/fd", f"ln -s /proc/self/fd/0 {r}/dev/stdin",
              f"ln -s /proc/self/fd/1 {r}/dev/stdout", f"ln -s /proc/self/fd/2 {r}/dev/stderr"]
    if "pid" in features:
        lines.append(f"mount -t proc -o nosuid,nodev,noexec proc {r}/proc")
    inner_uid = 1000 if os.getuid() == 0 else os.getuid()
    inner_gid = 1000 if os.getgid() == 0 else os.getgid()
    etc = {"passwd": f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{inner_uid}:{inner_gid}:grading kernel:/tmp:/bin/sh\n",
           "group": f"root:x:0:\nsandbox:x:{inner_gid}:\n",
           # The machine's own name resolves too (Java, hence Spark, looks it up at start).
           "hosts": f"127.0.0.1 localhost {_hostname()}\n::1 localhost\n"}
    for name, text in etc.items():
        lines.append(f"printf {q(text)} > {r}/etc/{name}")
    if os.path.isfile("/etc/ld.so.cache"):
        lines.append(f"touch {r}/etc/ld.so.cache && mount --bind -o ro /etc/ld.so.cache {r}/etc/ld.so.cache")
    keep = [(os.path.realpath(p), True) for p in policy.read_only] + [(os.path.realpath(p), False) for p in policy.writable]
    keep = sorted({(p, ro) for p, ro in keep if os.path.exists(p)}, key=lambda item: (item[0].count("/"), item[0]))
    for path, read_only in keep:
        target = q(str(root) + path)
        make = f"mkdir -p {target}" if os.path.isdir(path) else f"mkdir -p {q(str(root) + os.path.dirname(path))} && touch {target}"
        lines.append(f"{make} && mount --rbind {q(path)} {target}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    if "network" in features:
        lines.append(f"{q(sys.executable)} -I -S -c {q(_LOOPBACK_UP)}")
    lines += [f"cd {r}", "pivot_root . .old-root", "umount -l /.old-root", "rmdir /.old-root",
              "mount -o remount,ro / 2>/dev/null || true", "cd /"]
    return "\n".join(lines)


def sandboxed_command(policy: SandboxPolicy, kernel_argv: list[str], root: Path,
                      features: frozenset[str] | None = None, cwd: str | None = None) -> list[str]:
    """Wrap the kernel's command line so that it starts inside the namespaces, under its own root.

    ``root``: an empty folder to build the root in (outside every policy path);
    ``cwd``: where the kernel starts (default: the current folder), if it can see it.
    """
    features = platform_features() if features is None else features
    uid, gid = os.getuid(), os.getgid()
    # Inside, the kernel is an ordinary user (uid 1000 when we are root): it
    # has no capability left, so it cannot undo the mounts.
    inner_uid = 1000 if uid == 0 else uid
    inner_gid = 1000 if gid == 0 else gid
    inner = ["unshare", "--user", f"--map-user={inner_uid}", f"--map-group={inner_gid}", "--", *kernel_argv]
    cwd = cwd or os.getcwd()
    script = (_mount_script(policy, root, features, policy.memory_mb)
              + f"\ncd {shlex.quote(cwd)} 2>/dev/null || cd /tmp\nexec " + shlex.join(inner))
    flags = ["--mount", "--propagation", "private"]
    if "pid" in features:
        # The kernel is the first process of its PID namespace: when it ends, all it started ends.
        flags += ["--pid", "--fork", "--kill-child"]
    if "network" in features:
        flags.append("--net")
    return ["unshare", "--user", "--map-root-user", *flags, "--", "sh", "-c", script]


# --- memory -----------------------------------------------------------------------

def process_tree(root_pid: int) -> dict[int, int]:
    """``{pid: resident bytes}`` of ``root_pid`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return {pid: rss.get(pid, 0) for pid in tree}


def _report(policy: SandboxPolicy, **facts) -> None:
    if not policy.report_file:
        return
    path = Path(policy.report_file)
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**previous, **facts}))


def main(argv: list[str]) -> int:
    policy_file, kernel_args = argv[0], argv[1:]
    zygote = os.environ.get("RECSYS_GRADER_ZYGOTE")
    if zygote and os.path.exists(zygote):
        from .kernel_zygote import run_shim  # a kernel forked from the zygote (grader.worker_pool)

        try:
            return run_shim(policy_file, kernel_args, zygote)
        except OSError:
            pass  # no zygote to ask: start a kernel here, as without one
    policy = SandboxPolicy.load(Path(policy_file))
    kernel_argv = [sys.executable, "-c", KERNEL_BOOT, *kernel_args]
    root = Path(policy_file).parent / "root"
    features = platform_features()
    if "namespaces" in features:
        root.mkdir(exist_ok=True)
        command, isolation = sandboxed_command(policy, kernel_argv, root, features), "namespaces"
    else:
        command, isolation = kernel_argv, "none"
    _report(policy, isolation=isolation, missing=missing_features(features), kernel="process")

    # Interrupts are for the kernel (jupyter_client signals the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel = subprocess.Popen(command)

    def stop(signum, _frame):
        if isolation == "none":
            kernel.send_signal(signum)
            return
        # The first process of a PID namespace ignores signals it has no handler for:
        # stopping means killing its tree.
        _kill_tree(kernel.pid)

    signal.signal(signal.SIGTERM, stop)
    cap = policy.memory_mb * 1024 * 1024
    measure = sys.platform.startswith("linux")
    parent = os.getppid()
    while kernel.poll() is None:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:
            # The grading worker that started this kernel was killed (jupyter_client
            # puts the kernel in a session of its own, so its group kill missed us).
            _kill_tree(kernel.pid)
            break
        tree = process_tree(kernel.pid) if measure else {}
        if sum(tree.values()) > cap:
            _report(policy, killed=f"memory limit exceeded ({policy.memory_mb} MB)")
            _kill_tree(kernel.pid, tree)
            break
    return kernel.wait()


def _kill_tree(pid: int, tree: dict[int, int] | None = None) -> None:
    for member in tree if tree is not None else process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
