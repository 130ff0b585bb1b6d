"""Pruned networks where they are deployed (not a test). Run: .venv/bin/python bench/bench_deploy.py [network ...]

For each network, the unpruned model and, of each pruning run below, the step nearest 60 % of
the MACs (``PruningRun.latency_at_macs``; for a run with a MACs target, its last step, the first at
or below 60 %, which the run fine-tuned), each in three runtimes: PyTorch eager (fp32), ONNX
Runtime fp32 and ONNX Runtime int8 (``facelib.deployment.export``: static quantisation calibrated on 300
training faces). All of one network's models and runtimes are timed in turn in this one run
(``timing.round_robin_best_of``), so that every ratio compares the same moments of a shared
machine: batch-1 latency, then batch-64 throughput (images/s). Where the step's trained weights
are here (the shipped base in ``models/``, a run's fine-tuned model in ``runs/``), each model's
development EER with its 95 % interval is measured in each runtime; elsewhere the network is
rebuilt from ``layers.csv`` (``surgery.shrink_to``, latency depends on the shape only) and timed.
File sizes: ``.pt`` (half precision, as shipped), ``.onnx`` fp32 and int8, of these models and
of every model shipped in ``models/`` (``results/model_files.csv``).

Runs compared (``runs.PRUNING_RUNS``): ``taylor`` (the study's run, free filter counts, weights not
committed), ``taylor_up16`` (that step's shape with every count rounded *up* to a multiple of 16:
more MACs, so if it is faster the counts themselves are the cause), ``taylor_shipped`` (free counts) and ``taylor_shipped_r16`` (every count a multiple of
16), the last two pruned to the same MACs from the shipped base. Everything printed also goes to
``results/deploy.csv`` (columns in results/README.md), which notebook 07 shows.
"""
from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import torch

from facelib import io
from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.evaluation import timing, verification
from facelib.findings import analysis
from facelib.networks import models
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.surgery import shrink_to
from facelib.study import configs, layout, recorded, runs
from facelib.training import precision
from facelib.training.allocator import hold_freed_memory

RUNS = ("taylor", "taylor_shipped", "taylor_shipped_r16")
RUNTIMES = ("eager", "onnx_fp32", "onnx_int8")
COLUMNS = ["arch", "model", "step", "weights", "macs", "macs_ratio", "runtime", "latency_ms", "latency_ratio",
           "throughput", "file_mb", "eer", "eer_low", "eer_high", "commit", "cpu", "source"]
LATENCY_SECONDS = 20.0  # least time of the batch-1 round robin, per network


def variants(arch: str) -> list[dict]:
    """The unpruned model and each run's step nearest 60 % of the MACs: name, step, torch model,
    whether its weights are the trained ones."""
    base = models.load_model(analysis.timing_source(arch, "unpruned"))
    out = [{"model": "unpruned", "step": 0, "net": base, "trained": True}]
    for name in RUNS:
        try:
            run = recorded.load_run(arch, name)
        except FacelibError:
            continue
        # a run with a MACs target stopped at the first step at or below it, and fine-tuned that one
        target = run.info.get("config", {}).get("target_macs")
        step = int(run.steps[-1]["step"]) if target else run.latency_at_macs(0.6)["step"]
        saved = layout.prune_run_dir(arch, name) / "models" / f"step_{step:03d}_finetuned.pt"
        if saved.exists():
            net, trained = models.load_model(saved), True
        else:
            torch.manual_seed(0)
            net, trained = shrink_to(models.build(arch, 1), run.widths(step)).eval(), False
        out.append({"model": name, "step": step, "net": net, "trained": trained})
        if name == "taylor":  # is it the channel counts? the same shape with every count rounded up to 16
            torch.manual_seed(0)
            full = models.build(arch, 1)
            initial = {g.name: size(full, g) for g in channel_groups(full)}
            up = {g: min(initial[g], 16 * math.ceil(n / 16)) for g, n in run.widths(step).items()}
            out.append({"model": "taylor_up16", "step": step, "net": shrink_to(full, up).eval(), "trained": False})
    return out


def measure(arch: str, tmp: Path) -> list[dict]:
    found = variants(arch)
    calibration = export.calibration_faces(300)
    runners, sizes = {}, {}
    for v in found:
        name = v["model"]
        pt = tmp / f"{arch}-{name}.pt"
        models.save_model(v["net"], pt, half=True, embedding_only=True)
        fp32 = export.export_onnx(v["net"], tmp / f"{arch}-{name}.onnx")
        int8 = export.quantize_int8(fp32, tmp / f"{arch}-{name}-int8.onnx", calibration)
        runners[name, "eager"] = v["net"]
        runners[name, "onnx_fp32"] = verification.OnnxFaceModel(fp32, threads=torch.get_num_threads())
        runners[name, "onnx_int8"] = verification.OnnxFaceModel(int8, threads=torch.get_num_threads())
        sizes[name, "eager"], sizes[name, "onnx_fp32"], sizes[name, "onnx_int8"] = (
            p.stat().st_size / 1e6 for p in (pt, fp32, int8))
    one, batch = timing.lfw_batch(1), timing.lfw_batch(64)

    def timed(x):
        def call(m):
            return lambda: m.embed(x)
        with torch.no_grad():
            return timing.round_robin_best_of({k: call(m) for k, m in runners.items()}, repeats=20 if len(x) == 1 else 3,
                                             min_seconds=LATENCY_SECONDS if len(x) == 1 else 0.0)

    latency, throughput = timed(one), timed(batch)
    pairs = configs.dev_pairs()
    macs0 = models.count_macs(found[0]["net"])
    rows = []
    for v in found:
        macs = models.count_macs(v["net"])
        for runtime in RUNTIMES:
            key = (v["model"], runtime)
            ver = verification.evaluate_model(runners[key], pairs) if v["trained"] else None
            rows.append({"arch": arch, "model": v["model"], "step": v["step"], "weights": "trained" if v["trained"] else "shape",
                         "macs": macs, "macs_ratio": macs / macs0, "runtime": runtime,
                         "latency_ms": 1000 * latency[key], "latency_ratio": latency[key] / latency["unpruned", runtime],
                         "throughput": len(batch) / throughput[key], "file_mb": sizes[key],
                         "eer": ver.eer if ver else "", "eer_low": ver.eer_low if ver else "",
                         "eer_high": ver.eer_high if ver else "", "commit": layout.commit(),
                         "cpu": precision.cpu_description(),
                         "source": io.file_digest(analysis.timing_source(arch, v["model"]))})
            r = rows[-1]
            eer = f"EER {ver.eer:.1%} [{ver.eer_low:.1%}, {ver.eer_high:.1%}]" if ver else "EER n/a (shape only)"
            print(f"{arch:12s} {v['model']:19s} step {v['step']:2d} MACs {r['macs_ratio']:.2f} {runtime:9s} "
                  f"batch-1 {r['latency_ms']:7.2f} ms (ratio {r['latency_ratio']:.2f}), batch-64 "
                  f"{r['throughput']:6.0f} img/s, {r['file_mb']:5.1f} MB, {eer}", flush=True)
    return rows


def file_sizes(tmp: Path) -> None:
    """Every shipped model's file size as shipped (``.pt``, half precision), as ONNX fp32 and int8."""
    rows = []
    calibration = export.calibration_faces(300)
    for row in io.read_csv(layout.results_dir() / "models.csv"):
        pt = layout.models_dir() / row["file"]
        fp32 = export.export_onnx(models.load_model(pt), tmp / "size.onnx")
        int8 = export.quantize_int8(fp32, tmp / "size-int8.onnx", calibration)
        rows.append({"file": row["file"], "pt_mb": pt.stat().st_size / 1e6, "onnx_fp32_mb": fp32.stat().st_size / 1e6,
                     "onnx_int8_mb": int8.stat().st_size / 1e6})
        print(f"{row['file']:45s} .pt (half) {rows[-1]['pt_mb']:5.1f} MB, .onnx fp32 {rows[-1]['onnx_fp32_mb']:5.1f} MB, "
              f"int8 {rows[-1]['onnx_int8_mb']:5.1f} MB", flush=True)
    io.save_csv(rows, ["file", "pt_mb", "onnx_fp32_mb", "onnx_int8_mb"], layout.results_dir() / "model_files.csv")


def main(archs: list[str]) -> None:
    hold_freed_memory()
    with tempfile.TemporaryDirectory() as tmp:
        file_sizes(Path(tmp))
    path = layout.results_dir() / "deploy.csv"
    kept = [r for r in io.read_csv(path, missing_ok=True) if r["arch"] not in archs]
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            rows = measure(arch, Path(tmp))
            kept = [r for r in kept if r["arch"] != arch] + rows
            order = {a: i for i, a in enumerate(runs.ARCHS)}
            io.save_csv(sorted(kept, key=lambda r: order[r["arch"]]), COLUMNS, path)  # after each network
    print(f"wrote {path.relative_to(layout.ROOT)}")


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(runs.ARCHS)
    if any(a not in runs.ARCHS for a in wanted):
        sys.exit(f"networks are {', '.join(runs.ARCHS)} (default: all)")
    main(wanted)
