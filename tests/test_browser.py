"""The dashboard in a real browser: headless Chromium visits every page, uploads two LFW faces
and checks the scores and their chart appear with no error box; a screenshot of each page goes
to ``test-output/browser/``. Chromium and its driver: ``headless.py``."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from headless import free_port, start_browser, wait_for_http

from facelib import io

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "browser"
PAGES = ("Overview", "Filters per layer", "EER per step", "Prune it yourself", "Compare two faces")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def app_url():
    port = free_port()
    env = dict(os.environ, FACELIB_PROFILE="full")
    env.pop("FACELIB_RERUN", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", proc, 60, expect=b"ok")
    except BaseException:
        proc.kill()
        raise
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    b = start_browser()
    yield b
    b.quit()


def wait_idle(browser, timeout: float = 120) -> None:
    """Until Streamlit has finished running the script (no 'Running...' status widget)."""
    time.sleep(1)
    WebDriverWait(browser, timeout).until(
        lambda b: not b.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))


def go_to(browser, page: str) -> None:
    """Click ``page`` in the sidebar, waiting for it: under load the sidebar is drawn before its links."""
    link = (By.XPATH, f"//section[@data-testid='stSidebar']//label[.//p[text()='{page}']]")
    WebDriverWait(browser, 120).until(EC.element_to_be_clickable(link)).click()
    wait_idle(browser)


def assert_no_error(browser) -> None:
    raised = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")]
    assert not raised, raised
    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stAlertContentError']")]
    assert not errors, errors


def test_every_page_and_two_uploaded_faces(app_url, browser, lfw_people):
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(app_url)
    WebDriverWait(browser, 120).until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stSidebar']")))
    wait_idle(browser)
    for i, page in enumerate(PAGES):
        go_to(browser, page)
        assert_no_error(browser)
        assert browser.find_elements(By.CSS_SELECTOR, "h1, h2"), f"{page} shows no heading"
        if page not in ("Prune it yourself", "Compare two faces"):  # these draw after an input
            WebDriverWait(browser, 60).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, ".js-plotly-plot, [data-testid='stMetric']")))
        browser.save_screenshot(str(SHOTS / f"{i + 1}_{page.lower().replace(' ', '_')}.png"))
    inputs = browser.find_elements(By.CSS_SELECTOR, "input[type='file']")
    assert len(inputs) == 2
    bush = lfw_people["George_W_Bush"]
    inputs[0].send_keys(str(bush[0].path))
    wait_idle(browser)
    browser.find_elements(By.CSS_SELECTOR, "input[type='file']")[1].send_keys(str(bush[1].path))
    wait_idle(browser)
    table = WebDriverWait(browser, 120).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stTable'] table")))
    assert "cosine similarity" in table.text
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    # one row per model shipped for the network shown first (the full profile's results/models.csv)
    listed = io.read_csv(ROOT / "results" / "models.csv")
    assert len(rows) == len([r for r in listed if r["arch"] == listed[0]["arch"]]) >= 1
    chart = WebDriverWait(browser, 60).until(lambda b: [p for p in b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
                                                        if "EER threshold" in p.text])
    assert len(chart[0].find_elements(By.CSS_SELECTOR, ".barlayer .point")) == len(rows)
    assert_no_error(browser)
    browser.save_screenshot(str(SHOTS / "5_compare_two_faces_result.png"))


def test_pretrained_mobilefacenet_compares_uploaded_faces(app_url, browser, lfw_people):
    """The network that takes 5-point aligned faces, picked in the browser, unpruned and every shipped
    pruned copy, on two uploads of one person (same) and then of two people (different)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(app_url)
    WebDriverWait(browser, 120).until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stSidebar']")))
    wait_idle(browser)
    go_to(browser, "Compare two faces")
    network = WebDriverWait(browser, 120).until(lambda b: [
        s for s in b.find_elements(By.CSS_SELECTOR, "[data-testid='stSelectbox']") if "Network" in s.text])[0]
    network.find_element(By.CSS_SELECTOR, "[role='combobox']").click()
    WebDriverWait(browser, 30).until(lambda b: [o for o in b.find_elements(By.CSS_SELECTOR, "[role='option']")
                                                if o.text == "mobilefacenet"])[0].click()
    wait_idle(browser)

    # the app runs the full profile: the committed results/ and models/
    shipped = sorted(f"step {int(r['step'])} {r['criterion']} + fine-tuned"
                     for r in io.read_csv(ROOT / "results" / "models.csv", numeric=True) if r["arch"] == "mobilefacenet")

    def decisions(a, b) -> dict[str, str]:
        """Each model's table row, by its label, for uploads ``a`` and ``b``."""
        for i, path in enumerate((a, b)):
            browser.find_elements(By.CSS_SELECTOR, "input[type='file']")[i].send_keys(str(path))
            wait_idle(browser)
        table = WebDriverWait(browser, 120).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stTable'] table")))
        assert_no_error(browser)
        rows = {r.find_element(By.CSS_SELECTOR, "th").text: r.text
                for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert set(rows) == {"unpruned (pretrained)", *shipped}
        return rows

    powell, blair = lfw_people["Colin_Powell"], lfw_people["Tony_Blair"]
    # the unpruned network and the least pruned copy (none until its pruning run is recorded)
    checked = ["unpruned (pretrained)"] + sorted(shipped, key=lambda label: int(label.split()[1]))[:1]
    same = decisions(powell[0].path, powell[1].path)
    assert all("same" in same[label] for label in checked)
    different = decisions(powell[0].path, blair[0].path)
    assert all("different" in different[label] for label in checked)
    browser.save_screenshot(str(SHOTS / "6_compare_pretrained_mobilefacenet.png"))


def click_button(browser, text: str) -> None:
    next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == text).click()


def choose(browser, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    box = next(s for s in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stSelectbox']") if label in s.text)
    box.find_element(By.CSS_SELECTOR, "[role='combobox']").click()
    WebDriverWait(browser, 30).until(lambda b: [o for o in b.find_elements(By.CSS_SELECTOR, "[role='option']")
                                                if o.text == option])[0].click()
    wait_idle(browser)


def pruned_result(browser) -> str:
    """The live pruning's EER metric, once drawn with its layer chart."""
    metric = WebDriverWait(browser, 180).until(lambda b: [m for m in b.find_elements(
        By.CSS_SELECTOR, "[data-testid='stMetric']") if "EER, pruned" in m.text])[0]
    WebDriverWait(browser, 60).until(lambda b: [p for p in b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
                                                if "filters removed" in p.text])
    assert_no_error(browser)
    return metric.text


def compared_models(browser, lfw_people) -> list[str]:
    """The models the compare page runs on two uploaded faces of one person (SqueezeNet, shown first)."""
    go_to(browser, "Compare two faces")
    bush = lfw_people["George_W_Bush"]
    for i in range(2):
        browser.find_elements(By.CSS_SELECTOR, "input[type='file']")[i].send_keys(str(bush[i].path))
        wait_idle(browser)
    table = WebDriverWait(browser, 120).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stTable'] table")))
    assert_no_error(browser)
    return [r.find_element(By.CSS_SELECTOR, "th").text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]


def test_two_sessions_prune_at_once_and_compare_their_own_models(app_url, browser, lfw_people):
    """Two browser sessions prune SqueezeNet at the same moment, 30 % of its filters by Taylor layer-
    normalised scores (the page's defaults) and by L1; each sees its EER with its interval and the
    layers' chart, and its own model, not the other's, on the compare page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    other = start_browser()
    try:
        for b in (browser, other):
            b.get(app_url)
            WebDriverWait(b, 120).until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stSidebar']")))
            wait_idle(b)
            go_to(b, "Prune it yourself")
        choose(other, "Criterion", "L1")
        click_button(browser, "Prune")
        click_button(other, "Prune")
        mine, theirs = pruned_result(browser), pruned_result(other)
        assert "%" in mine and "[" in mine and "unpruned" in mine
        assert mine != theirs  # two settings, two results
        browser.save_screenshot(str(SHOTS / "4_prune_it_yourself_result.png"))
        live = "squeezenet, Taylor, layer-normalised (eq. 9), 30% of the filters (live)"
        assert live in compared_models(browser, lfw_people)
        seen = compared_models(other, lfw_people)
        assert live not in seen and "squeezenet, L1, 30% of the filters (live)" in seen
    finally:
        other.quit()
