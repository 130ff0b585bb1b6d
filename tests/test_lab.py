"""The students' path in a real browser: ``make lab`` starts JupyterLab on ``notebooks/`` with the
project's kernel, and notebook 04 opens with its EER figure drawn as a Plotly graph.
Screenshots go to ``test-output/lab/``. Chromium and its driver: ``headless.py``."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from headless import free_port, start_browser, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "lab"
NOTEBOOK = "04_squeezerfacenet.ipynb"
pytest.importorskip("jupyterlab")
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``make lab`` on a free port with a random token, as a student starts it (no browser of its
    own), with settings of its own: no autosave, so opening a notebook never rewrites the committed
    file, and no news prompt."""
    port, token = free_port(), secrets.token_hex(16)
    tmp = tmp_path_factory.mktemp("lab")
    settings = tmp / "settings"
    for plugin, values in {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"}}.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    args = f"--no-browser --IdentityProvider.token={token} --ServerApp.ip=127.0.0.1"
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(SHOTS / "server.log", "w")
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_PORT={port}", f"LAB_ARGS={args}"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/status?token={token}", proc, 120)
    except BaseException:
        stop(proc, signal.SIGKILL)
        raise
    yield url, token, proc
    stop(proc, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGKILL)
    log.close()


def stop(proc: subprocess.Popen, sig: int) -> None:
    """Signal make and the JupyterLab it started (one process group)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def api(url: str, token: str, path: str):
    with urllib.request.urlopen(f"{url}/api/{path}?token={token}", timeout=10) as r:
        return json.load(r)


def test_make_lab_serves_the_notebooks_with_the_project_kernel(lab):
    url, token, proc = lab
    listed = {c["name"] for c in api(url, token, "contents")["content"]}
    assert NOTEBOOK in listed and "07_comparison.ipynb" in listed
    specs = api(url, token, "kernelspecs")
    kernel = specs["kernelspecs"][specs["default"]]["spec"]["argv"][0]
    # the kernel is the clone's own environment (".venv/bin/python" or "python" found in it)
    assert kernel in ("python", sys.executable) or Path(kernel).resolve() == (ROOT / ".venv" / "bin" / "python").resolve()


def test_notebook_04_shows_its_eer_figure_in_the_browser(lab):
    url, token, _ = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    committed = (ROOT / "notebooks" / NOTEBOOK).read_bytes()
    browser = start_browser(1400, 1000)
    try:
        browser.get(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
        WebDriverWait(browser, 120).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"))
        # JupyterLab draws outputs as they scroll into view: walk down the notebook until a
        # Plotly graph whose axes read "EER" is drawn.
        deadline, found = time.time() + 120, []
        while time.time() < deadline and not found:
            browser.execute_script(
                "const w = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                " || document.querySelector('.jp-NotebookPanel .jp-Notebook');"
                "if (w) { w.scrollTop += 600; }")
            time.sleep(1)
            found = [p for p in browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .js-plotly-plot")
                     if "EER" in p.text]
        assert found, "no Plotly graph with an EER axis was drawn in notebook 04"
        graph = found[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph)
        time.sleep(1)
        assert graph.find_elements(By.CSS_SELECTOR, ".main-svg .scatterlayer .trace"), "the graph has no curves"
        assert graph.size["width"] > 300 and graph.size["height"] > 200
        browser.save_screenshot(str(SHOTS / "notebook_04_eer_figure.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']"
                                                          " .ansi-red-fg")
    finally:
        browser.quit()
    assert (ROOT / "notebooks" / NOTEBOOK).read_bytes() == committed, "opening the notebook rewrote it"
