"""End to end: JupyterLab in headless Chromium runs lesson 01's θ explorer and a slider changes its picture.

Starts JupyterLab from this environment (root = the repository, random token, free port, autosave off, settings
and workspaces in a temporary directory), opens ``lessons/01_coordinates.ipynb`` in Debian's Chromium through
Playwright, runs every cell above the cell tagged ``theta-explorer`` and then that cell, drags the rotation
slider and checks that the displayed image changes. Screenshots go to ``test-artifacts/``.

Until lesson 01 has such a cell, a temporary notebook with a hand-drawn digit stands in for it. Without
Chromium or Playwright the test is skipped with the reason — except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
LESSON = "lessons/01_coordinates.ipynb"
EXPLORER_TAG = "theta-explorer"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless",
]
# JupyterLab settings for the test: no autosave (the lesson file must stay as it is), no news requests, and
# every cell rendered (no windowing), so that the explorer's output is in the page once it runs.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# Select the tagged cell, run everything above it (stub cells carry `raises-exception`, so the kernel keeps
# going after their NotImplementedError), then run the cell itself. Resolves when the cells have finished.
RUN_UP_TO_TAGGED_CELL = """
async (tag) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  const notebook = panel.content;
  const index = notebook.widgets.findIndex((cell) => (cell.model.getMetadata('tags') || []).includes(tag));
  if (index < 0) { throw new Error(`no cell is tagged ${tag}`); }
  notebook.activeCellIndex = index;
  await app.commands.execute('notebook:run-all-above');
  await app.commands.execute('notebook:run-cell');
  return index;
}
"""

STAND_IN_CELLS = [
    "import torch\n\nfrom stnlib.widgets import theta_explorer",
    "digit = torch.zeros(1, 28, 28)\ndigit[0, 6:9, 7:21] = 1.0  # the bar of a 7\ndigit[0, 8:23, 17:20] = 1.0  # its stem",
    "theta_explorer(digit)",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}; CI=true, so the browser test must run (see tools/ensure_chromium.sh)")
    pytest.skip(reason)


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    notebook: str  # path relative to the server's root
    root: Path


def _target(tmp_path: Path) -> tuple[Path, str]:
    """``(root_dir, notebook)``: lesson 01 if it has the tagged cell, else a stand-in notebook in tmp_path."""
    lesson = REPO / LESSON
    if lesson.exists():
        cells = nbformat.read(lesson, as_version=4).cells
        if any(EXPLORER_TAG in c.get("metadata", {}).get("tags", []) for c in cells):
            return REPO, LESSON
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in STAND_IN_CELLS]
    nb.cells[-1].metadata["tags"] = [EXPLORER_TAG]
    nbformat.write(nb, tmp_path / "stand_in_lesson.ipynb")
    return tmp_path, "stand_in_lesson.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, method: str = "GET") -> int:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as response:
        return response.status


def _stop_server(process: subprocess.Popen, url: str, token: str) -> None:
    """Shut the server down through its API (which also shuts down its kernels), then by signal."""
    try:
        _request(f"{url}/api/shutdown?token={token}", method="POST")
        process.wait(timeout=20)
    except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
        pass
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    if executable is None:
        _unavailable("Chromium is not installed (apt-get install chromium, or run tools/ensure_chromium.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed in this environment")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root, notebook = _target(tmp)
    settings_dir = tmp / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (settings_dir / name).write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "STNLIB_BUDGET": os.environ.get("STNLIB_BUDGET", "smoke"),
    }
    port, token = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "jupyterlab.log").open("w")
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--IdentityProvider.token={token}", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers often run as root
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited early:\n{(tmp / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                if _request(f"{url}/api/status?token={token}") == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{(tmp / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield Lab(url, token, notebook, root)
    finally:
        _stop_server(process, url, token)
        log.close()


def test_theta_explorer_slider_changes_the_image(browser, lab: Lab) -> None:
    notebook_file = lab.root / lab.notebook
    digest = hashlib.sha256(notebook_file.read_bytes()).hexdigest()
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    try:
        page.goto(f"{lab.url}/lab/tree/{lab.notebook}?token={lab.token}", wait_until="domcontentloaded")
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.content?.widgets?.length > 0", timeout=60_000
        )
        page.evaluate(RUN_UP_TO_TAGGED_CELL, EXPLORER_TAG)
        image = page.locator(".stn-theta-explorer .stn-theta-image").first
        image.wait_for(state="attached", timeout=30_000)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=image.element_handle(), timeout=30_000
        )
        before_src = image.get_attribute("src")
        before = image.screenshot(path=str(ARTIFACTS / "theta-explorer-before.png"))

        handle = page.locator(".stn-theta-explorer .stn-theta-rotation .noUi-handle").first
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        assert box is not None, "the rotation slider's handle is not displayed"
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 60, y, steps=6)
        page.mouse.up()

        page.wait_for_function(
            "([el, before]) => el.src !== before && el.complete && el.naturalWidth > 0",
            arg=[image.element_handle(), before_src],
            timeout=30_000,
        )
        readout = page.locator(".stn-theta-explorer .stn-theta-rotation .widget-readout").first.inner_text()
        after = image.screenshot(path=str(ARTIFACTS / "theta-explorer-after.png"))
        page.screenshot(path=str(ARTIFACTS / "theta-explorer-page.png"))
        assert float(readout) > 0, f"dragging the rotation slider right should rotate; readout says {readout}"
        assert after != before, "the explorer's image did not change after moving the slider"
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "theta-explorer-failure.png"))
        raise
    finally:
        page.close()
    assert hashlib.sha256(notebook_file.read_bytes()).hexdigest() == digest, (
        "JupyterLab modified the notebook"
    )


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_browser_skips_locally_but_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="Chromium is not installed"):
        _unavailable("Chromium is not installed")


def test_stand_in_notebook_has_the_tagged_explorer_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)  # as if lesson 01 did not exist yet
    root, notebook = _target(tmp_path)
    cells = nbformat.read(root / notebook, as_version=4).cells
    assert root == tmp_path and cells[-1].metadata["tags"] == [EXPLORER_TAG]
    assert "theta_explorer(digit)" in cells[-1].source
