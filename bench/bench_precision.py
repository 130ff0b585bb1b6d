"""Benchmark of mixed precision in training (not a test). Run: .venv/bin/python bench/bench_precision.py [arch ...]

For each network, the time of one training step on 64 real LFW faces in float32 against the
same step with ``TrainConfig(precision="bf16")`` (bfloat16 autocast; both in channels-last, as
``facelib.training.loop`` runs them), as a ratio measured in this one run; the two kinds of step alternate
so that both see the same moments of a shared machine, and each figure is the fastest of its kind.
It prints the training throughput of each precision too (images per second of that fastest
step) beside the issue's goals at batch 64 on 2 cores: 500 img/s SqueezeNet, 100 MobileNetV2,
50 ResNet50. The first line names the CPU's bfloat16 units: with AMX tiles bf16 is much faster;
with AVX512-BF16 alone far less so; without either bf16 is emulated, slower than fp32, and the
study runs in fp32 (facelib.training.precision).
"""
from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from facelib.data.preprocessing import memory_format
from facelib.evaluation.timing import lfw_batch
from facelib.networks import models
from facelib.study import runs
from facelib.training.config import TrainConfig
from facelib.training.precision import autocast, bf16_units


def step_seconds(arch: str, x: torch.Tensor, y: torch.Tensor, repeats: int = 3) -> tuple[float, float]:
    """Fastest fp32 and bf16 training step of ``arch`` (a fresh network for each precision)."""
    setups = []
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(arch=arch, precision=precision)
        torch.manual_seed(0)
        model = models.build(arch, 10).to(memory_format=memory_format())
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        setups.append((cfg, model, opt, x.contiguous(memory_format=memory_format())))

    def step(cfg, model, opt, xx) -> float:
        start = time.perf_counter()
        with autocast(cfg.precision):
            logits = model(xx).float()
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    for s in setups:
        step(*s)  # warm-up
    times = [[], []]
    for _ in range(repeats):
        for k, s in enumerate(setups):
            times[k].append(step(*s))
    return min(times[0]), min(times[1])


GOAL_IMAGES_PER_SECOND = {"squeezenet": 500, "mobilenetv2": 100, "resnet50": 50}


def main(archs: list[str]) -> None:
    x = lfw_batch(64)
    y = torch.arange(64) % 10
    units = ", ".join(bf16_units()) or "none"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bfloat16 units: {units}")
    for arch in archs:
        fp32, bf16 = step_seconds(arch, x, y)
        print(f"{arch} training step, batch 64: fp32 {fp32 * 1000:.0f} ms ({64 / fp32:.0f} img/s), "
              f"bf16 {bf16 * 1000:.0f} ms ({64 / bf16:.0f} img/s), ratio bf16/fp32 {bf16 / fp32:.2f} "
              f"(goal {GOAL_IMAGES_PER_SECOND[arch]} img/s)")


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(runs.ARCHS)
    if any(a not in runs.ARCHS for a in wanted):
        sys.exit(f"networks are {', '.join(runs.ARCHS)} (default: all)")
    main(wanted)
