"""MathJax for feedback pages, from the npm registry, pinned, checked and inlined.

nbconvert's HTML templates load MathJax from a CDN, so a feedback page opened
without a network shows its formulas as TeX. The course's feedback template
(:mod:`grader.feedback_exporter`) puts MathJax into the page instead, the way
``recsys_course.notebook`` puts the charts' JavaScript there: gzipped, base64,
unpacked by the browser's ``DecompressionStream``. A page is then one file
that typesets anywhere: opened from a hub's feedback folder, from an email, or
downloaded alone from an LMS (a sibling folder of scripts would be lost
there).

Which file: MathJax 3's ``es5/tex-svg-full.js``. SVG output draws glyphs as
paths, so it needs no font files (``tex-chtml`` needs its woff fonts beside
it); the ``-full`` build has every TeX extension inside, so no formula a
student writes makes MathJax fetch an extension from its CDN. 2.3 MB, 0.7 MB
gzipped, 0.96 MB in the page.

Where it comes from: the npm tarball of ``mathjax@3.2.2``, checked against the
registry's sha512 ``integrity``; the one file is kept gzipped in
``<environment>/share/recsys_course/`` and checked against its pinned sha256
whenever it is read. ``scripts/setup.sh`` installs it (``python -m
grader.mathjax_offline``); when it is missing, the first feedback page
installs it.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

MATHJAX_VERSION = "3.2.2"
TARBALL_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
# dist.integrity of https://registry.npmjs.org/mathjax/3.2.2 (sha512 of the tarball).
TARBALL_INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
MEMBER = "package/es5/tex-svg-full.js"
MEMBER_SHA256 = "a4354ff94fd868aea0cc6eaaa79a57fda0588646fc46ee3700a349ee0a11cbe6"
FILE_NAME = f"mathjax-{MATHJAX_VERSION}-tex-svg-full.js.gz"


class MathJaxError(RuntimeError):
    """MathJax could not be downloaded, or a copy is not the pinned file."""


def mathjax_folder() -> Path:
    """``<environment>/share/recsys_course`` (``$RECSYS_MATHJAX_DIR`` when set)."""
    return Path(os.environ.get("RECSYS_MATHJAX_DIR") or Path(sys.prefix) / "share" / "recsys_course")


def mathjax_path(folder: Path | None = None) -> Path:
    """Where the gzipped ``tex-svg-full.js`` is kept."""
    return Path(folder or mathjax_folder()) / FILE_NAME


def integrity_of(data: bytes) -> str:
    """npm's ``dist.integrity`` form of ``data``'s sha512."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def script_from_tarball(tarball: bytes, *, source: str = TARBALL_URL) -> bytes:
    """The checked ``tex-svg-full.js`` out of the npm tarball's bytes."""
    if integrity_of(tarball) != TARBALL_INTEGRITY:
        raise MathJaxError(
            f"the MathJax {MATHJAX_VERSION} tarball from {source} is corrupt or not the pinned one "
            f"({len(tarball)} bytes, {integrity_of(tarball)[:30]}…, expected {TARBALL_INTEGRITY[:30]}…): "
            "download it again")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        try:
            member = archive.extractfile(MEMBER)
        except KeyError:
            member = None
        script = member.read() if member is not None else b""
    check_script(script, source)
    return script


def check_script(script: bytes, source: object) -> None:
    """Raise :class:`MathJaxError` unless ``script`` is the pinned ``tex-svg-full.js``."""
    if hashlib.sha256(script).hexdigest() != MEMBER_SHA256:
        raise MathJaxError(f"{source} is not MathJax {MATHJAX_VERSION}'s {MEMBER} "
                           f"(sha256 {hashlib.sha256(script).hexdigest()}, expected {MEMBER_SHA256})")


def read_gzipped(path: Path | None = None) -> bytes:
    """The installed file's gzipped bytes, after checking what they unpack to."""
    path = path or mathjax_path()
    data = path.read_bytes()
    try:
        script = gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise MathJaxError(f"{path} is damaged ({error}): delete it and run python -m grader.mathjax_offline") from None
    check_script(script, path)
    return data


def download(url: str = TARBALL_URL, timeout: float = 60) -> bytes:
    """The tarball's bytes from the npm registry (honours the usual proxy variables)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- a fixed https URL
            return response.read()
    except OSError as error:
        raise MathJaxError(f"could not download MathJax {MATHJAX_VERSION} from {url}: {error}") from None


def install(folder: Path | None = None, *, tarball: bytes | None = None) -> Path:
    """Put the checked, gzipped ``tex-svg-full.js`` in ``folder``; do nothing when it is already there."""
    path = mathjax_path(folder)
    try:
        read_gzipped(path)
        return path
    except (OSError, MathJaxError):
        pass
    script = script_from_tarball(tarball if tarball is not None else download())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(gzip.compress(script, compresslevel=9, mtime=0))
    partial.replace(path)
    return path


# MathJax 2's settings in nbconvert's template, in MathJax 3's words: $…$ and \(…\)
# inline, $$…$$ and \[…\] displayed, \$ for a dollar, AMS numbering.
MATHJAX_CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "tags": "ams",
    },
    "svg": {"fontCache": "global"},
    "options": {"ignoreHtmlClass": "tex2jax_ignore|recsys-no-math"},
}

_LOADER = """\
<script type="text/javascript">
// MathJax %(version)s (Apache License 2.0, https://www.mathjax.org), es5/tex-svg-full.js from
// the npm registry, gzipped: this page typesets its formulas without a network.
window.MathJax = %(config)s;
(function (gzipped) {
  if (typeof DecompressionStream === "undefined") {
    console.warn("recsys_course: this browser cannot unpack MathJax (no DecompressionStream): formulas stay TeX");
    return;
  }
  var bytes = Uint8Array.from(atob(gzipped), function (c) { return c.charCodeAt(0); });
  new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text()
    .then(function (code) { new Function(code)(); })
    .catch(function (error) { console.error("recsys_course: could not load MathJax", error); });
})("%(data)s");
</script>
"""


@functools.lru_cache(maxsize=4)
def _loader_html(path: Path) -> str:
    return _LOADER % {"version": MATHJAX_VERSION, "config": json.dumps(MATHJAX_CONFIG),
                      "data": base64.b64encode(read_gzipped(path)).decode("ascii")}


def loader_html(path: Path | None = None) -> str:
    """The ``<script>`` that configures MathJax and runs it from the page itself.

    Installs the file first when it is missing (a network download, checked).
    """
    path = mathjax_path() if path is None else path
    if not path.exists():
        install(path.parent)
    return _loader_html(path)


CDN_URL = f"https://cdn.jsdelivr.net/npm/mathjax@{MATHJAX_VERSION}/es5/tex-svg-full.js"


def cdn_loader_html() -> str:
    """The same MathJax from its CDN: what a page gets when the file cannot be installed."""
    return (f'<script type="text/javascript">window.MathJax = {json.dumps(MATHJAX_CONFIG)};</script>\n'
            f'<script type="text/javascript" src="{CDN_URL}" async></script>\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Install MathJax {MATHJAX_VERSION} for offline feedback pages.")
    parser.add_argument("--folder", type=Path, default=None, help=f"default: {mathjax_folder()}")
    args = parser.parse_args(argv)
    try:
        path = install(args.folder)
    except MathJaxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"MathJax {MATHJAX_VERSION}: {path} ({path.stat().st_size / 1e6:.2f} MB, checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
