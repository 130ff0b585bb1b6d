"""The dashboard's pages that replay recorded runs beyond the overview: which layers lose filters
("Filters per layer") and what pruning costs in verification error ("EER per step", with the DET
curves of the shipped models from their recorded scores)."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from shipped import NO_RUNS, choose_shipped_network, dev_verification, model_label

from facelib.errors import FacelibError
from facelib.findings import analysis, claims, figures
from facelib.study import recorded
from facelib.study.runs import SCORE_FORMS


def choose_run(key: str) -> recorded.PruningRun | None:
    runs = recorded.available_runs()
    if not runs:
        st.warning(NO_RUNS)
        return None
    archs = list(dict.fromkeys(a for a, _ in runs))
    c1, c2, c3 = st.columns(3)
    arch = c1.selectbox("Network", archs, key=f"{key}-arch")
    run = recorded.load_run(arch, choose_criterion([c for a, c in runs if a == arch], key, c2, c3))
    note = recorded.earlier_base_note([run])
    if note:
        st.warning(note)
    return run


def choose_criterion(names: list[str], key: str, left, right) -> str:
    """One of the run ``names``, chosen as a criterion and, for Taylor, a score form (``runs.SCORE_FORMS``:
    the papers' raw scores or layer-normalised ones), each in its column."""
    shown = list(dict.fromkeys("taylor" if n in SCORE_FORMS.values() else n for n in names))
    criterion = left.selectbox("Criterion", shown, key=f"{key}-criterion")
    if criterion != "taylor":
        return criterion
    forms = [form for form, name in SCORE_FORMS.items() if name in names]
    normalised = [i for i, form in enumerate(forms) if SCORE_FORMS[form] == "taylor_normalised"]
    form = right.radio("Score form", forms, index=normalised[0] if normalised else 0, horizontal=True,
                       key=f"{key}-form",
                       help="raw: equation 8's mean of |activation x gradient| over positions, which scores "
                            "high-resolution layers low; layer-normalised: each layer's scores over their L2 norm")
    return SCORE_FORMS[form]


SCORE_FORMS_NOTE = ("The Taylor runs come in two score forms: the papers' raw scores (eq. 8), a mean over each "
                    "feature map's positions, which ranks the filters of high-resolution layers low, and layer-"
                    "normalised scores (eq. 9), each layer's scores divided by their norm (notebook 03 explains both).")


def filters_per_layer() -> None:
    st.header("Which layers lose filters")
    st.markdown(f"{SCORE_FORMS_NOTE} Look at which rows go dark first under each form: the papers find that the "
                "layers with the most output channels lose filters first.")
    run = choose_run("layers")
    if run is None:
        return
    st.plotly_chart(figures.layer_heatmap(run), width="stretch")
    steps = [int(r["step"]) for r in run.steps]
    step = st.slider("Step", min_value=steps[0], max_value=steps[-1], value=steps[-1])
    st.plotly_chart(figures.layer_bars(run, step), width="stretch")
    rho, _ = analysis.size_loss_correlation(run, step)
    st.metric("Rank correlation: initial filters vs fraction lost", f"{rho:.2f}")


def eer_per_step() -> None:
    st.header("EER per step")
    st.markdown(f"{SCORE_FORMS_NOTE} Follow each line from the unpruned network and see how many parameters go "
                "before the EER rises a point above its start, under each form.")
    runs = recorded.available_runs()
    if not runs:
        st.warning(NO_RUNS)
        return
    c1, c2 = st.columns(2)
    criterion = choose_criterion([c for _, c in runs], "eer", c1, c2)
    x = st.radio("Against", list(figures.X_AXES), format_func=figures.X_AXES.get, horizontal=True, key="eer-axis")
    chosen = [recorded.load_run(arch, criterion) for arch, c in runs if c == criterion]
    note = recorded.earlier_base_note(chosen)
    if note:
        st.warning(note)
    with_larger = [run for run in chosen if claims.has_larger_set(run)]
    pairs = ["the larger development-people set", "the 1,000 development pairs"]
    larger = bool(with_larger) and st.radio(
        "Pairs", pairs, horizontal=True, key="eer-pairs",
        help="5,104 pairs of the development people, at every step of the runs made since; the 1,000 pairs are "
             "the figure comparable with earlier runs") == pairs[0]
    shown = with_larger if larger else chosen
    cols = st.columns(len(shown))
    for col, run in zip(cols, shown):
        col.plotly_chart(figures.eer_per_step([run], x, larger), width="stretch")
    st.subheader("Batch-1 CPU latency against MACs")
    st.caption("Each step's network timed one face at a time against the unpruned one, the two in turn "
               "(latency_ratio in results/pruning/*/steps.csv). Above the dotted line, latency falls more slowly "
               "than the multiply-accumulates.")
    st.plotly_chart(figures.latency_vs_macs(chosen), width="stretch")
    st.subheader("DET curve of a shipped step against the unpruned model")
    rows = choose_shipped_network("det")
    if rows is None:
        return
    names = {model_label(r): r["file"] for r in rows}
    ends = list(dict.fromkeys(list(names)[:1] + list(names)[-1:]))  # the least and most pruned, once each
    chosen = st.multiselect("Models", list(names), default=ends, key="det-models")
    if chosen:
        try:
            with st.spinner("Scoring the pairs (MobileFaceNet: LFW View 2, up to 2 min a model)..."):
                found = {name: dev_verification(names[name]) for name in chosen}
        except FacelibError as exc:
            st.error(f"{exc} (the DET curves need LFW; the tables above do not).")
            return
        st.plotly_chart(figures.det_curves({n: (v["scores"], v["labels"]) for n, v in found.items()}), width="stretch")
        st.table(pd.DataFrame([{"model": n, "EER": f"{v['eer']:.1%}",
                                "95 % interval (people resampled)": f"{v['low']:.1%} - {v['high']:.1%}"}
                               for n, v in found.items()]).set_index("model"))
        st.caption("A difference between two models smaller than these intervals is no difference these "
                   "pairs can show (the development pairs; LFW View 2 for MobileFaceNet).")
