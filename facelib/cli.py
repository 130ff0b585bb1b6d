"""Command line: ``python -m facelib train|evaluate|prune|export|report|study ...``; ``--help`` on each explains every option.

Errors the user can fix (wrong path, corrupt image, missing data set, unknown architecture)
are printed as one sentence, with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from facelib.errors import FacelibError
from facelib.pruning.config import PruneConfig
from facelib.training.config import TrainConfig


def _option_type(kind: str):
    """An argparse type for a dataclass field annotation such as ``int | None``."""
    def convert(text: str):
        return _parse_value(kind, text)
    convert.__name__ = str(kind).split(" ")[0]  # argparse names it in "invalid int value"
    return convert


def _parse_value(kind, text: str):
    if text.lower() == "none":
        return None
    if "bool" in str(kind):
        return text.lower() in ("1", "true", "yes")
    if "int" in str(kind) and "." not in text:
        return int(text)
    if "float" in str(kind) or "int" in str(kind):
        return float(text) if "float" in str(kind) else int(float(text))
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m facelib", description=(
        "Train, evaluate and prune face-recognition CNNs on real faces. Data root: $FACELIB_DATA "
        "(default ~/.cache/facelib/data)."))
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a face network with the softmax identity loss",
                       description="Train (or resume) a face network; re-running with the same --out resumes.")
    t.add_argument("--out", required=True, type=Path, help="run folder for config, checkpoints, history and model.pt")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    for f in fields(TrainConfig):
        t.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default,
                       type=_option_type(f.type), help=f"{f.metadata['help']} (default: {f.default})")

    e = sub.add_parser("evaluate", help="verification EER, TAR@FAR and accuracy on LFW pairs",
                       description="Evaluate a facelib model (--model) or an ONNX face model (--onnx) on LFW pairs.")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="a model.pt written by facelib (pruned or not)")
    which.add_argument("--onnx", help="an ONNX face model file (a facelib export, fp32 or int8, or another face "
                                      "model), or 'reference' for the shipped MobileFaceNet")
    e.add_argument("--pairs", default="view2",
                   help="dev (pairsDevTest), devtrain, view2 (pairs.txt, 10 folds) or devpeople (the larger set "
                        "drawn from the development people)")
    e.add_argument("--no-mirror", action="store_true", help="do not add the embedding of the mirrored image")
    e.add_argument("--align", default=None, help="ONNX models: crop (the default for facelib exports), landmarks "
                                                  "(the default for others), fixed or none")
    e.add_argument("--landmarks", type=Path, help="CSV of face boxes and 5 points for LFW (default: lfw/faces.csv)")
    e.add_argument("--mean", type=float, default=127.5, help="ONNX models: pixel mean subtracted")
    e.add_argument("--std", type=float, default=128.0, help="ONNX models: divisor after subtracting the mean")
    e.add_argument("--json", type=Path, help="also write the results to this JSON file")
    pr = sub.add_parser("prune", help="iterative Taylor (or baseline) filter pruning that removes filters",
                        description="Prune a trained model step by step into --out; re-running with the same --out resumes.")
    pr.add_argument("--out", required=True, type=Path, help="run folder for steps.csv, layers.csv, removed.csv and models/")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    for f in fields(PruneConfig):
        flag = "--model" if f.name == "base_model" else f"--{f.name.replace('_', '-')}"
        pr.add_argument(flag, dest=f.name, default=f.default, required=f.name == "base_model",
                        type=_option_type(f.type), help=f"{f.metadata['help']} (default: {f.default})")
    x = sub.add_parser("export", help="a facelib model as ONNX (fp32, or static int8 with --int8)",
                       description="Write a facelib model's embedding as an ONNX file with a dynamic batch size, for "
                                   "ONNX Runtime; --int8 quantises it statically, calibrated on training faces.")
    x.add_argument("model", type=Path, help="a model.pt written by facelib (unpruned, pruned or fine-tuned)")
    x.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    x.add_argument("--int8", action="store_true", help="static int8 quantisation (ONNX Runtime, QDQ, per channel)")
    x.add_argument("--calibration-faces", type=int, default=300,
                   help="training faces the int8 ranges are calibrated on (never development faces; default 300)")
    sub.add_parser("report", help="rewrite the README's findings and tables, and docs/results.md, from results/",
                   description="Regenerate the findings list and the tables between the markers in README.md "
                               "and docs/results.md from results/.")
    st = sub.add_parser("study", help="make one of the study's declared runs and record it in results/",
                        description="Run (or resume) one run declared in facelib/study/runs.py exactly as the notebooks "
                                    "do, and write its results rows: base ARCH WAY, recipe NAME, prune ARCH RUN, or "
                                    "paired ARCH RUN (fill a recorded run's paired-difference columns from its run "
                                    "folder). A finished run returns at once; FACELIB_PROFILE=fast for a quick one.")
    st.add_argument("kind", choices=("base", "recipe", "prune", "paired"))
    st.add_argument("names", nargs="+", help="base: ARCH WAY; recipe: NAME; prune and paired: ARCH RUN")
    return p


def cmd_prune(args: argparse.Namespace) -> None:
    from facelib.pruning.loop import prune
    from facelib.training import parallel

    cfg = PruneConfig(**{f.name: getattr(args, f.name) for f in fields(PruneConfig)})
    cfg.base_model = str(cfg.base_model)
    part = parallel.join()  # under torchrun: one of several processes
    try:
        rows = prune(cfg, args.out, progress=not args.quiet)
    finally:
        parallel.leave(part)
    first, last = rows[0], rows[-1]
    if part.writes:
        print(f"pruned {cfg.base_model} for {last['step']} steps into {args.out}"
              f"{f' on {part.world} processes' if part.world > 1 else ''}: parameters {first['params']:,} -> "
              f"{last['params']:,}, MACs {first['macs']:,} -> {last['macs']:,}, EER {first['eer_pruned']:.2%} -> "
              f"{last['eer_pruned']:.2%}")


def cmd_export(args: argparse.Namespace) -> None:
    import tempfile

    from facelib.deployment import export
    from facelib.networks.models import load_model

    model = load_model(args.model)
    if not args.int8:
        export.export_onnx(model, args.out, source=args.model.name)
    else:
        if args.calibration_faces < 1:
            raise FacelibError("--calibration-faces must be at least 1")
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export.export_onnx(model, Path(tmp) / "fp32.onnx", source=args.model.name)
            export.quantize_int8(fp32, args.out, export.calibration_faces(args.calibration_faces))
    print(f"wrote {args.out} ({'int8' if args.int8 else 'fp32'}, {args.out.stat().st_size / 1e6:.1f} MB) from "
          f"{args.model}; evaluate it with: python -m facelib evaluate --onnx {args.out} --pairs dev")


def cmd_report(_args: argparse.Namespace) -> None:
    from facelib.findings import overview, report
    from facelib.study import layout

    changed = report.update_generated()
    print("README.md and docs/results.md: " + (f"{', '.join(p.name for p in changed)} updated from results/" if changed
                                               else "already match results/"))
    print(f"the dashboard's overview recorded in {overview.record().relative_to(layout.ROOT)}")


def cmd_study(args: argparse.Namespace) -> None:
    from facelib.study import configs, layout, record, running

    wanted = {"base": 2, "recipe": 1, "prune": 2, "paired": 2}[args.kind]
    if len(args.names) != wanted:
        raise FacelibError(f"study {args.kind} takes {wanted} name(s), not {len(args.names)}: see --help")
    name = "/".join(args.names)
    if args.kind in ("base", "recipe"):
        row = running.ensure_base(*args.names) if args.kind == "base" else running.ensure_recipe(*args.names)
        print(f"{args.kind} {name}: development EER {row['dev_eer']:.1%} [{row['dev_eer_low']:.1%}, "
              f"{row['dev_eer_high']:.1%}], larger set {row['devpeople_eer']:.1%} [{row['devpeople_eer_low']:.1%}, "
              f"{row['devpeople_eer_high']:.1%}]; in {layout.results_dir().relative_to(layout.ROOT)}")
    elif args.kind == "prune":
        print(f"pruning run {name}: {running.ensure_pruning(*args.names).relative_to(layout.ROOT)}")
    else:
        rows = record.add_paired_differences(*args.names, configs.larger_pairs())
        print(f"pruning run {name}: paired differences filled in for its {len(rows)} steps")


def cmd_train(args: argparse.Namespace) -> None:
    from facelib.training import parallel
    from facelib.training.loop import train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    cfg.check()
    part = parallel.join(cfg.device)  # under torchrun: one of several processes
    try:
        history = train(cfg, args.out, progress=not args.quiet)
    finally:
        parallel.leave(part)
    last = history[-1] if history else {}
    if part.writes:
        print(f"trained {cfg.arch} for {len(history)} epochs into {args.out}"
              f"{f' on {part.world} processes' if part.world > 1 else ''}: "
              f"val_acc={last.get('val_acc', float('nan')):.3f} dev_eer={last.get('dev_eer', float('nan')):.2%}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from facelib.data import paths
    from facelib.data.datasets import lfw_faces
    from facelib.data.pairs import lfw_pairs
    from facelib.evaluation import verification

    pairs = lfw_pairs(args.pairs, lfw_faces(faces_csv=args.landmarks) if args.landmarks else None)
    if args.onnx:
        path = paths.reference_model() if args.onnx == "reference" else Path(args.onnx)
        model = verification.OnnxFaceModel(path, args.mean, args.std, args.align)
        result = model.evaluate(pairs, mirror=not args.no_mirror, progress=sys.stderr.isatty())
        name = path.name
    else:
        from facelib.networks.models import load_model

        model = load_model(args.model)
        result = verification.evaluate_model(model, pairs, mirror=not args.no_mirror, progress=sys.stderr.isatty())
        name = str(args.model)
    print(f"{name} on LFW {args.pairs} ({result.pairs} pairs): EER {result.eer:.2%} "
          f"(95 % interval {result.eer_low:.2%}-{result.eer_high:.2%}, people resampled), "
          f"accuracy {result.accuracy:.2%} ± {result.accuracy_std:.2%}, "
          f"TAR@FAR=1e-3 {result.tar_at_far_1e3:.2%}, TAR@FAR=1e-2 {result.tar_at_far_1e2:.2%}")
    if args.json:
        from facelib.io import save_json

        save_json({"model": name, "pairs": args.pairs, **result.summary()}, args.json)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        {"train": cmd_train, "evaluate": cmd_evaluate, "prune": cmd_prune, "export": cmd_export,
         "report": cmd_report, "study": cmd_study}[args.command](args)
    except FacelibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0
