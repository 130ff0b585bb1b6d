"""The study's runs in one place: the configurations the notebooks, the dashboard and the CLI
share, and where their run folders, result tables and shipped models live.

Two profiles, switched by the environment variable ``FACELIB_PROFILE``:

- ``full`` (default): the runs whose tables are committed in ``results/`` and whose selected
  models are shipped in ``models/``.
- ``fast``: the same code path on a few identities, one epoch and a few pruning steps, for CI
  (nbval) and for a first look; it writes under ``runs/fast/`` and never touches ``results/``.

Every run is resumable: calling :func:`train_base` or :func:`run_pruning` again continues an
interrupted run from its last checkpoint, and returns at once when the run is complete.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from facelib.config import PruneConfig, TrainConfig
from facelib.errors import FacelibError

ROOT = Path(__file__).resolve().parents[1]  # the repository (facelib is installed editable)
ARCHS = ("squeezenet", "mobilenetv2", "resnet50")
WAYS = ("plain", "distill")  # identity loss only / identity loss + distillation (facelib.distill)
CRITERIA = ("taylor", "l1", "weight_taylor", "random")
# Pruning runs by name: the four criteria on the papers' identity loss, and Taylor pruning whose
# training between and after steps also distils from the reference model (issue: stronger base
# models), with scores from the identity loss (as in the papers) or from the combined loss.
DISTILL_WEIGHT = 10.0
RUNS = {**{c: {"criterion": c} for c in CRITERIA},
        "taylor_distill": {"criterion": "taylor", "distill_weight": DISTILL_WEIGHT},
        "taylor_distill_combined": {"criterion": "taylor", "distill_weight": DISTILL_WEIGHT, "score_loss": "combined"}}


# Base training of ResNet50 runs in mixed precision (bfloat16 autocast; weights and optimizer in
# float32): much faster per step on this project's AMX CPU (bench/bench_precision.py),
# which buys it 6 epochs (as many as MobileNetV2) instead of 3 within the time budget. The two smaller networks were trained in float32 before this
# option existed and stay so.
LATENCY_COLUMNS = ["latency_ms", "latency_ratio"]  # added to a pruning run's steps.csv in results/ (with_latency)
PRECISION = {"squeezenet": "fp32", "mobilenetv2": "fp32", "resnet50": "bf16"}


@dataclass(frozen=True)
class Profile:
    """What a profile changes; everything else is the same code path."""

    name: str
    max_identities: int | None
    max_pairs: int | None
    epochs: dict = field(default_factory=dict)  # base-training epochs per network
    prune_steps: dict = field(default_factory=dict)  # pruning steps per network
    filters_per_step: dict = field(default_factory=dict)
    batches_per_step: int = 10
    prune_batch_size: int = 64
    finetune_every: int = 4
    finetune_batches: int = 50
    ship_every: dict = field(default_factory=dict)  # ship the Taylor run's fine-tuned model every n steps
    latency_seconds: float = 2.0  # least time spent timing each step's network against the unpruned one


PROFILES = {
    # Chosen so that each network's base training and pruning fit about 3 hours on 2 CPU cores;
    # the measured time of every epoch is in results/base/<arch>-<way>-history.csv.
    "full": Profile("full", None, None,
                    epochs={"squeezenet": 12, "mobilenetv2": 6, "resnet50": 6},
                    prune_steps={"squeezenet": 24, "mobilenetv2": 24, "resnet50": 16},
                    # ResNet50 has 11,456 prunable channels once its residual streams are coupled:
                    # 16 x 384 removes 54 % of them (16 x 1024 emptied the network by step 11).
                    filters_per_step={"squeezenet": 64, "mobilenetv2": 256, "resnet50": 384},
                    # models/ holds at most 80 MB: fewer shipped steps for the larger networks
                    ship_every={"squeezenet": 4, "mobilenetv2": 8, "resnet50": 16}),
    "fast": Profile("fast", 20, 60,
                    epochs={"squeezenet": 1, "mobilenetv2": 1, "resnet50": 1},
                    prune_steps={"squeezenet": 3, "mobilenetv2": 2, "resnet50": 2},
                    filters_per_step={"squeezenet": 64, "mobilenetv2": 256, "resnet50": 1024},
                    batches_per_step=2, prune_batch_size=16, finetune_every=1, finetune_batches=2,
                    ship_every={"squeezenet": 1, "mobilenetv2": 1, "resnet50": 1}, latency_seconds=0.2),
}


def profile() -> Profile:
    name = os.environ.get("FACELIB_PROFILE", "full")
    if name not in PROFILES:
        raise FacelibError(f"FACELIB_PROFILE={name!r} is not a profile; use full or fast")
    return PROFILES[name]


def runs_dir() -> Path:
    """Run folders (checkpoints; not committed)."""
    return ROOT / "runs" / profile().name


def results_dir() -> Path:
    """Result tables: ``results/`` for the full profile, ``runs/fast/results`` otherwise."""
    return ROOT / "results" if profile().name == "full" else runs_dir() / "results"


def models_dir() -> Path:
    """Shipped models: ``models/`` for the full profile, ``runs/fast/models`` otherwise."""
    return ROOT / "models" if profile().name == "full" else runs_dir() / "models"


def commit() -> str:
    """The git commit the code runs at, ``-dirty`` when tracked files differ from it (``unknown``
    outside a clone)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _started_commit(run: Path) -> str:
    """The commit a run folder was started with (written when it starts; read when it is recorded)."""
    from facelib import io

    path = run / "commit.txt"
    if not path.exists():
        io.save_text(commit(), path)
    return path.read_text().strip()


def base_config(arch: str, way: str) -> TrainConfig:
    """The base-training run of ``arch`` trained ``way`` (plain or distill), same split and budget.

    Both ways use AdamW at 3e-4 with mini-batches of 64: the papers' SGD at 0.01 stays on the
    majority identity for the first epochs on our 13k faces. The only difference between the
    two ways is the distillation term (weight 10, so it and the identity loss start at similar size).
    """
    if arch not in ARCHS or way not in WAYS:
        raise FacelibError(f"unknown base run {arch}/{way}; networks: {', '.join(ARCHS)}; ways: plain, distill")
    p = profile()
    return TrainConfig(arch=arch, epochs=p.epochs[arch], batch_size=64, optimizer="adamw", lr=3e-4,
                       lr_patience=2, distill_weight=DISTILL_WEIGHT if way == "distill" else 0.0,
                       max_identities=p.max_identities, max_pairs=p.max_pairs, checkpoint_every=50,
                       precision=PRECISION[arch])


def dev_pairs() -> list:
    """The development pairs the profile evaluates on (all 1,000; 60 evenly spaced when fast)."""
    from facelib import data

    return data.every_nth_pair(data.lfw_pairs("dev"), profile().max_pairs)


def base_run_dir(arch: str, way: str) -> Path:
    return runs_dir() / "base" / f"{arch}-{way}"


def train_base(arch: str, way: str, progress: bool = True) -> Path:
    """Train (or resume, or find finished) the base model ``arch``/``way``; return its ``model.pt``."""
    from facelib import train

    out = base_run_dir(arch, way)
    if not (out / "model.pt").exists():
        _started_commit(out)
        train.train(base_config(arch, way), out, progress=progress)
    return out / "model.pt"


# Columns of results/base_models.csv (one row per network and way of training).
BASE_COLUMNS = ["arch", "way", "epochs", "dev_eer", "dev_tar_1e3", "dev_threshold", "train_seconds", "params",
                "trunk_params", "macs", "latency_ms", "identities", "train_images", "seed", "commit", "config"]


def record_base(arch: str, way: str) -> dict:
    """Evaluate a finished base model on the development pairs and write its row of
    ``base_models.csv``, its training history and its shipped, embedding-only copy."""
    import json

    from facelib import data, evaluate, io, models, speed

    run = base_run_dir(arch, way)
    model = models.load_model(run / "model.pt")
    cfg = json.loads(model.meta["config"])
    history = io.read_csv(run / "history.csv")
    v = evaluate.evaluate_model(model, dev_pairs())
    row = {"arch": arch, "way": way, "epochs": cfg["epochs"], "dev_eer": v.eer, "dev_tar_1e3": v.tar_at_far_1e3,
           "dev_threshold": v.threshold, "train_seconds": sum(float(h["seconds"]) for h in history),
           "params": models.count_parameters(model), "trunk_params": model.trunk_parameters(),
           "macs": models.count_macs(model), "latency_ms": speed.latency_ms(model),
           "identities": model.head.out_features, "train_images": None, "seed": cfg["seed"],
           "commit": _started_commit(run),
           "config": json.dumps(cfg, sort_keys=True)}
    row["train_images"] = len(data.study_split(cfg["min_images"], cfg["val_fraction"], cfg["seed"],
                                               cfg["max_identities"], cfg["use_lfw"], cfg["use_celeba"]).train)
    io.save_csv(history, list(history[0]), results_dir() / "base" / f"{arch}-{way}-history.csv")
    rows = [r for r in io.read_csv(results_dir() / "base_models.csv", missing_ok=True)
            if (r["arch"], r["way"]) != (arch, way)] + [row]
    rows.sort(key=lambda r: (ARCHS.index(r["arch"]), WAYS.index(r["way"])))
    io.save_csv(rows, BASE_COLUMNS, results_dir() / "base_models.csv")
    if chosen_way(arch) == way:
        name = f"{arch}-{way}-base.pt"
        models.save_model(model, models_dir() / name, half=True, embedding_only=True, dev_eer=v.eer,
                          threshold=v.threshold)
        _update_models_table(name, [{"file": name, "arch": arch, "criterion": "", "step": 0, "kind": f"base-{way}",
                                     "trunk_params": row["trunk_params"], "macs": row["macs"], "dev_eer": v.eer,
                                     "threshold": v.threshold}])
    unship_other_bases(arch)
    return row


def unship_other_bases(arch: str) -> None:
    """Only the chosen base of each network (the one its pruning starts from) is shipped in
    ``models/``: two half-precision ResNet50 bases alone would take 94 of the 80 MB allowed.
    The other way's numbers stay in ``base_models.csv``; its model stays in its run folder."""
    chosen = chosen_way(arch)
    for way in WAYS:
        if way != chosen:
            name = f"{arch}-{way}-base.pt"
            (models_dir() / name).unlink(missing_ok=True)
            _update_models_table(name, [])


def base_models() -> list[dict]:
    """The rows of ``base_models.csv`` (numbers as floats)."""
    from facelib import io

    path = results_dir() / "base_models.csv"
    if not path.exists():
        raise FacelibError(f"{path} does not exist; run notebooks/02_base_models.ipynb first")
    return io.read_csv(path, numeric=True)


def chosen_way(arch: str) -> str:
    """The way of training the pruning runs start from: the one with the lower development EER."""
    rows = [r for r in base_models() if r["arch"] == arch]
    if not rows:
        raise FacelibError(f"no base model of {arch} in results; run notebooks/02_base_models.ipynb first")
    return min(rows, key=lambda r: r["dev_eer"])["way"]


def prune_config(arch: str, criterion: str) -> PruneConfig:
    """The pruning run ``criterion`` (a name of ``RUNS``) of ``arch``'s chosen base model; every run
    of a network has the same steps, filters per step and fine-tuning."""
    if criterion not in RUNS:
        raise FacelibError(f"unknown criterion {criterion!r}; choose one of {', '.join(RUNS)}")
    p = profile()
    base = base_run_dir(arch, chosen_way(arch)) / "model.pt"
    return PruneConfig(base_model=str(base.relative_to(ROOT)), **RUNS[criterion],
                       filters_per_step=p.filters_per_step[arch], steps=p.prune_steps[arch],
                       batches_per_step=p.batches_per_step, batch_size=p.prune_batch_size,
                       finetune_every=p.finetune_every,
                       finetune_batches=p.finetune_batches)


NOTEBOOKS = {"squeezenet": "04_squeezerfacenet", "mobilenetv2": "05_mobilenetv2", "resnet50": "06_resnet50"}


def notebook_for(arch: str, criterion: str | None = None) -> str:
    """The notebook (``notebooks/<name>.ipynb``) that makes a run: the base models (``criterion``
    ``None``), a network's Taylor run, or the other criteria's runs (the comparison)."""
    if criterion is None:
        return "02_base_models"
    return NOTEBOOKS[arch] if criterion == "taylor" else "07_comparison"


def prune_run_dir(arch: str, criterion: str) -> Path:
    return runs_dir() / "pruning" / f"{arch}-{criterion}"


def run_pruning(arch: str, criterion: str, progress: bool = True) -> Path:
    """Run (or resume, or find finished) the pruning run; return its folder."""
    from facelib.pruning import loop

    cfg = prune_config(arch, criterion)
    if not (ROOT / cfg.base_model).exists():
        raise FacelibError(f"the base model {cfg.base_model} is not here (only its tables are committed); "
                           "run notebooks/02_base_models.ipynb with FACELIB_RERUN=1 first")
    out = prune_run_dir(arch, criterion)
    _started_commit(out)
    cwd = os.getcwd()
    os.chdir(ROOT)  # the base model path is stored relative to the repository
    try:
        loop.prune(cfg, out, progress=progress)
    finally:
        os.chdir(cwd)
    return out


# Columns of results/models.csv: the shipped models, with what the dashboard shows of each.
MODEL_COLUMNS = ["file", "arch", "criterion", "step", "kind", "trunk_params", "macs", "dev_eer", "threshold"]


def with_latency(arch: str, steps: list[dict], layers: list[dict]) -> list[dict]:
    """``steps`` with each step's batch-1 CPU latency: ``latency_ms`` of the step's network and
    ``latency_ratio`` to the unpruned one, timed in turn with it for the profile's
    ``latency_seconds`` at least (``speed.paired_latency_ms``).
    The step's network is rebuilt from its widths in ``layers`` (``pruning.shrink_to``): latency
    depends on the shape, not on the weights, and the rebuilt network has the step's exact
    parameters and MACs (tests/test_results.py checks it)."""
    import copy

    import torch

    from facelib import models, speed
    from facelib.analysis import widths_by_step
    from facelib.pruning import shrink_to

    widths = widths_by_step(layers)
    torch.manual_seed(0)
    full = models.build(arch, 1)
    out = []
    for row in steps:
        pruned = shrink_to(copy.deepcopy(full), widths[int(float(row["step"]))])
        full_ms, ms = speed.paired_latency_ms(full, pruned, min_seconds=profile().latency_seconds)
        out.append({**row, "latency_ms": ms, "latency_ratio": ms / full_ms})
    return out


def remeasure_latency(arch: str, criterion: str) -> list[dict]:
    """Measure the latency columns of a recorded run's ``steps.csv`` again, in place (atomically)."""
    from facelib import io
    from facelib.pruning import loop

    dest = results_dir() / "pruning" / f"{arch}-{criterion}"
    steps = with_latency(arch, io.read_csv(dest / "steps.csv"), io.read_csv(dest / "layers.csv"))
    io.save_csv(steps, loop.STEP_COLUMNS + LATENCY_COLUMNS, dest / "steps.csv")
    return steps


def record_pruning(arch: str, criterion: str, ship_every: int | None = None) -> list[dict]:
    """Copy a finished pruning run's tables to ``results/pruning/<arch>-<criterion>/`` with each
    step's batch-1 CPU latency added (``with_latency``), write ``run.json`` (configuration, seed,
    split, duration, commit), and ship the fine-tuned models of every ``ship_every``-th step
    (``None``: none)."""
    import json

    from facelib import io, models
    from facelib.pruning import loop

    run, dest = prune_run_dir(arch, criterion), results_dir() / "pruning" / f"{arch}-{criterion}"
    for table in ("layers.csv", "removed.csv"):
        io.copy_atomic(run / table, dest / table)
    steps = with_latency(arch, io.read_csv(run / "steps.csv"), io.read_csv(run / "layers.csv"))
    io.save_csv(steps, loop.STEP_COLUMNS + LATENCY_COLUMNS, dest / "steps.csv")
    cfg = json.loads((run / "config.json").read_text())
    base = models.load_model(ROOT / cfg["base_model"])
    base_cfg = json.loads(base.meta["config"])
    io.save_json({"config": cfg, "seed": cfg["seed"], "base_training": base_cfg,
                  "seconds": sum(float(r["seconds"]) for r in steps), "commit": _started_commit(run),
                  "profile": profile().name, "base_way": "distill" if base_cfg["distill_weight"] > 0 else "plain"},
                 dest / "run.json")
    shipped = []
    for row in steps:
        step = int(row["step"])
        if ship_every is None or step == 0 or step % ship_every or row["eer_finetuned"] == "":
            continue
        model = models.load_model(run / "models" / f"step_{step:03d}_finetuned.pt")
        name = f"{arch}-{criterion}-step{step:03d}-finetuned.pt"
        models.save_model(model, models_dir() / name, half=True, embedding_only=True,
                          dev_eer=float(row["eer_finetuned"]), threshold=float(row["threshold_finetuned"]))
        shipped.append({"file": name, "arch": arch, "criterion": criterion, "step": step, "kind": "finetuned",
                        "trunk_params": model.trunk_parameters(), "macs": models.count_macs(model),
                        "dev_eer": float(row["eer_finetuned"]), "threshold": float(row["threshold_finetuned"])})
    _update_models_table(f"{arch}-{criterion}-", shipped)
    return steps


def _update_models_table(prefix: str, rows: list[dict]) -> None:
    """Replace the rows of ``models.csv`` whose file name starts with ``prefix`` by ``rows``."""
    from facelib import io

    path = results_dir() / "models.csv"
    keep = [r for r in io.read_csv(path, missing_ok=True) if not r["file"].startswith(prefix)]
    rows = sorted(keep + rows, key=lambda r: (ARCHS.index(r["arch"]), r["file"]))
    io.save_csv(rows, MODEL_COLUMNS, path)


# Columns of results/reference.csv: the pretrained reference model on the development pairs.
REFERENCE_COLUMNS = ["model", "align", "pairs", "eer", "tar_1e3", "threshold", "seconds", "commit"]


def record_reference() -> list[dict]:
    """The reference MobileFaceNet's EER on the development pairs, with its own 5-point alignment
    and with the fixed transform, so the base networks are compared on the same pairs."""
    from facelib import data, evaluate, io, paths

    pairs = dev_pairs()
    rows = []
    for align in ("landmarks", "fixed"):
        v = evaluate.OnnxFaceModel(paths.reference_model(), align=align).evaluate(pairs)
        rows.append({"model": "mobilefacenet (ONNX)", "align": align, "pairs": len(pairs), "eer": v.eer,
                     "tar_1e3": v.tar_at_far_1e3, "threshold": v.threshold, "seconds": v.seconds, "commit": commit()})
    io.save_csv(rows, REFERENCE_COLUMNS, results_dir() / "reference.csv")
    return rows


def rerun() -> bool:
    """``FACELIB_RERUN=1`` makes the notebooks run experiments whose results are already in the
    results folder (the committed full-run tables); otherwise those tables are used as they are."""
    return os.environ.get("FACELIB_RERUN", "0") not in ("", "0")


def ensure_reference() -> list[dict]:
    from facelib import io

    path = results_dir() / "reference.csv"
    return io.read_csv(path, numeric=True) if path.exists() and not rerun() else record_reference()


def ensure_base(arch: str, way: str, progress: bool = True) -> dict:
    """The results row of base model ``arch``/``way``, training it first unless the results hold
    it with today's configuration."""
    import json

    from facelib import io

    cfg = base_config(arch, way)
    rows = [r for r in io.read_csv(results_dir() / "base_models.csv", missing_ok=True, numeric=True)
            if (r["arch"], r["way"]) == (arch, way)]
    if rows and not rerun() and TrainConfig.from_dict(json.loads(rows[0]["config"])).to_dict() == cfg.to_dict():
        return rows[0]
    # A finished result must match exactly; a run folder only needs to be the same run (it may
    # resume with more epochs, other threads or another device).
    _clear_if_stale(base_run_dir(arch, way), lambda saved: TrainConfig.from_dict(saved).same_run_as(cfg))
    train_base(arch, way, progress=progress)
    return record_base(arch, way)


def _clear_if_stale(out: Path, same) -> None:
    """A run folder made with another configuration is deleted in the fast profile (disposable)
    and refused in the full one."""
    import json
    import shutil

    if not (out / "config.json").exists() or same(json.loads((out / "config.json").read_text())):
        return
    if profile().name == "fast":
        shutil.rmtree(out)
    else:
        raise FacelibError(f"{out} holds a run with another configuration; move it away to run this one")


def ensure_pruning(arch: str, criterion: str, progress: bool = True) -> Path:
    """The results folder of a pruning run, running it first unless the results hold it. The
    Taylor run of each network ships its fine-tuned models every ``profile().ship_every`` steps."""
    import json
    from dataclasses import asdict

    dest = results_dir() / "pruning" / f"{arch}-{criterion}"
    wanted = asdict(prune_config(arch, criterion))
    current = (dest / "run.json").exists() and json.loads((dest / "run.json").read_text())["config"] == wanted
    if not current or rerun():
        _clear_if_stale(prune_run_dir(arch, criterion), lambda saved: saved == wanted)
        run_pruning(arch, criterion, progress=progress)
        record_pruning(arch, criterion, ship_every=profile().ship_every[arch] if criterion == "taylor" else None)
    return dest
