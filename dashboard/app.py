"""facelib dashboard: the findings, where the filters go, EER per step, pruning live (``live_pruning``),
and two faces compared across pruned models.

    streamlit run dashboard/app.py

Every number comes from ``results/`` and the models in ``models/`` through ``facelib``
(``FACELIB_PROFILE=fast`` shows the fast-profile runs under ``runs/fast/`` instead).
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import pandas as pd
import streamlit as st

st.set_page_config(page_title="facelib: pruning face CNNs", layout="wide")  # before any other st call

# Only what the overview needs is imported here: it opens from its recorded content (results/overview.json)
# without torch; the other pages' modules (in dashboard/, on the path of the script Streamlit runs) import
# torch and load when first opened, or in the background once the overview is drawn.
from facelib.errors import FacelibError  # noqa: E402
from facelib.findings import overview as findings  # noqa: E402
from facelib.study import layout  # noqa: E402

HERE = str(Path(__file__).resolve().parent)  # the pages' modules
PAGES = ("Overview", "Filters per layer", "EER per step", "Prune it yourself", "Compare two faces")


@st.cache_data(show_spinner="Computing the findings from results/ ...")
def computed(digest: str) -> dict:
    """The overview computed afresh where its record is missing or out of date, once per ``digest``."""
    return findings.content()


def overview() -> None:
    st.title("Pruning face-recognition CNNs")
    st.markdown(
        "Filters are removed from SqueezeNet, MobileNetV2 and ResNet50 face models by iterative Taylor-score "
        "pruning (Alonso-Fernandez et al., *SqueezerFaceNet* and *Deep network pruning: a comparative study "
        "on CNNs in face recognition*), with the papers' raw scores (eq. 8) and with each layer's scores divided "
        "by their norm (layer-normalised, eq. 9). Verification is measured by the equal error rate (EER) on LFW's "
        "development pairs, none of whose people is trained on.")
    shown = findings.recorded() or computed(findings.digest())
    if shown["findings"]:
        st.subheader("What we found")
        st.markdown(shown["findings"])
    if not shown["headline"]:
        from shipped import NO_RUNS

        st.warning(NO_RUNS)
        return
    st.subheader("Trunk parameters removable at <= 1 point of EER, pruned + fine-tuned")
    for col, network in zip(st.columns(len(shown["headline"])), shown["headline"]):
        for m in network["metrics"]:
            col.metric(m["label"], m["value"], m["delta"], delta_color="off", delta_arrow="off", help=m["help"])
    st.caption(shown["papers"])
    st.table(pd.DataFrame(shown["removable"]).set_index("network"))
    st.caption("Each share: at the last step before the EER (larger development set) rises more than 1 point "
               "above the unpruned network's, then [at least, at most] as the 95 % intervals allow.")
    if shown["verdicts"]:
        st.subheader("The papers' claims, judged by their intervals")
        st.table(pd.DataFrame(shown["verdicts"]))
        with st.expander("What explains each verdict"):
            st.markdown("\n".join(shown["details"]))
        st.caption("On the larger set of the development people (5,104 pairs), from the runs that started from "
                   "today's bases: agree or disagree only where the whole 95 % interval lies on one side of the "
                   "papers' figure, else cannot tell (facelib/findings/verdicts.py).")
    if shown["pretrained"]:
        st.subheader("The pretrained MobileFaceNet, pruned (EER on LFW View 2)")
        st.table(pd.DataFrame(shown["pretrained"]).set_index("score form"))
    st.markdown(
        "**How to read the rest.** *Filters per layer*: which layers lose filters as the steps go (the papers "
        "find the layers with the most output channels lose filters first). *EER per step*: what pruning costs in "
        "verification error, pruned and pruned + fine-tuned. *Prune it yourself*: prune a shipped network with the "
        "settings you pick. *Compare two faces*: the unpruned and pruned models side by side on your photos.")
    st.caption(f"Results folder: {layout.results_dir().relative_to(layout.ROOT)}")


def load_other_pages() -> None:
    """Import the other pages' modules (torch among their imports), so that the next page opens at once.
    Only a head start: a page imports its module itself when opened, and says there what went wrong."""
    if HERE not in sys.path:
        sys.path.append(HERE)
    try:
        import compare_faces  # noqa: F401
        import live_pruning  # noqa: F401
        import recorded_pages  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - the page will import it again and show the error
        pass


def show(page: str) -> None:
    if page == "Overview":
        overview()
        threading.Thread(target=load_other_pages, daemon=True).start()
    elif page == "Prune it yourself":
        from live_pruning import prune_yourself

        prune_yourself()
    elif page == "Compare two faces":
        from compare_faces import compare_faces

        compare_faces()
    else:
        import recorded_pages

        {"Filters per layer": recorded_pages.filters_per_layer, "EER per step": recorded_pages.eer_per_step}[page]()


page = st.sidebar.radio("Page", PAGES, key="page")
try:
    show(page)
except FacelibError as exc:
    st.error(str(exc))
