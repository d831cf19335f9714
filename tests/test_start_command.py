"""The README's start command brings JupyterLab up on the student's work folder (seeded from
notebooks/) with the data in place."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from recsys_course.data_home import data_home
from recsys_course.fetch import verify_folder

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_start_script_serves_jupyterlab_on_the_notebooks(tmp_path):
    port, token = free_port(), "course-test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    server = subprocess.Popen(
        ["bash", "scripts/start.sh", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        deadline, listing = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                listing = json.load(urllib.request.urlopen(url, timeout=5))
                break
            except OSError:
                time.sleep(1)
        assert listing is not None, f"JupyterLab did not come up:\n{server.stdout.read() if server.poll() is not None else ''}"
        names = {item["name"] for item in listing["content"]}
        expected = {path.name for path in (ROOT / "notebooks").iterdir() if path.is_dir()}
        assert names >= expected
        # The server's root is the work folder, seeded with every student notebook.
        assert all((ROOT / "my-notebooks" / name / f"{name}.ipynb").is_file() for name in expected)
        lab = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10)
        assert lab.status == 200
        assert verify_folder(data_home() / "ml-100k")["counts"]["ratings"] == 100_000
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
