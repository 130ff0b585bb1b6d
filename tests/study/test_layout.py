"""facelib.study.layout: where runs and results go, and the code version a run records."""
from __future__ import annotations

import subprocess

from facelib.study import layout


def test_commit_is_dirty_for_code_changes_only(tmp_path, monkeypatch):
    """A run recorded while the next one starts changes results/ only: the next run's code is clean."""
    git = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "steps.csv").write_text("step\n0\n")
    (tmp_path / "loop.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setattr(layout, "ROOT", tmp_path)
    head = layout.commit()
    assert not head.endswith("-dirty") and head != "unknown"
    (tmp_path / "results" / "steps.csv").write_text("step\n0\n1\n")
    assert layout.commit() == head
    (tmp_path / "loop.py").write_text("x = 2\n")
    assert layout.commit() == f"{head}-dirty"
