"""Shared fixtures. Tests read the real data from $FACELIB_DATA (CI: ../shared/data)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

if "FACELIB_DATA" not in os.environ:
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if shared.is_dir():
        os.environ["FACELIB_DATA"] = str(shared)


@pytest.fixture(scope="session")
def lfw_people():
    from facelib import data

    return data.lfw_faces()


@pytest.fixture(scope="session")
def celeba():
    from facelib import data

    return data.celeba299_faces()
