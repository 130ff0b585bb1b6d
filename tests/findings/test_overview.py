"""The dashboard overview's recorded content (``findings.overview``): what the results compute, read
without torch, and out of date as soon as a table changes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from facelib.findings import overview
from facelib.study import layout


def test_the_recorded_overview_is_what_the_results_compute(full_profile):
    shown = overview.recorded()
    assert shown is not None, "results/overview.json is missing or out of date: run python -m facelib report"
    assert json.dumps(shown) == json.dumps(overview.content())  # the same, the tables' columns in their order
    assert shown["findings"] and {m["label"].split(", ", 1)[1] for n in shown["headline"] for m in n["metrics"]} \
        == {"raw (eq. 8)", "layer-normalised (eq. 9)"}


def test_the_record_is_read_without_torch():
    done = subprocess.run([sys.executable, "-c", "import sys; from facelib.findings import overview; "
                           "print(overview.recorded() is not None, 'torch' in sys.modules)"],
                          env=dict(os.environ, FACELIB_PROFILE="full"), capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]


def test_a_changed_table_or_a_new_one_changes_the_digest(tmp_path, full_profile):
    copy = tmp_path / "results"
    shutil.copytree(layout.results_dir(), copy)
    before = overview.digest(copy)
    assert overview.digest(copy) == before  # the same files, the same digest
    steps = copy / "pruning" / "squeezenet-taylor" / "steps.csv"
    steps.write_text(steps.read_text().replace("0.0", "0.1", 1))
    changed = overview.digest(copy)
    assert changed != before
    (copy / "pruning" / "new.csv").write_text("step\n0\n")
    grown = overview.digest(copy)
    assert grown not in (before, changed)
    (copy / overview.RECORD).write_text("{}")  # the record itself is not part of what it was made from
    assert overview.digest(copy) == grown
