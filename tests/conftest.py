"""Shared fixtures. Tests read the real data from $FACELIB_DATA (CI: ../shared/data)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

if "FACELIB_DATA" not in os.environ:
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if shared.is_dir():
        os.environ["FACELIB_DATA"] = str(shared)


@pytest.fixture
def full_profile(monkeypatch):
    """The committed study: results/ and models/ (FACELIB_PROFILE=full), read as recorded (no FACELIB_RERUN)."""
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    monkeypatch.delenv("FACELIB_RERUN", raising=False)


@pytest.fixture(scope="session")
def lfw_people():
    from facelib.data.datasets import lfw_faces

    return lfw_faces()


@pytest.fixture(scope="session")
def celeba():
    from facelib.data.datasets import celeba299_faces

    return celeba299_faces()


def pytest_configure(config):
    config.addinivalue_line("markers", "bf16_units: measures bf16 arithmetic the study uses only on a CPU with "
                                       "bfloat16 units; skipped elsewhere")


def pytest_collection_modifyitems(config, items):
    """Skip the ``bf16_units`` tests on a CPU without bfloat16 units: there the study runs fp32
    (``facelib.training.precision.runnable``), and emulated bf16 took 6-7x fp32's time (bench_precision),
    minutes a test on an AVX2-only EPYC."""
    from facelib.training import precision

    if precision.bf16_units():
        return
    skip = pytest.mark.skip(reason="no bfloat16 units on this CPU: the study runs fp32 here (facelib.training.precision)")
    for item in items:
        if "bf16_units" in item.keywords:
            item.add_marker(skip)
