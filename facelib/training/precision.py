"""Which arithmetic a run can afford on this CPU.

The study declares bfloat16 for every network (``runs.PRECISION``) because CPUs with bfloat16
matrix units (AMX, AVX512-BF16) run its training steps in a fraction of the fp32 time. A CPU
without them emulates bfloat16 and runs the same step several times *slower* than fp32
(``bench/bench_precision.py`` prints both and names the units it found), so there the study runs
in fp32. The precision a run used is saved in its configuration, and a result recorded in one
precision answers a request in the other (``config.same_study_run``): re-running hours of work
for a change of rounding would help no one.

Worked example: ``runs.PRECISION["squeezenet"] == "bf16"``; on an AMX Xeon
``runnable("bf16") == "bf16"``, on an AVX2-only EPYC ``runnable("bf16") == "fp32"``.
"""
from __future__ import annotations

from functools import lru_cache

import torch

BF16_UNITS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs that compute in bfloat16
# matrix units that decide how fast int8 and bfloat16 run (ONNX Runtime's int8 kernels want VNNI or AMX)
MATRIX_UNITS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni")


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The CPU's model name and flags from ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return "", frozenset()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    return name, frozenset(text.split())


def bf16_units() -> tuple[str, ...]:
    """The bfloat16 units this CPU reports in ``/proc/cpuinfo`` (none where it cannot be read)."""
    return tuple(u for u in BF16_UNITS if u in _cpuinfo()[1])


def cpu_description() -> str:
    """What a timing was measured on: the CPU's model name and its int8/bf16 matrix units, e.g.
    ``"AMD EPYC 7B13 (no int8/bf16 matrix units)"``; saved beside latencies that depend on them."""
    name, flags = _cpuinfo()
    units = [u for u in MATRIX_UNITS if u in flags]
    return f"{name or 'unknown CPU'} ({', '.join(units) if units else 'no int8/bf16 matrix units'})"


def runnable(declared: str) -> str:
    """``declared`` where this CPU computes it natively, else fp32 (bf16 without units is emulated)."""
    return declared if declared != "bf16" or bf16_units() else "fp32"


def autocast(precision: str, device: str = "cpu"):
    """Mixed precision for ``precision="bf16"``: the forward pass runs convolutions and matrix
    products in bfloat16; weights, gradients, optimizer state and the losses stay float32.
    ``bench/bench_precision.py`` measures the speed-up per network (large on CPUs with AMX)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")
