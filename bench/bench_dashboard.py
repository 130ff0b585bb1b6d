"""Benchmarks of the dashboard (not tests). Run: .venv/bin/python bench/bench_dashboard.py

1. Start-up and page opening on a fresh server: seconds from launching ``streamlit run dashboard/app.py``
   to its health check, from the browser's first request to the overview rendered (its headline metrics
   present) in headless Chromium, then, page after page,
   from the click in the sidebar to the page drawn (its last element present, the script finished):
   the first opening of each, its caches empty (goal <= 3 s for every page that replays ``results/``).
   ``python bench/bench_dashboard.py pages`` runs this part alone.
2. Comparing two LFW faces across five shipped models of one network on CPU, as the page does
   (``facelib.evaluation.photos.compare``): seconds with the models already loaded (cached between
   interactions; goal < 2 s), and the first time, models loaded from disk included.
3. "Prune it yourself": seconds of the page's work (``tryout.prune_once``: 30 % of the filters, Taylor
   layer-normalised, 5 scoring mini-batches, both networks evaluated on the 1,000 development pairs; the
   pretrained MobileFaceNet on 1,000 pairs of LFW View 2) per network, the first time on this machine and
   again (35 %) with the unpruned network's scores kept, against the goals (SqueezeNet 15 s, MobileNetV2
   and MobileFaceNet 40 s, ResNet50 120 s); the drawing adds well under a second. ``python bench/bench_dashboard.py live`` runs this part alone.
All figures come from this one run on this machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from facelib import io
from facelib.data.datasets import load_images
from facelib.data.pairs import lfw_pairs
from facelib.evaluation import photos
from facelib.evaluation.timing import best_of
from facelib.networks import models
from facelib.study import layout

ROOT = Path(__file__).resolve().parents[1]


# What each page draws last, as a CSS selector and the text it must hold: the page is open when it is there
DRAWN = {"Filters per layer": ("[data-testid='stMetric']", "Rank correlation"),
         "EER per step": ("[data-testid='stTable']", "95 % interval"),
         "Prune it yourself": ("[data-testid='stButton']", "Prune"),
         "Compare two faces": ("[data-testid='stFileUploader']", "")}


def page_open_seconds() -> dict[str, float]:
    """Seconds from the server's launch to its health check, to the overview from the browser's first
    request, then to each other page from its click."""
    sys.path.insert(0, str(ROOT / "tests"))
    from headless import free_port, start_browser
    from selenium.webdriver.common.by import By

    port, browser = free_port(), start_browser()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))

    def drawn(selector: str, text: str) -> bool:
        busy = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")
        return not busy and any(text in e.text for e in browser.find_elements(By.CSS_SELECTOR, selector))

    def until(selector: str, text: str, began: float, limit: float = 300) -> float:
        while not drawn(selector, text):
            if time.perf_counter() - began > limit:
                raise TimeoutError(f"{selector} with {text!r} not drawn in {limit:.0f} s")
            time.sleep(0.05)
        return time.perf_counter() - began

    try:
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
        out = {"the server itself (launch to its health check)": time.perf_counter() - start}
        began = time.perf_counter()
        browser.get(f"http://127.0.0.1:{port}")
        out["Overview (from the browser's request)"] = until("[data-testid='stMetric']", "", began)
        for page, (selector, text) in DRAWN.items():
            began = time.perf_counter()
            browser.find_element(By.XPATH, f"//section[@data-testid='stSidebar']//label[.//p[text()='{page}']]").click()
            time.sleep(0.3)  # the click reaches the server and the previous page's elements go stale
            out[page] = until(selector, text, began)
        return out
    finally:
        browser.quit()
        proc.terminate()


LIVE_GOALS = {"squeezenet": 15.0, "mobilenetv2": 40.0, "mobilefacenet": 40.0, "resnet50": 120.0}


def live_pruning_seconds() -> dict[str, tuple[float, float, bool]]:
    """Per network: seconds of a pruning on this machine's first use (the unpruned network's scores of
    the pairs not yet kept: their cache file removed), of a second setting (35 %) with them kept, and
    whether the pretrained MobileFaceNet's identity classifier had been fitted before (a one-off of
    about a minute, then kept with its pruning runs')."""
    from facelib.study import tryout
    from facelib.training.precision import runnable

    out = {}
    for arch in LIVE_GOALS:
        file = tryout.base_file(arch)
        name, pairs = tryout.evaluation_pairs(arch)
        tryout.base_scores_file(file, name, len(pairs), runnable("bf16")).unlink(missing_ok=True)
        fitted = any((layout.runs_dir() / "pruning" / "heads").glob(f"{file.stem}-*.pt"))
        times = []
        for share in (0.3, 0.35):
            start = time.perf_counter()
            tryout.prune_once(arch, "taylor", share=share, normalise=True, by="filters")
            times.append(time.perf_counter() - start)
        out[arch] = (*times, arch != "mobilefacenet" or fitted)
    return out


def compare_seconds(arch: str = "squeezenet", count: int = 5) -> tuple[float, float, int]:
    rows = [r for r in io.read_csv(layout.results_dir() / "models.csv", numeric=True) if r["arch"] == arch][:count]
    pair = lfw_pairs("dev")[0]
    a, b = ({"crop113": crop} for crop in load_images([pair.a, pair.b]).numpy())
    start = time.perf_counter()
    loaded = {r["file"]: (models.load_model(layout.models_dir() / r["file"]), r["threshold"]) for r in rows}
    photos.compare(loaded, a, b)
    first = time.perf_counter() - start
    cached = best_of(lambda: photos.compare(loaded, a, b), 5)
    return cached, first, len(rows)


if __name__ == "__main__":
    if sys.argv[1:] in ([], ["pages"]):
        for page, seconds in page_open_seconds().items():
            print(f"open {page}: {seconds:.1f} s on a fresh server (goal <= 3 s)")
    if sys.argv[1:] in ([], ["live"]):
        for arch, (first, kept, fitted) in live_pruning_seconds().items():
            print(f"prune it yourself, {arch}: {first:.1f} s the first time on this machine, {kept:.1f} s with the "
                  f"unpruned network's scores kept (goal <= {LIVE_GOALS[arch]:.0f} s)"
                  f"{'' if fitted else '; its identity classifier fitted in the first'}")
    if not sys.argv[1:]:
        cached, first, n = compare_seconds()
        print(f"compare two faces across {n} squeezenet models: {cached:.3f} s cached (goal < 2 s), "
              f"{first:.3f} s the first time (loading included)")
