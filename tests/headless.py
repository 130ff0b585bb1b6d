"""Headless Chromium for the real-browser tests (dashboard and JupyterLab): the Debian packages
``chromium`` and ``chromium-driver``, installed when missing; the test is skipped with the exact
reason only where they cannot be installed."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest


def chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installing the Debian packages if they are missing."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if all(found):
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        done = subprocess.run(sudo + cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            pytest.skip(f"chromium is missing and could not be installed: {' '.join(cmd)} failed "
                        f"({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})")
    return shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, seconds: float = 90, expect: bytes | None = None) -> None:
    """Until ``url`` answers (with ``expect`` as its body, if given); fails if ``proc`` exits first."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with status {proc.returncode} before {url} answered")
        try:
            body = urllib.request.urlopen(url, timeout=2).read()
            if expect is None or body == expect:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s")


def start_browser(width: int = 1400, height: int = 1100):
    """A headless Chromium driven by Selenium (skipped where selenium or Chromium is missing)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver = chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))
