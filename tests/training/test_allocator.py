"""facelib.training.allocator: with freed memory held, steady training steps on real faces (after three)
map almost no new memory; with glibc's default they fault pages every step. Each side runs in a
fresh process, since the setting lasts for the rest of a process."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

STEPS = """
import json, resource, sys
import torch, torch.nn.functional as F
from facelib.evaluation.timing import lfw_batch
from facelib.networks import models
from facelib.training.allocator import hold_freed_memory

held = hold_freed_memory()  # FACELIB_HOLD_MEMORY=0 on the default side
torch.set_num_threads(1)
torch.manual_seed(0)
x, y = lfw_batch(64), torch.arange(64) % 10
model = models.build("squeezenet", 10)
opt = torch.optim.SGD(model.parameters(), lr=1e-4)
faults = []
for _ in range(9):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"held": bool(held), "faults": faults[3:]}))
"""


def steady_faults(mode: str) -> dict:
    env = dict(os.environ, FACELIB_HOLD_MEMORY="1" if mode == "held" else "0")
    out = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is glibc's")
def test_held_memory_stops_page_faults_of_steady_training_steps():
    default, held = steady_faults("default"), steady_faults("held")
    assert held["held"] and not default["held"]  # the opt-out is honoured
    # Most steady steps fault no page at all; now and then one grows the heap a little.
    assert statistics.median(held["faults"]) < 1000, held
    assert sum(default["faults"]) > 5 * max(sum(held["faults"]), 1000), (default, held)
