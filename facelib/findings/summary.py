"""What we found, in a few sentences generated from ``results/``: every number in them is computed
here from the recorded runs (``findings.claims``, ``findings.verdicts``, ``findings.pretrained``),
and every verdict is the interval's (``findings.verdicts``). The README opens with them
(``python -m facelib report``) and so does the dashboard's overview.

Worked example of a share in words: ``Removable(share=0.34, low=0.0, high=0.49, ...)`` reads
"34 % [0, 49]": the share removed at the last step within 1 point of the unpruned EER, and the
range its 95 % intervals allow.
"""
from __future__ import annotations

import math

from facelib import io
from facelib.findings import claims, pretrained, refit, verdicts
from facelib.findings.tables import eer_text, pct, share_text, with_interval
from facelib.study import layout
from facelib.study.recorded import PruningRun
from facelib.study.runs import FORM_OF, PRETRAINED

NAMES = {"squeezenet": "SqueezeNet", "mobilenetv2": "MobileNetV2", "resnet50": "ResNet50"}
RAW, NORMALISED = "taylor", "taylor_normalised"
CRITERION_NAMES = {"taylor": "raw Taylor", "taylor_normalised": "layer-normalised Taylor", "weight_taylor": "weight Taylor",
                   "l1": "L1", "random": "random"}


def what_we_found(tolerance: float = 0.01) -> list[str]:
    """The findings, one sentence each (none before a Taylor run of both score forms is recorded)."""
    runs = {(r.arch, r.criterion): r for r in claims.current_runs(tuple(FORM_OF))}
    archs = [a for a in NAMES if (a, RAW) in runs and (a, NORMALISED) in runs]
    if not archs:
        return []
    raw, normalised = [runs[a, RAW] for a in archs], [runs[a, NORMALISED] for a in archs]
    return [*removable_sentences(raw, normalised, tolerance), layer_sentence(raw, normalised),
            *emptied_sentence(raw, tolerance), *under_1m_sentence(tolerance), *criteria_sentence(),
            *pretrained_sentence(), *refit.sentence(PRETRAINED), *refit.sentence("squeezenet")]


def bullets(sentences: list[str]) -> str:
    """Sentences as a Markdown list, a sentence an item (empty for none)."""
    return "\n".join(f"- {s}" for s in sentences)


def as_list(tolerance: float = 0.01) -> str:
    """``what_we_found`` as a Markdown list, a finding an item (empty before there is any)."""
    return bullets(what_we_found(tolerance))


def network_findings(arch: str, tolerance: float = 0.01) -> list[str]:
    """What one network's two Taylor runs found (its notebook's closing cell): claims 1 and 3 for both
    score forms, and the layer its raw run had emptied most."""
    runs = {r.criterion: r for r in claims.current_runs((RAW, NORMALISED), (arch,))}
    if RAW not in runs or NORMALISED not in runs:
        return [f"{NAMES.get(arch, arch)} has no Taylor run of both score forms from today's base recorded yet."]
    raw, normalised = [runs[RAW]], [runs[NORMALISED]]
    return [*removable_sentences(raw, normalised, tolerance), layer_sentence(raw, normalised),
            *emptied_sentence(raw, tolerance)] + (under_1m_sentence(tolerance) if arch == "squeezenet" else [])


def bases_sentence() -> list[str]:
    """The base networks against the pretrained reference model, on the larger development set."""
    rows = [r for r in io.read_csv(layout.results_dir() / "base_models.csv", missing_ok=True, numeric=True)]
    reference = {r["align"]: r for r in io.read_csv(layout.results_dir() / "reference.csv", missing_ok=True,
                                                    numeric=True)}.get("landmarks")
    if not rows or reference is None:
        return []

    def eer(r: dict) -> str:
        return with_interval(r, "devpeople_eer")
    chosen = {arch: min((r for r in rows if r["arch"] == arch), key=lambda r: r["dev_eer"]) for arch in NAMES
              if any(r["arch"] == arch for r in rows)}
    other = {arch: [r for r in rows if r["arch"] == arch and r is not best] for arch, best in chosen.items()}
    said = _listed([f"{NAMES[a]} {eer(b)} ({b['way']})" for a, b in chosen.items()])
    beside = _listed([f"{eer(o[0])} ({o[0]['way']})" for o in other.values() if o])
    apart = all(b["devpeople_eer_low"] > reference["devpeople_eer_high"] for b in chosen.values())
    faces = max(int(b["train_images"]) for b in chosen.values())
    return [f"On the larger development set the chosen bases reach an EER of {said}, against {beside} for the "
            f"other way of training; the pretrained reference model reaches {eer(reference)}: our bases, trained "
            f"on {faces:,} faces, " + ("are weaker, their intervals wholly above its." if apart else
                                      "are not all weaker by their intervals.")]


def removable_sentences(raw: list[PruningRun], normalised: list[PruningRun], tolerance: float) -> list[str]:
    """Claim 1 for both score forms: the share of trunk parameters removable, pruned + fine-tuned."""
    def shares(runs: list[PruningRun]) -> tuple[str, dict[str, str]]:
        found = {r.arch: claims.removable(r, tolerance, finetuned=True) for r in runs}
        said = _listed([f"{_share(s)} for {NAMES[a]}" for a, s in found.items()])
        papers = {a: verdicts.PAPERS_SHARE.get(a, verdicts.SUBSTANTIAL) for a in found}
        return said, {a: verdicts.share_verdict(s, papers[a]) for a, s in found.items()}
    said_raw, judged_raw = shares(raw)
    said_normalised, judged_normalised = shares(normalised)
    return [f"With the papers' raw Taylor scores (eq. 8), the share of a network's trunk parameters (all but its "
            f"identity classifier) that can go at no more than {100 * tolerance:.0f} point of EER lost (pruned and "
            f"fine-tuned, on the larger development set, with its 95 % interval) is {said_raw}, where the papers "
            f"report {_papers_shares([r.arch for r in raw])}: {_judged(judged_raw)}.",
            f"With each layer's scores divided by their norm (layer-normalised, eq. 9) that share is {said_normalised}: "
            f"{_judged(judged_normalised)}."]


def layer_sentence(raw: list[PruningRun], normalised: list[PruningRun], share: float = 0.5) -> str:
    """Claim 3 for both score forms, where ``share`` of the filters is gone."""
    def rhos(runs: list[PruningRun]) -> tuple[str, dict[str, str]]:
        found = {r.arch: next(x for x in claims.size_loss_at(r, (share,))) for r in runs}
        said = _listed([f"{x['rho']:+.2f} [{x['rho_low']:+.2f}, {x['rho_high']:+.2f}]" if not math.isnan(x["rho"])
                        else "not measured (the run never got there)" for x in found.values()])
        return said, {a: (verdicts.interval_verdict(x["rho_low"], x["rho_high"], 0.0, papers_below=False)
                          if not math.isnan(x["rho"]) else "cannot tell") for a, x in found.items()}
    said_normalised, judged_normalised = rhos(normalised)
    said_raw, judged_raw = rhos(raw)
    order = _listed([NAMES[r.arch] for r in raw]) + "; " if len(raw) > 1 else ""
    return (f"The papers find that the layers with the most filters lose filters first: with layer-normalised "
            f"scores the rank correlation between a layer's width and the share of its filters removed, once "
            f"{pct(share, 0)} of all filters are gone, is {said_normalised} ({order}{_judged(judged_normalised)}), "
            f"with raw scores {said_raw} ({_judged(judged_raw)}). Part of that agreement is built into eq. 9: "
            f"dividing a layer's scores by their norm scales each by about one over the square root of the layer's "
            f"filters, so a wide layer's filters rank lower whatever they carry.")


def emptied_sentence(raw: list[PruningRun], tolerance: float) -> list[str]:
    """Why raw scores fail: the layer each raw run had emptied most by its first fine-tuned step past the line."""
    found = []
    for run in raw:
        emptied = verdicts.most_emptied(run, claims.removable(run, tolerance, finetuned=True).step)
        if emptied is not None:
            step, group, lost, initial = emptied
            lost_words = "had lost " * (not found) + f"{pct(lost, 0)} of its {initial}" + " filters" * (not found)
            found.append(f"{NAMES[run.arch]}'s {group} {lost_words} (step {step})")
    if not found:  # no raw run went past the line at a fine-tuned step
        return []
    return ["Why raw scores fail, likely: they average each filter's score over the positions of its feature map, which "
            "ranks the layers with large feature maps low, and those are emptied first: by the first fine-tuned step more than "
            f"{100 * tolerance:.0f} point worse, {_listed(found)}."]


def under_1m_sentence(tolerance: float) -> list[str]:
    """Claim 2: SqueezeNet's first network under 1M parameters, fine-tuned, for each score form."""
    rows = {r["score_form"]: r for r in verdicts.under_1m_verdicts(tolerance)}
    parts = []
    for run in claims.current_runs((RAW, NORMALISED), ("squeezenet",)):
        first = claims.first_under(run)
        if first is None or first["finetuned_step"] is None:
            continue
        base = first["base"]
        parts.append(f"with {FORM_OF[run.criterion].split(' (')[0]} scores at step {first['step']}, at "
                     f"{with_interval(first, 'finetuned')} EER fine-tuned ({rows[FORM_OF[run.criterion]]['verdict']})")
    if not parts:
        return []
    return [f"SqueezeNet gets under 1M parameters (the whole network, its identity classifier included; its base: "
            f"{pct(base)} EER) {_listed(parts)}."]


def criteria_sentence() -> list[str]:
    """Claim 4 at the largest share of SqueezeNet's parameters every criterion's run reached: which
    criteria give the lowest EER (those whose intervals overlap it), and the raw Taylor scores' EER."""
    compared = verdicts.criteria_compared()
    if not compared:
        return []
    share, rows = list(compared.items())[-1]
    best = [CRITERION_NAMES.get(r["run"], r["run"]) for r in rows if r["best"]]
    raw = next((r for r in rows if r["run"] == RAW), None)
    lowest = (f"{best[0]} gives the lowest EER" if len(best) == 1 else
              f"{_listed(best)} give the lowest EERs, with no difference between them")
    said_raw = (f"; the papers' raw Taylor scores give {eer_text(raw['eer'], raw['low'], raw['high'])}"
                + (", the highest" if raw is rows[-1] else "") if raw is not None and raw["run"] not in best else "")
    return [f"Against the baseline criteria at equal size ({pct(share, 0)} of SqueezeNet's trunk parameters removed), "
            f"{lowest}{said_raw}."]


def pretrained_sentence() -> list[str]:
    """The pretrained MobileFaceNet: MACs removed within ``pretrained.TOLERANCE`` of its View 2 EER."""
    found = {p["run"]: p for p in pretrained.summary()}
    if RAW not in found or NORMALISED not in found:
        return []
    n, r = found[NORMALISED], found[RAW]
    return [f"The pretrained MobileFaceNet ({with_interval(n, 'base_eer')} EER on LFW View 2) keeps its EER within "
            f"{100 * pretrained.TOLERANCE:.1f} point with {pct(n['macs_removed'], 0)} of its multiply-accumulates "
            f"removed (layer-normalised, fine-tuned), against {pct(r['macs_removed'], 0)} with raw scores."]


def _papers_shares(archs: list[str]) -> str:
    """The papers' share removable for ``archs``, in words: "up to 40 % for SqueezeNet and a substantial
    share (read as 25 %) for MobileNetV2 and ResNet50"."""
    said: dict[str, list[str]] = {}
    for arch in archs:
        words = (f"up to {pct(verdicts.PAPERS_SHARE[arch], 0)}" if arch in verdicts.PAPERS_SHARE else
                 f"a substantial share (read as {pct(verdicts.SUBSTANTIAL, 0)})")
        said.setdefault(words, []).append(NAMES[arch])
    return " and ".join(f"{words} for {_listed(names)}" for words, names in said.items())


def _share(s: claims.Removable) -> str:
    """A removable share with its range: "34 % [0, 49]" (``tables.share_text``)."""
    return share_text(s)


def _listed(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _judged(by_network: dict[str, str]) -> str:
    """Verdicts per network in words: "we disagree for all three", "we agree for MobileNetV2 and cannot
    tell for SqueezeNet and ResNet50"."""
    groups: dict[str, list[str]] = {}
    for arch, verdict in by_network.items():
        groups.setdefault(verdict, []).append(NAMES[arch])
    if len(groups) == 1 and len(by_network) > 1:
        verdict = next(iter(groups))
        return f"we {verdict} for all {['', 'one', 'two', 'three'][len(by_network)]}"
    return "we " + " and ".join(f"{v} for {_listed(names)}" for v, names in groups.items())
