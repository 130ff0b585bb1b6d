"""The README's findings and tables and those of ``docs/results.md``, generated from the result tables
so they are never typed by hand.

``python -m facelib report`` rewrites the parts of those files between each pair of markers below
(``blocks``: the findings in words, ``findings.summary``; the README's compact table; every table,
``headline_markdown``); a test fails when a file and the results disagree.
"""
from __future__ import annotations

import math
from pathlib import Path

from facelib import io
from facelib.errors import FacelibError
from facelib.findings import analysis, claims, pretrained, summary, verdicts
from facelib.findings.tables import pct, rho_text, trained_on, with_interval
from facelib.study import layout
from facelib.study.runs import FORM_OF

START, END = "<!-- headline:start (python -m facelib report) -->", "<!-- headline:end -->"
FINDINGS_START, FINDINGS_END = "<!-- findings:start (python -m facelib report) -->", "<!-- findings:end -->"
COMPACT_START, COMPACT_END = "<!-- compact:start (python -m facelib report) -->", "<!-- compact:end -->"


def headline_markdown() -> str:
    """The headline tables: each network's Taylor run, the pretrained MobileFaceNet's runs, the
    papers' claims and their verdicts, the base models and the deploy bench."""
    rows = claims.headline()
    if not rows:
        return "No full pruning run has results yet (notebooks 04-06 write them)."
    lines = (taylor_markdown(rows) + pretrained_markdown() + claims_markdown() + verdicts_markdown()
             + bases_markdown() + deploy_markdown())
    return "\n".join(lines)


def taylor_markdown(rows: list[dict]) -> list[str]:
    """One row per network with a Taylor pruning run (``claims.headline``)."""
    lines = ["Each network's Taylor run (raw scores, eq. 8), every figure with its 95 % interval, on the larger "
             "set of the development people (5,104 pairs, paired intervals for the removable shares) unless the row "
             "says 1,000 pairs (a run evaluated on the development pairs alone); the reference model's EER is on the "
             "same pairs as the row's base.", "",
             "| network | base model | pairs | base EER [95 %] | reference EER [95 %] | trunk parameters removable at <= 1 "
             "point EER loss: pruned | pruned + fine-tuned | smallest model (parameters) | its EER [95 %] "
             "| first model < 1M parameters: EER [95 %] | filters lost vs layer size, last step (Spearman [95 %]) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        under = (f"{with_interval(r, 'under_1m_eer')} ({int(r['under_1m_params']):,})"
                 if not math.isnan(r["under_1m_params"]) else "n/a")
        base = r["base"] + (" (earlier base)" if r["earlier_base"] else "")
        lines.append(f"| {r['network']} | {base} | {'larger set' if r['pairs'] == 'devpeople' else '1,000 pairs'} "
                     f"| {with_interval(r, 'base_eer')} | {with_interval(r, 'reference_eer')} | {r['removable']} "
                     f"| {r['removable_finetuned']} | {int(r['params_end']):,} | {with_interval(r, 'eer_end')} | {under} "
                     f"| {rho_text(r, 'size_loss_rho')} |")
    if any(r["earlier_base"] for r in rows):
        lines += ["", "(earlier base): the run started from a base since replaced by the one in the table below; "
                  "its figures describe that earlier base until the run is made again."]
    return lines


def pretrained_markdown() -> list[str]:
    """The pretrained MobileFaceNet's runs on LFW View 2 (``pretrained.summary``); nothing without them."""
    found = pretrained.summary()
    if not found:
        return []
    goal = f"{100 * pretrained.TOLERANCE:.1f}"
    lines = ["", f"| MobileFaceNet (pretrained), LFW View 2 | unpruned EER [95 %] | 10-fold accuracy "
             f"| MACs removed at <= {goal} point EER loss: pruned | pruned + fine-tuned "
             "| that step's EER [95 %] | its accuracy "
             "| last step: MACs removed | its EER [95 %] | its accuracy | filters lost vs layer size (Spearman) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    return lines + [f"| {p['run']} | {with_interval(p, 'base_eer')} | {pct(p['base_accuracy'])} "
                    f"| {pct(p['macs_removed_pruned'])} (step {p['step_pruned']}) "
                    f"| {pct(p['macs_removed'])} (step {p['step']}) | {with_interval(p, 'eer')} | {pct(p['accuracy'])} "
                    f"| {pct(p['macs_removed_end'])} (step {p['step_end']}) | {with_interval(p, 'end_eer')} "
                    f"| {pct(p['end_accuracy'])} | {p['size_loss_rho']:.2f} |" for p in found]


def bases_markdown() -> list[str]:
    """The base models of ``base_models.csv``; nothing without them."""
    base = io.read_csv(layout.results_dir() / "base_models.csv", missing_ok=True, numeric=True)
    if not base:
        return []
    lines = ["", "| network | trained | epochs | development EER [95 %] | larger development set EER [95 %] "
             "| TAR at FAR 0.1 % | training time |", "| --- | --- | --- | --- | --- | --- | --- |"]
    return lines + [f"| {b['arch']} | {b['way']} | {int(b['epochs'])} | {with_interval(b, 'dev_eer')} "
                    f"| {with_interval(b, 'devpeople_eer')} | {pct(b['dev_tar_1e3'])} | {b['train_seconds'] / 60:.0f} min "
                    f"({trained_on(b)}) |" for b in base]


def deploy_markdown() -> list[str]:
    """The deploy bench's rows (``analysis.deploy_summary``) and the CPUs they were timed on; nothing
    before the bench has run."""
    deploy = analysis.deploy_summary(analysis.deploy_rows())
    if not deploy:
        return []
    lines = ["", "| network | model (step) | MACs | batch-1 latency vs unpruned: PyTorch | ONNX Runtime fp32 "
             "| ONNX Runtime int8 | int8 speed-up over unpruned fp32 (ONNX Runtime) | EER fp32 [95 %] "
             "| EER int8 [95 %] |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {d['network']} | {d['model']} ({int(d['step'])}){' (since replaced)' * (not d['timed_today'])} "
              f"| {pct(d['macs_ratio'])} "
              f"| {d['latency_ratio_eager']:.2f} | {d['latency_ratio_onnx_fp32']:.2f} "
              f"| {d['latency_ratio_onnx_int8']:.2f} | {d['speedup_int8_vs_unpruned_fp32']:.2f}x "
              f"| {_eer(d, 'eer_fp32')} | {_eer(d, 'eer_int8')} |"
              for d in deploy]
    timed_on = {d["network"]: d["cpu"] for d in deploy}  # one bench run per network, so one CPU
    if not all(d["timed_today"] for d in deploy):
        lines += ["", "(since replaced): timed on a model whose base or run has been made again since "
                  "(`analysis.timed_today`); bench/bench_deploy.py times the new one."]
    return lines + ["", "Timed on (int8's speed-up depends on the CPU's matrix units): "
                    + "; ".join(f"{arch}: {cpu}" for arch, cpu in timed_on.items()) + "."]


def claims_markdown() -> list[str]:
    """The papers' claims on the runs that answer them (``facelib.findings.claims``: larger development-people
    set, each share with the range its EER intervals allow); nothing before such runs exist."""
    rows = claims.removable_rows()
    if not rows:
        return []
    lines = ["", "| network | score form | base EER (larger set) | removable at <= 1 point: trunk parameters, pruned "
             "| pruned + fine-tuned | MACs, pruned | pruned + fine-tuned | filters lost vs layer size (Spearman) "
             "at 10 / 25 / 50 % of the filters gone |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['network']} | {r['score_form']} | {pct(r['base_eer'])} | {r['params_pruned']} "
              f"| {r['params_finetuned']} | {r['macs_pruned']} | {r['macs_finetuned']} "
              f"| {' / '.join(rho_text(r, k) for k in ('rho_10', 'rho_25', 'rho_50'))} |" for r in rows]
    lines += ["", "Shares: at the last step before the larger-set EER exceeds the unpruned network's by more than "
              "1 point, [at least, at most] as the 95 % intervals allow (`facelib.findings.claims`): 'paired' where the run "
              "recorded the paired interval of each step's EER minus the unpruned one's, else the EERs' own, "
              "wider intervals; "
              "each Spearman correlation with its 95 % interval, the groups resampled."]
    return lines


def verdicts_markdown() -> list[str]:
    """The papers' claims beside our answers, each with its verdict (``facelib.findings.verdicts``)."""
    rows = verdicts.all_verdicts()
    if not rows:
        return []
    lines = ["", "| claim | network | score form | papers | ours (larger set, 95 % intervals) | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['claim']} | {r['network']} | {r['score_form']} | {r['papers']} | {'; '.join(filter(None, (r['ours'], r['detail'])))} "
              f"| {r['verdict']} |" for r in rows]
    lines += ["", "Verdicts are decided by the intervals (`facelib/findings/verdicts.py`): agree or disagree only where the "
              "whole interval lies on one side of the papers' figure, else cannot tell. Claim 1 is refuted only where "
              "even the first step surely over the line ('surely over at') had removed no more than the papers' share: "
              f"fine-tuned copies come every {layout.profile().finetune_every} steps, and the steps between are not measured."]
    return lines


def _eer(row: dict, column: str) -> str:
    """A deploy row's EER with its interval; a shape timed without weights has none."""
    return "n/a (shape only)" if math.isnan(row[column]) else with_interval(row, column)


def compact_markdown() -> str:
    """The README's one table: a row per network and score form, on the larger set with intervals:
    the base EER, the share of trunk parameters removable at <= 1 point (pruned + fine-tuned) and the
    widest-layers-first correlation with half the filters gone, each beside its verdict."""
    rows = claims.removable_rows()
    if not rows:
        return "No pruning run from today's bases is recorded yet (notebooks 04-06 make them)."
    judged = {(v["network"], v["score_form"], v["claim"][0]): v["verdict"].split(" / ")[-1]
              for v in verdicts.removable_verdicts() + verdicts.layer_verdicts()}
    base = {(run.arch, FORM_OF[run.criterion]): run.steps[0] for run in claims.current_runs(tuple(FORM_OF))}
    lines = ["| network | score form | base EER [95 %] | trunk parameters removable at <= 1 point, fine-tuned "
             "| papers: a large share (1) | widest layers first: Spearman, half the filters gone | papers: yes (3) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        key = (r["network"], r["score_form"])
        eer = with_interval({k.replace("devpeople_", "").replace("_pruned", ""): v for k, v in base[key].items()
                             if k.startswith("devpeople_eer") and k.endswith("_pruned")}, "eer")
        lines.append(f"| {r['network']} | {r['score_form']} | {eer} | {r['params_finetuned']} | {judged[(*key, '1')]} "
                     f"| {rho_text(r, 'rho_50')} | {judged[(*key, '3')]} |")
    return "\n".join(lines + ["", "Verdicts by the 95 % intervals: agree or disagree only where the whole interval "
                              "lies on one side of the papers' figure (`docs/results.md` has every table)."])


def blocks() -> dict[tuple[Path, str, str], str]:
    """Each generated block, by its file and its (start, end) markers: the README's findings in words
    and compact table, and every table in ``docs/results.md``."""
    readme, results = layout.ROOT / "README.md", layout.ROOT / "docs" / "results.md"
    return {(readme, FINDINGS_START, FINDINGS_END): summary.as_list() or "No Taylor run of both score forms is "
                                                                           "recorded yet.",
            (readme, COMPACT_START, COMPACT_END): compact_markdown(),
            (results, START, END): headline_markdown()}


def update_generated() -> list[Path]:
    """Rewrite every generated block (``blocks``); return the files that changed."""
    texts: dict[Path, str] = {}
    for (path, start, end), body in blocks().items():
        text = texts.setdefault(path, path.read_text())
        if start not in text or end not in text:
            raise FacelibError(f"{path} has no generated-block markers ({start} ... {end})")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        texts[path] = f"{head}{start}\n{body}\n{end}{tail}"
    changed = [path for path, text in texts.items() if text != path.read_text()]
    for path in changed:
        io.save_text(texts[path], path)
    return changed


def generated_block(path: Path, start: str, end: str) -> str:
    """The current text of ``path`` between ``start`` and ``end`` (what ``update_generated`` would replace)."""
    text = Path(path).read_text()
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n") if start in text else ""
