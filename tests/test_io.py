"""facelib.io: a write is all or nothing, and leaves no temporary file behind."""
from __future__ import annotations

import pytest

from facelib import io
from facelib.study import layout


def test_copy_atomic_copies_a_results_table(tmp_path):
    src = layout.ROOT / "results" / "base_models.csv"
    io.copy_atomic(src, tmp_path / "copy.csv")
    assert (tmp_path / "copy.csv").read_bytes() == src.read_bytes()
    assert list(tmp_path.iterdir()) == [tmp_path / "copy.csv"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "table.csv"
    io.save_text("old\n", target)

    def fail(f):
        f.write(b"half a tab")
        raise OSError("disk full")

    with pytest.raises(OSError):
        io._atomic(target, fail)
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]
    with pytest.raises(FileNotFoundError):
        io.copy_atomic(tmp_path / "missing.csv", target)
    assert target.read_text() == "old\n"


def test_remove_partial_writes_deletes_only_temporaries(tmp_path):
    io.save_text("kept\n", tmp_path / "steps.csv")
    (tmp_path / ".steps.csv.abc.tmp").write_text("half")
    assert io.remove_partial_writes(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["steps.csv"]
