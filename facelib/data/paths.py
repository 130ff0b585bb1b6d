"""Where data, caches and reference models live, and fetching LFW when it is missing.

Data root: ``$FACELIB_DATA`` if set, else ``~/.cache/facelib/data``. Below it:

    lfw/lfw-deepfunneled/<Name>/<Name>_NNNN.jpg, lfw/pairs*.txt, lfw/faces.csv
    celeba299/images/<identity>/*.jpg, celeba299/meta.csv, celeba299/faces.csv

Reference models: ``$FACELIB_MODELS`` if set, else ``<data root>/../models``
(the shared copy keeps ``models/`` beside ``data/``).

Cache of decoded, preprocessed images: ``$FACELIB_CACHE`` or ``~/.cache/facelib/cache``.

``FACELIB_OFFLINE=1`` forbids downloads (missing data is then reported at once).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from facelib.errors import FacelibError

LFW_URL = "http://vis-www.cs.umass.edu/lfw/"
# md5 checksums of the official files (the same ones torchvision checks).
LFW_FILES = {
    "lfw-deepfunneled.tgz": "68331da3eb755a505a502b5aacb3c201",
    "pairs.txt": "9f1ba174e4e1c508ff7cdf10ac338a7d",
    "pairsDevTrain.txt": "4f27cbf15b2da4a85c1907eb4181ad21",
    "pairsDevTest.txt": "5132f7440eb68cf58910c8a45a2ac10b",
}


def data_root() -> Path:
    return Path(os.environ.get("FACELIB_DATA", Path.home() / ".cache" / "facelib" / "data")).expanduser()


def cache_root() -> Path:
    root = Path(os.environ.get("FACELIB_CACHE", Path.home() / ".cache" / "facelib" / "cache")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_root() -> Path:
    env = os.environ.get("FACELIB_MODELS")
    return Path(env).expanduser() if env else data_root().parent / "models"


def reference_model() -> Path:
    """The reference MobileFaceNet ONNX file (see its README beside it)."""
    path = models_root() / "mobilefacenet" / "mobilefacenet.onnx"
    if not path.is_file():
        raise FacelibError(f"reference model not found at {path}; set FACELIB_MODELS to the folder holding mobilefacenet/")
    return path


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, expected_md5: str) -> None:
    """Download to a temporary file, check its md5, then move it into place (never half-written)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        with urllib.request.urlopen(url, timeout=30) as response:
            shutil.copyfileobj(response, tmp)
    if md5(Path(tmp.name)) != expected_md5:
        os.unlink(tmp.name)
        raise FacelibError(f"checksum mismatch for {url}; the download is corrupt, try again")
    os.replace(tmp.name, dest)


def lfw_root(download: bool = True) -> Path:
    """The LFW folder, downloading the official files when missing and the network allows."""
    root = data_root() / "lfw"
    if (root / "lfw-deepfunneled").is_dir() and (root / "pairs.txt").is_file():
        return root
    if download and os.environ.get("FACELIB_OFFLINE", "") not in ("1", "true", "yes"):
        try:
            for name, checksum in LFW_FILES.items():
                if not (root / name).exists():
                    _download(LFW_URL + name, root / name, checksum)
            with tarfile.open(root / "lfw-deepfunneled.tgz") as tar:
                tar.extractall(root, filter="data")
            (root / "lfw-deepfunneled.tgz").unlink()
            return root
        except OSError:
            pass
    raise FacelibError(
        f"LFW not found in {root} and it could not be downloaded; put lfw-deepfunneled/ and pairs.txt, "
        "pairsDevTrain.txt, pairsDevTest.txt there (from http://vis-www.cs.umass.edu/lfw/) or set FACELIB_DATA")


def celeba299_root() -> Path:
    root = data_root() / "celeba299"
    if not (root / "meta.csv").is_file():
        raise FacelibError(f"CelebA-299 face crops not found in {root} (meta.csv missing); set FACELIB_DATA to the folder holding celeba299/")
    return root
