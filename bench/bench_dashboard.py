"""Benchmarks of the dashboard (not tests). Run: .venv/bin/python bench/bench_dashboard.py

1. Start-up: seconds from launching ``streamlit run dashboard/app.py`` to the first page rendered
   (its headline metrics present) in headless Chromium.
2. Comparing two LFW faces across five shipped models of one network on CPU, as the page does
   (``facelib.evaluation.photos.compare``): seconds with the models already loaded (cached between
   interactions; goal < 2 s), and the first time, models loaded from disk included.
3. "Prune it yourself": seconds of the page's work (``tryout.prune_once``: 30 % of the filters, Taylor
   layer-normalised, 5 scoring mini-batches, both networks evaluated on the 1,000 development pairs) per
   network, against the goals (SqueezeNet 15 s, MobileNetV2 40 s, ResNet50 120 s); the drawing adds
   well under a second. ``python bench/bench_dashboard.py live`` runs this part alone.
All figures come from this one run on this machine.
"""
from __future__ import annotations

import os
import socket
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


def startup_seconds() -> float:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import shutil

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    # the Debian chromedriver: selenium's manager would try to download one
    browser = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.headless", "true", "--server.port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
        browser.get(f"http://127.0.0.1:{port}")
        WebDriverWait(browser, 120).until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stMetric']")))
        return time.perf_counter() - start
    finally:
        browser.quit()
        proc.terminate()


LIVE_GOALS = {"squeezenet": 15.0, "mobilenetv2": 40.0, "resnet50": 120.0}


def live_pruning_seconds() -> dict[str, float]:
    from facelib.study import tryout

    out = {}
    for arch in LIVE_GOALS:
        start = time.perf_counter()
        tryout.prune_once(arch, "taylor", share=0.3, normalise=True, by="filters")
        out[arch] = time.perf_counter() - start
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
    for arch, seconds in live_pruning_seconds().items():
        print(f"prune it yourself, {arch}: {seconds:.1f} s (goal <= {LIVE_GOALS[arch]:.0f} s)")
    if sys.argv[1:] == ["live"]:
        sys.exit(0)
    cached, first, n = compare_seconds()
    print(f"compare two faces across {n} squeezenet models: {cached:.3f} s cached (goal < 2 s), "
          f"{first:.3f} s the first time (loading included)")
    print(f"start-up to the first rendered page: {startup_seconds():.1f} s")
