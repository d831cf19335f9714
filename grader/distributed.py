"""Grade on a Dask cluster: ``grade SUBMISSIONS --scheduler tcp://HOST:PORT``.

Each notebook becomes one Dask task that runs :func:`grader.grade.grade_job`
(the same worker process, sandbox and limits as ``--jobs``) on whichever
worker the scheduler picks. The client keeps everything else: the intake,
the templates, the cache keys, the results, the feedback pages and the
sheet, written exactly as a local run writes them.

No shared file system is needed. A task carries what its worker reads: the
submitted file's bytes and its assignment's template (generated course with
gradebook, source and release) as a gzipped tar of up to 300 kB, which a node
unpacks once into its temp folder. The feedback page comes back inside the
result. What every worker needs: the course environment (this repository's
``grader`` importable, the pinned packages, the same Python), the data folder
at the path the client names (``--data``; checked before the run), and user
namespaces for the sandbox (without them results say ``isolation: none``).

Lost workers: the scheduler gives a dead worker's task to another worker. A
notebook whose task saw three workers die (``KilledWorker``) gets the status
``worker_lost``, not a cached verdict: the next run grades it again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

from .grade_one import GradeJob
from .statuses import GradeStatus

# The result key that carries the feedback page back to the client; never saved in results/.
FEEDBACK_PAGE = "feedback_page"
# Retries of a task whose function raised (not of one whose worker died: the scheduler
# reschedules those itself, up to distributed.scheduler.allowed-failures times).
TASK_RETRIES = 1


def pack_template(template: Path, release: Path, source: Path) -> bytes:
    """An assignment's template, release and source notebooks as one gzipped tar.

    The same files give the same bytes (no dates inside), so a worker node unpacks each
    template once, whatever the number of runs.
    """
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w") as archive:
        members = [(path, "template/" + path.relative_to(template).as_posix())
                   for path in sorted(template.rglob("*")) if path.is_file()]
        members += [(release, "release.ipynb"), (source, "source.ipynb")]
        for path, name in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpacked_template(packed: bytes) -> Path:
    """Where ``packed`` is unpacked on this node (once per node: the folder is named by its digest)."""
    digest = hashlib.sha256(packed).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "recsys-grader-templates"
    folder = cache / digest
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=cache))
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as archive:
            archive.extractall(partial, filter="data")
        try:
            os.rename(partial, folder)  # atomic: a concurrent worker either wins or sees the whole folder
        except OSError:
            if not folder.is_dir():
                raise
    return folder


def grade_shipped(job_fields: dict, submitted_name: str, submitted: bytes, packed_template: bytes,
                  timeout: float) -> dict:
    """The Dask task: grade one notebook from the shipped bytes; the feedback page comes back in the result.

    Runs on a worker. Only the data folder is read from the worker's own disk.
    """
    from .grade import grade_job  # the worker imports the orchestrator only when it grades

    job = GradeJob(**job_fields)
    if not Path(job.data_dir).is_dir():
        raise FileNotFoundError(f"worker {socket.gethostname()} has no data folder {job.data_dir}")
    template = unpacked_template(packed_template)
    with tempfile.TemporaryDirectory(prefix=f"grade-{job.student}-") as scratch:
        submission = Path(scratch) / "submitted" / submitted_name
        submission.parent.mkdir()
        submission.write_bytes(submitted)
        feedback = Path(scratch) / "feedback.html"
        local = replace(job, submitted=str(submission), template=str(template / "template"),
                        release=str(template / "release.ipynb"), source=str(template / "source.ipynb"),
                        feedback_html=str(feedback), courses_dir=str(Path(scratch) / "courses"),
                        # kept beside the node's copy of the template: the next notebooks of the
                        # assignment graded on this node read their cells' analysis there
                        cell_analysis_cache=str(template / "cell-analysis"),
                        # and the small data set is made once per node, not once per notebook
                        small_data_dir=str(template.parent / "small-data"))
        result = grade_job(local, timeout)
        if feedback.is_file():
            result[FEEDBACK_PAGE] = feedback.read_text(encoding="utf-8")
    return result


def worker_report(data_dir: str) -> dict:
    """What a worker can do, asked of every worker before the run (``Client.run``)."""
    from .sandbox_kernel import namespaces_available

    return {"data": Path(data_dir).is_dir(), "namespaces": namespaces_available()}


def write_feedback_page(page: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".html.part")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, target)


def worker_lost(job: GradeJob, error: BaseException) -> dict:
    """The result of a notebook whose task killed every worker it ran on, or raised (not cached)."""
    from .grade import _nothing_graded

    if type(error).__name__ == "KilledWorker":
        return _nothing_graded(job, GradeStatus.WORKER_LOST, (
            "the Dask worker grading this notebook died each time it tried (KilledWorker): "
            "see the workers' logs (memory, a node stopped); run grade again to grade it again"))
    return _nothing_graded(job, GradeStatus.ERROR, (
        f"the Dask task failed ({type(error).__name__}: {str(error)[:300]}); run grade again to grade it again"))


def grade_on_cluster(scheduler: str, queue: list[tuple[GradeJob, str]], timeout: float,
                     save) -> Iterator[dict]:
    """Grade ``queue`` (jobs and cache keys) on the cluster; yield each result once saved by ``save``.

    ``save(result, key)`` keeps a result; a ``worker_lost`` or failed one is saved without its
    cache key, so that the next run grades that notebook again. Only as many notebooks are
    submitted as the workers have threads: the scheduler never holds a whole class's files, and
    a worker holds no waiting notebook that its death would put under suspicion (distributed
    counts a death against every task the dead worker held).
    """
    from distributed import Client, as_completed

    if not queue:
        return  # nothing changed since the last run: no need for the cluster
    with Client(scheduler, timeout=60) as client:
        check_workers(client, queue[0][0].data_dir)
        templates = {}
        waiting = iter(queue)
        futures = {}
        running = as_completed()

        def submit_next() -> bool:
            job, key = next(waiting, (None, None))
            if job is None:
                return False
            if job.assignment not in templates:
                templates[job.assignment] = pack_template(Path(job.template), Path(job.release), Path(job.source))
            future = client.submit(
                grade_shipped, asdict(job), Path(job.submitted).name, Path(job.submitted).read_bytes(),
                templates[job.assignment], timeout,
                key=f"grade-{job.student}-{job.assignment}-{uuid.uuid4().hex[:8]}", pure=False,
                retries=TASK_RETRIES)
            futures[future] = (job, key)
            running.add(future)
            return True

        while len(futures) < in_flight(client) and submit_next():
            pass
        for future in running:
            job, key = futures.pop(future)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 -- KilledWorker, or the task raised: this notebook's status
                result, key = worker_lost(job, error), ""
            finally:
                future.release()
            while len(futures) < in_flight(client) and submit_next():
                pass
            page = result.pop(FEEDBACK_PAGE, None)
            if page is not None:
                write_feedback_page(page, Path(job.feedback_html))
            yield save(result, key)


def in_flight(client) -> int:
    """How many notebooks to keep submitted: one per worker thread (at least one)."""
    return max(1, sum(client.nthreads().values()))


def check_workers(client, data_dir: str) -> None:
    """Stop before submitting anything when no worker is there or a worker lacks the data folder."""
    client.wait_for_workers(1, timeout=120)
    reports = client.run(worker_report, data_dir)
    without_data = sorted(address for address, report in reports.items() if not report["data"])
    if without_data:
        raise SystemExit(f"error: the data folder {data_dir} is missing on the Dask workers {without_data}: "
                         "every worker reads the data at the path the client names (--data)")
    if not all(report["namespaces"] for report in reports.values()):
        print("warning: some Dask workers cannot create user namespaces: their kernels run unisolated "
              "(results say isolation: none)", flush=True)
    print(f"Dask scheduler {client.scheduler.address}: {len(reports)} workers", flush=True)

