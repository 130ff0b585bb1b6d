"""Benchmark of facelib.training.allocator (not a test). Run: .venv/bin/python bench/bench_allocator.py [arch ...]

For each network, a plain training step on 64 real LFW faces (SGD, fp32), timed in child
processes that either keep glibc's default malloc or call ``hold_freed_memory()`` first; the two
kinds of child alternate, three of each, so both see the same moments of a shared machine. Each
child reports its median step time and median minor page faults per step (after two untimed
steps); the figure of a kind is the fastest of its children's medians. The ratio held / default
is measured in this one run.
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

CHILDREN, STEPS = 3, 6


def child(arch: str, held: bool) -> None:
    import torch
    import torch.nn.functional as F

    from facelib.evaluation.timing import lfw_batch
    from facelib.networks import models
    from facelib.training.allocator import hold_freed_memory

    if held:
        assert hold_freed_memory(), "hold_freed_memory() did not take effect (libc is not glibc, or FACELIB_HOLD_MEMORY=0)"
    torch.manual_seed(0)
    x = lfw_batch(64)
    y = torch.arange(64) % 10
    model = models.build(arch, 10)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    times, faults = [], []
    for i in range(STEPS + 2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(json.dumps({"seconds": statistics.median(times), "faults": statistics.median(faults)}))


def measure(arch: str) -> None:
    got = {False: [], True: []}
    for _ in range(CHILDREN):
        for held in (False, True):
            out = subprocess.run([sys.executable, __file__, "--child", arch, str(int(held))],
                                 capture_output=True, text=True, check=True)
            got[held].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {held: min(runs, key=lambda r: r["seconds"]) for held, runs in got.items()}
    print(f"{arch} training step, batch 64: default malloc {best[False]['seconds'] * 1000:.0f} ms "
          f"({best[False]['faults']:,.0f} page faults/step), held memory {best[True]['seconds'] * 1000:.0f} ms "
          f"({best[True]['faults']:,.0f} page faults/step), ratio {best[True]['seconds'] / best[False]['seconds']:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3] == "1")
    else:
        from facelib.study.runs import ARCHS

        wanted = sys.argv[1:] or list(ARCHS)
        if any(a not in ARCHS for a in wanted):
            sys.exit(f"networks are {', '.join(ARCHS)} (default: all)")
        for arch in wanted:
            measure(arch)
