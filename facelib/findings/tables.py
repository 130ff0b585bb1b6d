"""Tables a person reads, for the notebooks and the dashboard: a few named columns, shares as
percentages, every EER beside its 95 % interval.

Each function takes rows computed elsewhere (``study.bases``, ``study.recorded``, ``claims``,
``verdicts``, ``analysis``, ``pretrained``) and only picks, names and formats their columns, so the
numbers behind a table are one ``pd.DataFrame(rows)`` away. For example, ``eer_text(0.0603, 0.0480,
0.0720)`` is ``"6.0 % [4.8, 7.2]"``: the EER, then its interval in the same unit.
"""
from __future__ import annotations

import json
import math

from facelib.findings import analysis
from facelib.study.recorded import PruningRun

LARGER, DEV = "EER, larger set [95 %]", "EER, 1,000 pairs [95 %]"


def _missing(x) -> bool:
    return x is None or x == "" or (isinstance(x, float) and math.isnan(x))


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage (``0.0603`` -> ``"6.0 %"``); ``"n/a"`` where it is missing."""
    return "n/a" if _missing(x) else f"{100 * x:.{digits}f} %"


def share_text(s, floor: bool = False) -> str:
    """A removable share (``claims.Removable``) with its range, "34 % [0, 49]"; "at least" before it where
    the run stopped with the EER still inside the tolerance (``floor``)."""
    if math.isnan(s.low):
        return f"{100 * s.share:.0f} % (no interval recorded)"
    return f"{'at least ' * floor}{100 * s.share:.0f} % [{100 * s.low:.0f}, {100 * s.high:.0f}]"


def refit_table(rows: list[dict]) -> list[dict]:
    """The refit runs beside their baseline (``findings.refit.comparison``)."""
    return [{"filters chosen by": r["selection"], "refit": r["refit"], "trained between steps": r["trained"],
             "MACs removed within tolerance, pruned": r["pruned"], "the same, fine-tuned": r["fine-tuned"],
             "MACs removed at the last step": r["reached"], "seconds per step": f"{r['seconds_per_step']:.0f}",
             "of them refitting": "—" if _missing(r["refit_seconds_per_step"]) else f"{r['refit_seconds_per_step']:.0f}"}
            for r in rows]


def eer_text(eer: float, low: float, high: float) -> str:
    """An EER and its 95 % interval, ``"6.0 % [4.8, 7.2]"``; the EER alone where no interval was recorded."""
    if _missing(eer):
        return "n/a (not measured)"
    if _missing(low):
        return f"{pct(eer)} (no interval recorded)"
    return f"{pct(eer)} [{100 * low:.1f}, {100 * high:.1f}]"


def with_interval(row: dict, column: str, unrecorded: str = "") -> str:
    """``row[column]`` with its 95 % interval (``<column>_low``, ``<column>_high``), as ``eer_text``;
    followed by ``unrecorded`` where the row has no interval."""
    nan = float("nan")
    if _missing(row.get(column, nan)):
        return "n/a (not measured)"
    if _missing(row.get(f"{column}_low", nan)):
        return pct(row[column]) + unrecorded
    return eer_text(row[column], row[f"{column}_low"], row[f"{column}_high"])


def rho_text(row: dict, column: str = "rho") -> str:
    """A rank correlation with its 95 % interval (``<column>_low``, ``<column>_high``): ``"+0.82 [+0.60, +0.94]"``."""
    if _missing(row[column]):
        return "n/a"
    return f"{row[column]:+.2f} [{row[column + '_low']:+.2f}, {row[column + '_high']:+.2f}]"


def reference_table(rows: list[dict]) -> list[dict]:
    """The reference model's rows (``running.ensure_reference``): one per face alignment."""
    return [{"model": r["model"], "faces aligned by": r["align"], DEV: with_interval(r, "eer"),
             LARGER: with_interval(r, "devpeople_eer"), "TAR at FAR 0.1 %": pct(r["tar_1e3"])} for r in rows]


def bases_table(rows: list[dict]) -> list[dict]:
    """The base models (``bases.base_models``): one row per network and way of training."""
    return [{"network": r["arch"], "training": "distilled" if r["way"] == "distill" else r["way"],
             "epochs": int(r["epochs"]), DEV: with_interval(r, "dev_eer"), LARGER: with_interval(r, "devpeople_eer"),
             "TAR at FAR 0.1 %": pct(r["dev_tar_1e3"]),
             "training time": f"{r['train_seconds'] / 60:.0f} min ({trained_on(r)})"}
            for r in rows]


def trained_on(row: dict) -> str:
    """Where a base trained, from its saved configuration: "GPU" (``device`` cuda: several runs side by
    side on one, tools/gpu_training.py) or "2 CPU cores" (the study's machine)."""
    return "GPU" if json.loads(row["config"]).get("device", "cpu").startswith("cuda") else "2 CPU cores"


def sizes_table(rows: list[dict]) -> list[dict]:
    """Each network's size and speed, from its base rows (every way of training has the same)."""
    first = {r["arch"]: r for r in reversed(rows)}
    return [{"network": arch, "trunk parameters": f"{int(r['trunk_params']):,}", "MACs (millions)": round(r["macs"] / 1e6),
             "latency, one face (ms)": f"{r['latency_ms']:.1f}"} for arch, r in reversed(first.items())]


def recipes_table(rows: list[dict]) -> list[dict]:
    """The recipe search's rows (``running.ensure_recipe``)."""
    return [{"recipe": r["recipe"], "network": r["arch"], "epochs": int(r["epochs"]), DEV: with_interval(r, "dev_eer"),
             LARGER: with_interval(r, "devpeople_eer"), "training minutes": round(r["train_seconds"] / 60)} for r in rows]


def steps_table(run: PruningRun) -> list[dict]:
    """A run's steps (``analysis.step_rows``): the unpruned network and every step with a fine-tuned copy
    (every step, in a run without copies)."""
    where = "larger set" if analysis.larger_set_measured(run) else analysis.pairs_name(run)
    return [{"step": r["step"], "trunk parameters removed": pct(r["removed"], 0), "MACs left": pct(r["macs"], 0),
             f"EER pruned ({where})": eer_text(*r["pruned"]),
             f"EER fine-tuned ({where})": eer_text(*r["finetuned"]) if r["step"] and not _missing(r["finetuned"][0]) else "",
             "latency vs unpruned": f"{r['latency_ratio']:.2f}x"} for r in analysis.step_rows(run)]


def removable_table(rows: list[dict]) -> list[dict]:
    """Claim 1 (``claims.removable_rows``): the share removable at <= 1 point, [at least, at most]."""
    return [{"network": r["network"], "score form": r["score_form"], "unpruned EER": pct(r["base_eer"]),
             "trunk parameters, pruned": str(r["params_pruned"]), "trunk parameters, fine-tuned": str(r["params_finetuned"]),
             "MACs, pruned": str(r["macs_pruned"]), "MACs, fine-tuned": str(r["macs_finetuned"])} for r in rows]


def size_loss_table(rows: list[dict]) -> list[dict]:
    """Claim 3 (``claims.size_loss_at`` rows, each with its ``network`` and ``score form``)."""
    return [{"network": r["network"], "score form": r["score form"], "filters gone": pct(r["filters_gone"], 0),
             "step": r["step"], "Spearman rho [95 %]": rho_text(r)} for r in rows]


def under_1m_table(rows: list[dict]) -> list[dict]:
    """Claim 2 (``claims.first_under`` rows, each with its ``run``)."""
    return [{"run": r["run"], "first step under 1M": r["step"], "parameters": f"{r['params']:,}",
             "unpruned EER": with_interval(r, "base"), "EER pruned": with_interval(r, "pruned"),
             "fine-tuned copy (step)": r["finetuned_step"], "EER fine-tuned": with_interval(r, "finetuned")} for r in rows]


def equal_params_table(rows: list[dict]) -> list[dict]:
    """Runs at equal shares of trunk parameters removed (``claims.at_equal_params``)."""
    return [{"share asked": pct(r["share"], 0), "run": r["run"], "step": r["step"],
             "trunk parameters removed": pct(r["params_removed"]), LARGER: eer_text(r["eer"], r["low"], r["high"]),
             "among the best": "yes" if r["best"] else ""} for r in rows]


def latency_table(rows: list[dict]) -> list[dict]:
    """Each run's step nearest a MACs ratio (``PruningRun.latency_at_macs``)."""
    return [{"network": r["network"], "run": r["criterion"], "step": r["step"], "MACs left": pct(r["macs_ratio"], 0),
             "latency vs unpruned": f"{r['latency_ratio']:.2f}x"} for r in rows]


def deploy_speed_table(rows: list[dict]) -> list[dict]:
    """The deploy bench's speed (``analysis.deploy_summary``): batch-1 latency against the unpruned
    model's in each runtime, and int8's end-to-end speed-up over the unpruned model in fp32."""
    return [{"network": r["network"], "model": r["model"], "MACs left": pct(r["macs_ratio"], 0),
             **{f"latency vs unpruned, {name}": f"{r[f'latency_ratio_{key}']:.2f}x"
                for key, name in (("eager", "PyTorch"), ("onnx_fp32", "ONNX fp32"), ("onnx_int8", "ONNX int8"))},
             "int8 speed-up over unpruned fp32": f"{r['speedup_int8_vs_unpruned_fp32']:.2f}x"} for r in rows]


def deploy_eer_table(rows: list[dict]) -> list[dict]:
    """The deploy bench's EERs (``analysis.deploy_summary``; a shape timed without weights has none)
    and where each row was timed."""
    return [{"network": r["network"], "model": r["model"],
             **{f"EER, ONNX {name} [95 %]": "shape only" if _missing(r[f"eer_{name}"]) else with_interval(r, f"eer_{name}")
                for name in ("fp32", "int8")},
             "timed on": r["cpu"], "today's model": "yes" if r["timed_today"] else "no (replaced since)"} for r in rows]


def verdicts_table(rows: list[dict]) -> list[dict]:
    """The verdicts (``verdicts.all_verdicts``), without the details that explain them."""
    return [{"claim": r["claim"], "network": r["network"], "score form": r["score_form"], "papers": r["papers"],
             "ours (larger set)": r["ours"], "verdict": r["verdict"]} for r in rows]


def pretrained_table(rows: list[dict]) -> list[dict]:
    """The pretrained MobileFaceNet's runs (``pretrained.summary``), on LFW View 2."""
    return [{"score form": r["run"], "unpruned EER": with_interval(r, "base_eer"),
             "MACs removed at <= 0.5 point: pruned": f"{pct(r['macs_removed_pruned'], 0)} (step {r['step_pruned']})",
             "MACs removed at <= 0.5 point: fine-tuned": f"{pct(r['macs_removed'], 0)} (step {r['step']})",
             "EER of that fine-tuned copy": with_interval(r, "eer"),
             "last step: MACs removed": pct(r["macs_removed_end"], 0), "last step: EER": with_interval(r, "end_eer")}
            for r in rows]
