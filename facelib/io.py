"""Atomic writes and safe checkpoint loading: a file is either the old one or the complete new one."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from facelib.errors import FacelibError


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_partial_writes(folder: Path) -> int:
    """Delete the temporary files a killed process left behind mid-write (``.<name>.*.tmp``; the
    files they were to replace are intact); return how many. Called when a run resumes."""
    folder = Path(folder)
    stray = list(folder.rglob(".*.tmp")) if folder.is_dir() else []
    for path in stray:
        path.unlink(missing_ok=True)
    return len(stray)


def save_array(path: Path, array=None, **arrays) -> None:
    """``np.save`` of ``array`` (or ``np.savez`` of ``arrays``) to ``path``, atomically: through a temporary
    file of its own, so two threads of one process (two dashboard sessions) filling the same cache at
    once each write their own and one of them lands whole."""
    import numpy as np

    _atomic(path, lambda f: np.save(f, array) if array is not None else np.savez(f, **arrays))


def save_torch(obj: Any, path: Path) -> None:
    import torch  # here, not above: reading tables and JSON needs no torch (the dashboard's first page)

    _atomic(path, lambda f: torch.save(obj, f))


def load_torch(path: Path) -> Any:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise FacelibError(f"checkpoint {path} does not exist")
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise FacelibError(f"{path} is not a readable facelib checkpoint ({type(exc).__name__})") from None


def save_json(obj: Any, path: Path) -> None:
    _atomic(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True).encode()))


def save_bytes(blob: bytes, path: Path) -> None:
    _atomic(path, lambda f: f.write(blob))


def save_text(text: str, path: Path) -> None:
    save_bytes(text.encode(), path)


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy a file so that ``dst`` is either its old content or all of ``src``."""
    with open(src, "rb") as f:
        _atomic(dst, lambda out: shutil.copyfileobj(f, out))


def save_csv(rows: list[dict], columns: list[str], path: Path) -> None:
    """Atomically write dict rows as a CSV table with the given columns."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns)
    writer.writeheader()
    writer.writerows(rows)
    save_text(buf.getvalue(), path)


def _number(text: str):
    if text == "":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(path: Path, missing_ok: bool = False, numeric: bool = False) -> list[dict]:
    """Rows of a CSV table as dicts; ``numeric`` turns every number (and empty cell: NaN) into a float."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return []
        raise FacelibError(f"table {path} does not exist")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: _number(v) for k, v in r.items()} for r in rows] if numeric else rows


def file_digest(path: Path) -> str:
    """The first 12 hex digits of a file's SHA-256: which version of a result or model a row was made from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
