"""The dashboard's "Prune it yourself" page: one-shot pruning of a shipped base with the settings a user
picks, by the library function the notebooks' "Try it" cells call (``facelib.study.tryout.prune_once``).

Each browser session keeps its own pruned models (``st.session_state``), which the compare page then
offers beside the shipped ones; the same settings a second time come from a cache shared by the sessions
(the result is the same for everyone: scores, removal and evaluation are seeded).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.findings import figures, tables
from facelib.networks import models
from facelib.study import tryout

# What the user picks, and the criterion and score form each stands for (``pruning.criteria.CRITERIA``)
CRITERIA = {"Taylor, layer-normalised (eq. 9)": ("taylor", True), "Taylor, raw (eq. 8, the papers')": ("taylor", False),
            "weight-Taylor": ("weight_taylor", False), "L1": ("l1", False), "random": ("random", False)}
SHARE_OF = {k: tryout.SIZES[k] for k in ("filters", "params", "macs")}
RUNTIMES = {"torch": "PyTorch", "onnx": "ONNX Runtime (fp32)"}
SESSION_KEY = "pruned"  # label -> {"arch", "model", "threshold", "eer"}: this session's pruned models


@st.cache_resource(show_spinner=False, max_entries=8)
def prune(arch: str, criterion: str, normalise: bool, share: float, by: str, round_to: int,
          batches: int, recovery: int, _progress: tryout.Progress | None = None) -> tryout.TryOut:
    """``tryout.prune_once``, once per setting for all sessions (``_progress`` is not part of the key)."""
    return tryout.prune_once(arch, criterion, share=share, normalise=normalise, batches=batches, by=by,
                             round_to=round_to, recovery=recovery, progress=_progress)


@st.cache_data(show_spinner=False)
def latency_ratio(_found: tryout.TryOut, key: tuple, runtime: str) -> float:
    """``TryOut.latency_ratio`` once per pruning (``key``) and runtime."""
    return _found.latency_ratio(runtime)


def session_models() -> dict[str, dict]:
    """This session's pruned models (none in another session's)."""
    return st.session_state.setdefault(SESSION_KEY, {})


def prune_yourself() -> None:
    st.header("Prune it yourself")
    st.markdown("Pick a network, a criterion and how much to remove: the shipped base is scored on a few "
                "mini-batches of its training faces and its lowest-scoring filters go in one shot, then, if you ask, "
                "a short recovery fine-tunes it. Both networks are evaluated on the 1,000 development pairs (the "
                "pretrained MobileFaceNet, trained on other people: on 1,000 pairs of LFW View 2, with the identity "
                "classifier its pruning runs fit). The notebooks' *Try it* cells run the same function "
                "(`facelib.study.tryout.prune_once`).")
    c1, c2, c3 = st.columns(3)
    arch = c1.selectbox("Network", tryout.NETWORKS, key="live-arch")
    label = c2.selectbox("Criterion", list(CRITERIA), key="live-criterion")
    by = c3.radio("Remove a share", list(SHARE_OF), format_func=SHARE_OF.get, horizontal=True, key="live-by")
    c1, c2, c3 = st.columns(3)
    share = c1.slider("Share to remove", 0.05, 0.90, 0.30, 0.05, key="live-share")
    batches = c2.slider("Mini-batches of 32 faces to score on", 1, 20, 5, key="live-batches")
    recovery = c3.slider("Recovery: mini-batches of fine-tuning", 0, 100, 0, 10, key="live-recovery",
                         help="after the removal, as the study's layer-normalised runs fine-tune their copies "
                              "(0: none)")
    round16 = st.checkbox("Keep filter counts multiples of 16", key="live-r16",
                          help="CPU kernels work in blocks of 16 channels (notebook 07, section 7)")
    if st.button("Prune", type="primary", key="live-go"):
        criterion, normalise = CRITERIA[label]
        started = time.perf_counter()
        bar = st.progress(0.0, text=f"Pruning {arch}...")
        found = prune(arch, criterion, normalise, share, by, 16 if round16 else 1, batches, recovery,
                      _progress=lambda done, what: bar.progress(done, text=f"{arch}: {what}"))
        bar.empty()
        name = (f"{arch}, {label}, {share:.0%} {SHARE_OF[by]}{', x16' * round16}"
                f"{f', {recovery} recovery' * bool(recovery)} (live)")
        session_models()[name] = {"arch": arch, "model": found.model, "threshold": found.eer.threshold,
                                  "eer": f"{tables.eer_text(found.eer.eer, found.eer.eer_low, found.eer.eer_high)} "
                                         f"({found.eer.pairs:,} {found.pairs})"}
        st.session_state["live-last"] = (name, found, time.perf_counter() - started)
    if "live-last" in st.session_state:
        show(*st.session_state["live-last"])


def show(name: str, found: tryout.TryOut, seconds: float) -> None:
    """What a pruning found, against the unpruned network on the same pairs."""
    st.subheader(name)
    low, high = found.difference
    left, middle, right = st.columns(3)
    left.metric("EER, pruned [95 %]", tables.eer_text(found.eer.eer, found.eer.eer_low, found.eer.eer_high),
                f"unpruned {tables.eer_text(found.base_eer.eer, found.base_eer.eer_low, found.base_eer.eer_high)}",
                delta_color="off", delta_arrow="off")
    said = "no difference these pairs can show" if low <= 0 <= high else "worse" if low > 0 else "better"
    middle.metric("EER difference, paired 95 % interval", f"{100 * low:+.1f} to {100 * high:+.1f} points",
                  f"pruned against unpruned: {said}", delta_color="off", delta_arrow="off")
    right.metric("took", f"{seconds:.0f} s", "from the cache" if seconds < 1 else None, delta_color="off",
                 delta_arrow="off")
    params = found.base.trunk_parameters(), found.model.trunk_parameters()
    macs = models.count_macs(found.base), models.count_macs(found.model)
    size = pd.DataFrame([
        {"": "unpruned", "trunk parameters": f"{params[0]:,}", "MACs (millions)": f"{macs[0] / 1e6:.0f}"},
        {"": "pruned", "trunk parameters": f"{params[1]:,}", "MACs (millions)": f"{macs[1] / 1e6:.0f}"},
        {"": "removed", "trunk parameters": f"{1 - params[1] / params[0]:.0%}",
         "MACs (millions)": f"{1 - macs[1] / macs[0]:.0%}"}]).set_index("")
    st.table(size)
    st.plotly_chart(figures.filters_lost(found.layers(), title="share of each group's filters removed"),
                    width="stretch", key="live-layers")
    if st.button("Time both networks (batch 1, PyTorch and ONNX Runtime)", key="live-time"):
        with st.spinner("Timing the two networks in turn, in each runtime (ONNX: exported first)..."):
            cols = st.columns(len(RUNTIMES))
            for col, (runtime, said) in zip(cols, RUNTIMES.items()):
                col.metric(f"batch-1 latency, pruned over unpruned, {said}",
                           f"{latency_ratio(found, (name,), runtime):.2f}x")
        st.caption("Each ratio from the two networks timed in turn (fastest of 30 calls each), on this machine now.")
    try:
        st.download_button("Download the pruned network as ONNX", onnx_bytes(found, name),
                           file_name=f"{found.arch}-pruned.onnx", key="live-onnx")
    except FacelibError as exc:
        st.error(str(exc))
    st.caption("The pruned network now appears on the *Compare two faces* page, for this browser session only.")


@st.cache_data(show_spinner=False, max_entries=4)
def onnx_bytes(_found: tryout.TryOut, name: str) -> bytes:
    """The pruned network exported to ONNX (``facelib.deployment.export``)."""
    with tempfile.TemporaryDirectory() as folder:
        path = export.export_onnx(_found.model, Path(folder) / "pruned.onnx", source=name)
        return path.read_bytes()
