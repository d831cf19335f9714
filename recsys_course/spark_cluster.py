"""A Spark standalone cluster on this machine: one master and workers, on 127.0.0.1 only.

    python -m recsys_course.spark_cluster            # start one, print its URL, stop on Ctrl-C

>>> with standalone_cluster(workers=1, cores=2) as master_url:   # 'spark://127.0.0.1:PORT'
...     spark = spark_session(master_url)

What notebook 11 means by "the same code on a cluster": the notebook reads
its master from ``RECSYS_SPARK_MASTER``, so pointing it at this cluster (or
a real one) changes nothing else. On a real cluster, start a master and
workers with Spark's own scripts (``$SPARK_HOME/sbin/start-master.sh``,
``start-worker.sh spark://HOST:7077``) with ``JAVA_HOME`` set as
``python -m recsys_course.java_runtime`` prints; the executors need the
same Python packages as the notebook.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .java_runtime import use_java
from .progress import step

HOST = "127.0.0.1"


def spark_home() -> Path:
    """The Spark installation that the pyspark package ships (its ``bin/``, ``jars/``, ``sbin/``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a Spark daemon exited with code {process.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout:.0f} s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    """End a daemon we started and its children (executors): its own process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _registered_workers(log: Path) -> int:
    try:
        return log.read_text(errors="replace").count("Registering worker")
    except OSError:
        return 0


@contextlib.contextmanager
def standalone_cluster(workers: int = 1, cores: int = 1, memory: str = "1g", timeout: float = 120,
                       work_dir: Path | None = None):
    """Start a standalone master and ``workers`` workers on 127.0.0.1; yield the master's URL.

    Everything runs as the current user, listens on the loopback interface
    only, logs to ``work_dir`` (a temporary folder by default), and is
    stopped on exit, executors included.
    """
    use_java()
    folder = Path(work_dir or tempfile.mkdtemp(prefix="recsys-spark-cluster-"))
    folder.mkdir(parents=True, exist_ok=True)
    home = spark_home()
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOCAL_IP=HOST, PYSPARK_PYTHON=sys.executable,
               SPARK_LOG_DIR=str(folder / "logs"), SPARK_WORKER_DIR=str(folder / "work"),
               SPARK_NO_DAEMONIZE="1")
    spark_class = str(home / "bin" / "spark-class")
    port = _free_port()
    master_url = f"spark://{HOST}:{port}"
    processes = []
    master_log = folder / "master.log"
    try:
        with step(f"Spark: starting a standalone master and {workers} worker(s) on {HOST} (logs in {folder})"):
            with open(master_log, "w") as log:
                processes.append(subprocess.Popen(
                    [spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                     "--webui-port", str(_free_port())],
                    env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
            _wait_for_port(port, processes[0], timeout, master_log)
            for index in range(workers):
                worker_log = folder / f"worker-{index}.log"
                with open(worker_log, "w") as log:
                    processes.append(subprocess.Popen(
                        [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", HOST,
                         "--cores", str(cores), "--memory", memory, "--webui-port", str(_free_port()),
                         "--work-dir", str(folder / "work")],
                        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        start_new_session=True))
            deadline = time.monotonic() + timeout
            while _registered_workers(master_log) < workers:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise RuntimeError(f"the workers did not register with the master; see the logs in {folder}")
                time.sleep(0.3)
        yield master_url
    finally:
        for process in reversed(processes):
            _stop(process)


if __name__ == "__main__":
    with standalone_cluster(workers=1, cores=max(1, (os.cpu_count() or 2) - 1)) as url:
        print(f"Spark standalone cluster: {url}\n"
              f"  RECSYS_SPARK_MASTER={url} jupyter lab    # notebook 11 on this cluster\n"
              "Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
