"""Benchmarks of pruning (not tests). Run: .venv/bin/python bench/bench_pruning.py [section ...]
(sections: overhead, latency; default both).

1. overhead: for each network, the time of a training step that also collects Taylor scores, as
   a ratio to a plain training step (goal <= 1.10); the two kinds of step alternate, twenty of
   each. Malloc holds freed memory, as in the training and pruning loops (``facelib.training.allocator``):
   with glibc's default, each step's page faults depend on what the step before it freed, and
   two identical plain steps differ by up to 15 %, more than the goal.
2. latency: for each network with a Taylor pruning run in ``results/``, the network of every
   step rebuilt from the run's ``layers.csv`` (``surgery.shrink_to``: latency depends on the
   shape, not on the weights), its batch-1 latency as a ratio to the unpruned network (goal:
   <= 0.70 at about 40 % fewer multiply-accumulates), and, at the step whose MACs ratio is
   nearest 0.60, its batch-64 throughput, and the batch-1 latency of a *uniform* shape of the
   same MACs (every group keeping the same share of its filters), which shows how much the
   shape the criterion chose matters. The pruned and unpruned networks are timed in turn
   (``record.with_latency``, ``timing.paired_latency_ms``, as for the latency columns of results/),
   all in this one run.
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from facelib.errors import FacelibError
from facelib.evaluation.timing import lfw_batch, paired_latency_ms
from facelib.networks import models
from facelib.pruning.criteria import importance
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.surgery import shrink_to
from facelib.study import record, recorded, runs
from facelib.training.allocator import hold_freed_memory


def uniform_shape(full: torch.nn.Module, macs: float) -> torch.nn.Module:
    """``full`` with every group keeping the same share of its filters, the share chosen by
    bisection so that the MACs fall to ``macs``."""
    sizes = {g.name: size(full, g) for g in channel_groups(full)}

    def shrunk(share: float):
        return shrink_to(copy.deepcopy(full), {name: max(1, round(n * share)) for name, n in sizes.items()})

    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if models.count_macs(shrunk(mid)) > macs else (mid, hi)
    return shrunk(lo)


def main(sections: list[str]) -> None:
    hold_freed_memory()
    torch.manual_seed(0)
    x64 = lfw_batch(64)
    y = torch.arange(64) % 10
    if "overhead" in sections:
        for arch in runs.ARCHS:
            scoring_overhead(arch, x64, y)
    if "latency" in sections:
        for arch in runs.ARCHS:
            pruned_latency(arch)


def scoring_overhead(arch: str, x: torch.Tensor, y: torch.Tensor) -> None:
    """A training step that also collects Taylor scores against a plain one. The two kinds of step
    alternate, so that both see the same moments of a shared machine; each figure is the fastest
    of its kind."""
    model = models.build(arch, 10)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    groups, plain, scored = channel_groups(model), [], []
    step()
    for _ in range(20):
        start = time.perf_counter()
        step()
        plain.append(time.perf_counter() - start)
        collector = importance("taylor", model, groups)
        start = time.perf_counter()
        step()
        collector.after_backward()
        scored.append(time.perf_counter() - start)
        collector.remove()
    plain, scored = min(plain), min(scored)
    print(f"{arch} training step, batch {len(x)}: plain {plain * 1000:.0f} ms, with Taylor scoring "
          f"{scored * 1000:.0f} ms, overhead ratio {scored / plain:.3f} (goal <= 1.10)")


def pruned_latency(arch: str) -> None:
    try:
        run = recorded.load_run(arch, "taylor")
    except FacelibError as e:
        print(f"{arch}: {e}")
        return
    run.steps = record.with_latency(arch, run.steps, run.layers)  # measured now, not read from results/
    print(f"{arch}, Taylor-pruned (results/pruning/{arch}-taylor), MACs ratio:batch-1 latency ratio per step: "
          + " ".join(f"{m:.2f}:{t:.2f}" for m, t in zip(run.macs_ratio[1:], run.latency_ratio[1:])))
    target = run.latency_at_macs(0.6)
    torch.manual_seed(0)
    full = models.build(arch, 1)
    small = shrink_to(copy.deepcopy(full), run.widths(target["step"]))
    batch = paired_latency_ms(full, small, batch_size=64, repeats=3, min_seconds=0)
    uniform = paired_latency_ms(full, uniform_shape(full, models.count_macs(small)))
    print(f"{arch} at step {target['step']} (MACs ratio {target['macs_ratio']:.2f}): batch-1 latency ratio "
          f"{target['latency_ratio']:.2f} (goal <= 0.70), batch-64 throughput ratio {batch[0] / batch[1]:.2f}; "
          f"a uniform shape of the same MACs: latency ratio {uniform[1] / uniform[0]:.2f}")


SECTIONS = ("overhead", "latency")

if __name__ == "__main__":
    import sys

    wanted = sys.argv[1:] or list(SECTIONS)
    if any(w not in SECTIONS for w in wanted):
        sys.exit(f"sections are {', '.join(SECTIONS)} (default: all)")
    main(wanted)
