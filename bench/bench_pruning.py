"""Benchmarks of pruning (not tests). Run: .venv/bin/python bench/bench_pruning.py [section ...]
(sections: overhead, shapes, study; default all).

1. Scoring overhead, for each network: time of a training step that also collects Taylor scores,
   as a ratio to a plain training step (goal <= 1.10); the two kinds of step alternate, twenty of each.
   Malloc holds freed memory, as in the training and pruning loops (``facelib.allocator``): with
   glibc's default, each step's page faults depend on what the step before it freed, and two
   identical plain steps differ by up to 15 %, more than the goal.
2. For each network pruned to about 40 % fewer multiply-accumulates, in two shapes: filters
   removed globally by L1 norm until the MACs fall to 60 % (a criterion decides where they go),
   and every layer kept at the same fraction (uniform): batch-1 latency and batch-64 throughput
   on CPU, as ratios to the unpruned network (goal: latency ratio <= 0.70). CPU time is not
   proportional to MACs, so the shape matters; the networks are untrained, so these shapes
   stand in for those of the trained, Taylor-pruned networks of the study.
3. The same ratios for the study's trained, Taylor-pruned networks, where their run folders exist.
All ratios are measured in this one run on real LFW faces.
"""
from __future__ import annotations

import copy
import os
import time

import torch
import torch.nn.functional as F

from facelib import models
from facelib.allocator import hold_freed_memory
from facelib.pruning import channel_groups, remove_channels, size
from facelib.pruning.scores import ScoreCollector, l1_scores, select_to_remove
from facelib.speed import best_of, lfw_batch


def prune_macs(model, fraction: float):
    groups = channel_groups(model)
    by_name = {g.name: g for g in groups}
    target = fraction * models.count_macs(model)
    while models.count_macs(model) > target:
        scores = {g.name: l1_scores(model, g) for g in groups}
        for name, drop in select_to_remove(scores, 16).items():
            dropped = set(drop)
            keep = [i for i in range(size(model, by_name[name])) if i not in dropped]
            remove_channels(model, by_name[name], torch.tensor(keep), by_name)
    return model


def prune_uniform(model, fraction: float):
    """Every group keeps the same share of its filters (highest L1), chosen by bisection so the
    MACs fall to ``fraction``."""
    full, groups = models.count_macs(model), channel_groups(model)

    def shrunk(keep_share: float):
        m = copy.deepcopy(model)
        by_name = {g.name: g for g in groups}
        for g in groups:
            k = max(1, round(size(m, g) * keep_share))
            remove_channels(m, g, l1_scores(m, g).argsort(descending=True)[:k].sort().values, by_name)
        return m

    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if models.count_macs(shrunk(mid)) > fraction * full else (mid, hi)
    return shrunk(lo)


def main(sections: list[str]) -> None:
    hold_freed_memory()
    torch.manual_seed(0)
    x64 = lfw_batch(64)
    y = torch.arange(64) % 10
    if "overhead" in sections:
        for arch in models.ARCHS:
            scoring_overhead(arch, x64, y)
    x1 = x64[:1]
    if "shapes" in sections:
        for arch in models.ARCHS:
            pruned_shapes(arch, x1, x64)
    if "study" in sections:
        for arch in models.ARCHS:
            study_pruned(arch, x1, x64)


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
        collector = ScoreCollector(model, groups, "taylor")
        start = time.perf_counter()
        step()
        collector.after_backward()
        scored.append(time.perf_counter() - start)
        collector.remove()
    plain, scored = min(plain), min(scored)
    print(f"{arch} training step, batch {len(x)}: plain {plain * 1000:.0f} ms, with Taylor scoring "
          f"{scored * 1000:.0f} ms, overhead ratio {scored / plain:.3f} (goal <= 1.10)")


def pruned_shapes(arch: str, x1: torch.Tensor, x64: torch.Tensor) -> None:
    full = models.build(arch, 10).eval()
    for shape, small in (("L1 global", prune_macs(copy.deepcopy(full), 0.6)),
                         ("uniform", prune_uniform(full, 0.6))):
        with torch.no_grad():
            lat = [best_of(lambda m=m: m(x1), 20, warmup=True) for m in (full, small)]
            thr = [best_of(lambda m=m: m(x64), 3, warmup=True) for m in (full, small)]
        print(f"{arch} ({shape}): MACs {models.count_macs(full):,} -> {models.count_macs(small):,}; batch-1 "
              f"latency {lat[0] * 1000:.1f} -> {lat[1] * 1000:.1f} ms (ratio {lat[1] / lat[0]:.2f}, goal <= 0.70); "
              f"batch-64 throughput {64 / thr[0]:.0f} -> {64 / thr[1]:.0f} img/s (ratio {thr[0] / thr[1]:.2f})")


def study_pruned(arch: str, x1: torch.Tensor, x64: torch.Tensor) -> None:
    """The trained, Taylor-pruned network of the study at the first step with <= 60 % of the MACs
    (needs the study's run folder, runs/full/pruning/<arch>-taylor, made by notebooks 04-06)."""
    from facelib import io, study

    os.environ.setdefault("FACELIB_PROFILE", "full")
    run = study.prune_run_dir(arch, "taylor")
    if not (run / "steps.csv").exists():
        print(f"{arch} (study, Taylor): no run folder {run}; run its notebook to measure it")
        return
    steps = io.read_csv(run / "steps.csv", numeric=True)
    target = next((r for r in steps if r["macs"] <= 0.6 * steps[0]["macs"]), None)
    if target is None:
        print(f"{arch} (study, Taylor): the run never reached 60 % of the MACs (last: "
              f"{steps[-1]['macs'] / steps[0]['macs']:.0%})")
        return
    full, small = (models.load_model(run / "models" / f"step_{int(r['step']):03d}_pruned.pt") for r in (steps[0], target))
    with torch.no_grad():
        lat = [best_of(lambda m=m: m(x1), 20, warmup=True) for m in (full, small)]
        thr = [best_of(lambda m=m: m(x64), 3, warmup=True) for m in (full, small)]
    print(f"{arch} (study, Taylor step {int(target['step'])}): MACs {int(steps[0]['macs']):,} -> {int(target['macs']):,}; "
          f"batch-1 latency ratio {lat[1] / lat[0]:.2f} (goal <= 0.70); batch-64 throughput ratio {thr[0] / thr[1]:.2f}")


SECTIONS = ("overhead", "shapes", "study")

if __name__ == "__main__":
    import sys

    wanted = sys.argv[1:] or list(SECTIONS)
    if any(w not in SECTIONS for w in wanted):
        sys.exit(f"sections are {', '.join(SECTIONS)} (default: all)")
    main(wanted)
