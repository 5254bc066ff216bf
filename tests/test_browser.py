"""A real browser: JupyterLab on localhost, headless Chromium, a widget that must respond.

Runs notebook 00 in fast mode through JupyterLab's own "Run All Cells", moves a slider and a
dropdown of its widgets, and checks that the picture changed and that no widget failed to
display. Keeps a screenshot under build/browser/. Skips where Chromium or Playwright is missing
(`.ci/run` installs Debian's chromium; Playwright drives it with executable_path).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "browser"
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Chromium is missing: apt-get install -y chromium"
    ),
]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebook 00 on a loopback port, in fast mode."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "00_start_here.ipynb", root)
    # Render every cell (JupyterLab 4 otherwise virtualises off-screen cells).
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none", "autoStartDefaultKernel": true}'
    )
    news = root / ".settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = free_port(), "lessons-browser-test"
    env = {**os.environ, "LESSONS_FAST": "1", "OMP_NUM_THREADS": "1", "LESSONS_DEVICE": "cpu"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            f"--LabApp.user_settings_dir={root / '.settings'}",
            f"--LabApp.workspaces_dir={root / '.workspaces'}",
            "--LabApp.news_url=",
            "--LabServerApp.announcements_url=",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start within 60 s")
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=20)


def wait_until_all_cells_ran(page) -> None:
    """Every code cell with a visible prompt shows an execution number; none shows [*].

    (Cells whose source is collapsed, the exercises' solutions, show an empty prompt.)
    """
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent.trim()).filter(t => t.length > 0);
            return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]/.test(t));
        }""",
        timeout=240_000,
    )
    page.wait_for_selector("text=| Idle", timeout=60_000)


def image_sources(page) -> list[str]:
    return page.eval_on_selector_all(".widget-image", "els => els.map(e => e.src)")


def test_widgets_respond_in_a_real_browser(lab):
    url, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{url}/lab/tree/00_start_here.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        select_kernel = page.locator(".jp-Dialog button", has_text="Select")
        if select_kernel.count():
            select_kernel.first.click()
        page.wait_for_selector("text=| Idle", timeout=60_000)  # the kernel has started
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            wait_until_all_cells_ran(page)
        finally:
            page.screenshot(path=str(SHOTS / "00_start_here_run_all.png"))
        page.wait_for_selector(".widget-image", timeout=30_000)
        errors = page.locator("text=Error displaying widget")
        assert errors.count() == 0
        outputs = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        tracebacks = [t for t in outputs.all_inner_texts() if "Traceback" in t or "Error" in t]
        assert not tracebacks, tracebacks

        # A slider: the noise level of the exercise's widget, moved with the keyboard.
        before = image_sources(page)
        handle = page.locator(".widget-slider .noUi-handle, .widget-slider .ui-slider-handle").last
        handle.scroll_into_view_if_needed()
        handle.click()
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "before => [...document.querySelectorAll('.widget-image')]"
            ".some((e, i) => e.src !== before[i])",
            arg=before,
            timeout=30_000,
        )
        # A dropdown: the class of the digit browser.
        before = image_sources(page)
        select = page.locator(".widget-dropdown select").first
        select.scroll_into_view_if_needed()
        select.select_option(label="3")
        page.wait_for_function(
            "before => [...document.querySelectorAll('.widget-image')]"
            ".some((e, i) => e.src !== before[i])",
            arg=before,
            timeout=30_000,
        )
        select.screenshot(path=str(SHOTS / "00_start_here_dropdown.png"))
        page.locator(".widget-image").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "00_start_here.png"))
        assert page.locator("text=Error displaying widget").count() == 0
        browser.close()
