"""Open the built documentation site in headless Chromium and check what a reader would see.

``make docs`` runs this after the build::

    python docs/check_site.py [docs/_build/html]

Checks, each page as Chromium renders it (``--dump-dom``, then a screenshot):

* the front page renders, with its title and a link to every tutorial;
* every tutorial page renders, shows its figures (``<img>`` elements whose files exist in
  the build and are real images), and contains no error output of a cell;
* a tutorial page's screenshot is not blank.

Chromium is Debian's ``chromium`` (``apt-get install chromium``). Without it the check is
skipped with a message, unless ``CI`` is set, when it fails. Exit status 0 when every check
passes, 1 otherwise, with one line per failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

#: Tutorials, by file stem, and the least number of figures each must show.
TUTORIALS = {
    "01-explore-grid": 4,
    "02-train-evaluate": 4,
    "03-predict-hd3651b": 5,
    "04-uncertainties": 2,
    "05-spex-catalog": 2,
    "06-jwst": 3,
}
WINDOW = (1280, 2000)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str | None:
    """The Chromium executable, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def run_chromium(chromium: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile and no network chatter."""
    with tempfile.TemporaryDirectory(prefix="atmoscope-chromium-") as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                   *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120,
                              check=False)


def images(dom: str, page: Path) -> list[Path]:
    """The local files of a rendered page's ``<img>`` elements."""
    found = []
    for src in re.findall(r"<img\b[^>]*?\bsrc=\"([^\"]+)\"", dom):
        url = urlparse(src)
        if url.scheme in ("", "file"):
            path = Path(unquote(url.path))
            found.append(path if path.is_absolute() else (page.parent / path).resolve())
    return found


def check_tutorial(dom: str, page: Path, least: int) -> list[str]:
    """Problems of one rendered tutorial page (an empty list when it is fine)."""
    problems = []
    figures = [p for p in images(dom, page) if "_images" in p.parts]
    if len(figures) < least:
        problems.append(f"{page.name}: {len(figures)} figure(s), expected at least {least}")
    for path in figures:
        if not path.is_file():
            problems.append(f"{page.name}: figure {path} is missing from the build")
        elif path.suffix == ".png" and not path.read_bytes().startswith(PNG_MAGIC):
            problems.append(f"{page.name}: figure {path.name} is not a PNG image")
    if "output traceback" in dom:  # MyST-NB's rendering of a cell that raised
        problems.append(f"{page.name}: a cell's output is an error (traceback)")
    return problems


def not_blank(chromium: str, page: Path, shot: Path) -> list[str]:
    """Problems of a page's screenshot: missing, or one colour only."""
    done = run_chromium(chromium, f"--screenshot={shot}", page.as_uri())
    if done.returncode != 0 or not shot.is_file():
        return [f"{page.name}: no screenshot ({done.stderr.strip()[-300:]})"]
    data = shot.read_bytes()
    if not data.startswith(PNG_MAGIC) or len(data) < 20_000:
        return [f"{page.name}: the screenshot is blank ({len(data)} bytes)"]
    return []


def check_site(html: Path, chromium: str) -> list[str]:
    """Every problem found in the built site at ``html``."""
    problems = []
    index = html / "index.html"
    if not index.is_file():
        return [f"{index}: missing (run make docs)"]
    done = run_chromium(chromium, "--dump-dom", index.as_uri())
    if done.returncode != 0:
        return [f"{index}: Chromium failed ({done.stderr.strip()[-300:]})"]
    dom = done.stdout
    if "atmoscope" not in dom or "<title>" not in dom:
        problems.append(f"{index}: the front page did not render")
    for stem, least in TUTORIALS.items():
        if f"tutorials/{stem}.html" not in dom:
            problems.append(f"{index}: no link to tutorials/{stem}.html")
        page = html / "tutorials" / f"{stem}.html"
        if not page.is_file():
            problems.append(f"{page}: missing")
            continue
        done = run_chromium(chromium, "--dump-dom", page.as_uri())
        if done.returncode != 0:
            problems.append(f"{page.name}: Chromium failed ({done.stderr.strip()[-300:]})")
            continue
        problems += check_tutorial(done.stdout, page, least)
    with tempfile.TemporaryDirectory() as tmp:
        problems += not_blank(chromium, html / "tutorials" / "03-predict-hd3651b.html",
                              Path(tmp) / "shot.png")
    return problems


def main(argv: list[str]) -> int:
    html = Path(argv[0] if argv else Path(__file__).parent / "_build" / "html").resolve()
    chromium = find_chromium()
    if chromium is None:
        message = "chromium is missing (apt-get install chromium): the site was not opened"
        if os.environ.get("CI"):
            print(f"check_site: error: {message}", file=sys.stderr)
            return 1
        print(f"check_site: skipped: {message}", file=sys.stderr)
        return 0
    problems = check_site(html, chromium)
    for problem in problems:
        print(f"check_site: error: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_site: {html / 'index.html'} and {len(TUTORIALS)} tutorials render in "
              "headless Chromium, with their figures")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
