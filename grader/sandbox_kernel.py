"""Start a Jupyter kernel that cannot see the course and cannot eat the machine.

Autograding runs student code. This launcher stands between jupyter_client
and ipykernel (it is the ``argv`` of the ``recsys-sandbox`` kernel spec that
:func:`install_kernel_spec` writes) and does two things:

- **isolation** (Linux): the kernel runs in its own user and mount
  namespaces, where the folders named by the policy's ``hide`` list (the
  course repository with its solutions, the grading folder with the gradebook
  and every other submission, the home folder) are empty, and only the
  ``keep`` paths reappear: Python and its packages and the data, read-only,
  and the submission's own working folder, writable. The kernel then drops
  into an unprivileged user of a nested namespace, so it cannot unmount any
  of this. Where namespaces are unavailable (macOS, Windows, locked-down
  kernels), the kernel starts anyway and ``isolation`` in the report says so.
- **a memory cap**: the launcher stays as a small parent process that sums
  the resident memory of the kernel's process tree every 0.2 s and kills the
  tree when it passes the cap, leaving a note that says why.

Run by jupyter_client as
``python -m grader.sandbox_kernel POLICY.json -f CONNECTION_FILE``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

KERNEL_NAME = "recsys-sandbox"
POLL_SECONDS = 0.2

# The kernel's command. ipykernel_launcher, after one change that no notebook
# can notice: jsonschema (imported by altair, which every notebook imports)
# imports rfc3987_syntax when it is installed, only to check the "iri" string
# format, and building that grammar costs ~1.5 s of CPU per kernel; without
# it, jsonschema simply does not check that format.
KERNEL_BOOT = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); "
               "import runpy; runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)")


@dataclass
class SandboxPolicy:
    """What the kernel may see and use; written as JSON next to the kernel spec."""

    hide: list[str] = field(default_factory=list)
    keep_read_only: list[str] = field(default_factory=list)
    keep_writable: list[str] = field(default_factory=list)
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
    ``recsys-sandbox`` to use it.
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
        # The launcher is imported from the course folder before that folder is hidden.
        "env": {"PYTHONPATH": grader_parent},
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


# --- isolation ----------------------------------------------------------------------

def namespaces_available() -> bool:
    """True when this machine lets an ordinary user create user and mount namespaces."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True)
    return probe.returncode == 0


def _mount_script(policy: SandboxPolicy, stage: Path) -> str:
    """Shell commands, run as root of a fresh user namespace, that hide and re-expose paths.

    Kept paths are bind-mounted to ``stage`` first, because hiding a parent
    folder would hide them too; then every hidden folder gets an empty tmpfs;
    then the kept paths are bound back in place (read-only where asked).
    """
    keep = [(path, True) for path in policy.keep_read_only] + [(path, False) for path in policy.keep_writable]
    keep = [(path, read_only) for path, read_only in keep if os.path.exists(path)]
    lines = ["set -e"]
    for index, (path, _) in enumerate(keep):
        lines.append(f"mkdir -p {stage}/{index} && mount --bind {shlex.quote(path)} {stage}/{index}")
    hidden = sorted({os.path.normpath(path) for path in policy.hide if os.path.isdir(path)})
    for path in hidden:
        # A folder inside one hidden already is gone from view (and mounting on it would fail).
        if not any(path.startswith(other.rstrip("/") + "/") for other in hidden if other != path):
            lines.append(f"mount -t tmpfs -o size=1m,mode=755 recsys-hidden {shlex.quote(path)}")
    for index, (path, read_only) in enumerate(keep):
        quoted = shlex.quote(path)
        lines.append(f"mkdir -p {quoted} && mount --bind {stage}/{index} {quoted}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {quoted}")
    return "\n".join(lines)


def sandboxed_command(policy: SandboxPolicy, kernel_argv: list[str], stage: Path) -> list[str]:
    """Wrap the kernel's command line so that it starts inside the namespaces."""
    uid, gid = os.getuid(), os.getgid()
    # Inside, the kernel is an ordinary user (uid 1000 when we are root): it
    # has no capability left, so it cannot undo the mounts.
    inner_uid = 1000 if uid == 0 else uid
    inner_gid = 1000 if gid == 0 else gid
    inner = ["unshare", "--user", f"--map-user={inner_uid}", f"--map-group={inner_gid}", "--", *kernel_argv]
    script = _mount_script(policy, stage) + "\nexec " + shlex.join(inner)
    return ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
            "--", "sh", "-c", script]


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
    policy = SandboxPolicy.load(Path(policy_file))
    kernel_argv = [sys.executable, "-c", KERNEL_BOOT, *kernel_args]
    stage = Path(policy_file).parent / "stage"
    if namespaces_available():
        stage.mkdir(exist_ok=True)
        command, isolation = sandboxed_command(policy, kernel_argv, stage), "namespaces"
    else:
        command, isolation = kernel_argv, "none"
    _report(policy, isolation=isolation)

    # Interrupts are for the kernel (jupyter_client signals the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel = subprocess.Popen(command)

    def forward(signum, _frame):
        kernel.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    cap = policy.memory_mb * 1024 * 1024
    measure = sys.platform.startswith("linux")
    while kernel.poll() is None:
        time.sleep(POLL_SECONDS)
        tree = process_tree(kernel.pid) if measure else {}
        if sum(tree.values()) > cap:
            _report(policy, killed=f"memory limit exceeded ({policy.memory_mb} MB)")
            for pid in tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            break
    return kernel.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
