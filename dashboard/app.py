"""facelib dashboard: the findings, where the filters go, EER per step, pruning live (``live_pruning``),
and two faces compared across pruned models.

    streamlit run dashboard/app.py

Every number comes from ``results/`` and the models in ``models/`` through ``facelib``
(``FACELIB_PROFILE=fast`` shows the fast-profile runs under ``runs/fast/`` instead).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
import torch
from live_pruning import prune_yourself, session_models  # dashboard/, on the path of the script Streamlit runs

from facelib import io
from facelib.data import alignment, paths, preprocessing
from facelib.data.datasets import load_images
from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.evaluation import photos, verification
from facelib.findings import analysis, claims, figures, pretrained, summary, tables, verdicts
from facelib.networks import models
from facelib.networks.mobilefacenet import MobileFaceNet
from facelib.study import configs, layout, recorded
from facelib.study.runs import PRETRAINED, SCORE_FORMS, SHIPPED_RUNS

PAGES = ("Overview", "Filters per layer", "EER per step", "Prune it yourself", "Compare two faces")
# Where a shipped model runs on the compare page: PyTorch, or its ONNX export in ONNX Runtime
RUNTIMES = {"PyTorch": "torch", "ONNX Runtime fp32": "fp32", "ONNX Runtime int8": "int8"}

st.set_page_config(page_title="facelib: pruning face CNNs", layout="wide")


def _range(r: claims.Removable) -> str:
    """A removable share's range for a metric's second line."""
    return f"[{r.low:.0%}, {r.high:.0%}]" if r.low == r.low else "no interval recorded"


@st.cache_resource(show_spinner=False)
def load_model(file: str):
    """A shipped model, loaded once per session (``weights_only=True`` inside)."""
    path = layout.models_dir() / file
    if not path.exists():
        row = next(r for r in shipped_models() if r["file"] == file)
        source = layout.notebook_for(row["arch"], row["criterion"] or None)
        raise FacelibError(f"the model file {path.relative_to(layout.ROOT)} is missing; notebooks/{source}.ipynb "
                           "writes it")
    return models.load_model(path)


@st.cache_data(show_spinner=False)
def shipped_models() -> list[dict]:
    return io.read_csv(layout.results_dir() / "models.csv", missing_ok=True, numeric=True)


# What to run when results are missing, named by the one map from run to notebook.
NO_RUNS = f"No pruning results yet: run notebooks/{layout.notebook_for('squeezenet', 'taylor')}.ipynb first."
NO_MODELS = (f"No shipped models: run notebooks/{layout.notebook_for('squeezenet')}.ipynb and "
             f"{layout.notebook_for('squeezenet', 'taylor')}.ipynb.")


@st.cache_resource(show_spinner=False)
def runtime_model(file: str, runtime: str = "torch"):
    """A shipped model in PyTorch (``torch``), or exported (once, under runs/) and run by ONNX
    Runtime in ``fp32`` or statically quantised ``int8`` (``facelib.deployment.export``)."""
    if runtime == "torch":
        return load_model(file)
    load_model(file)  # the same one-sentence error where the file is missing
    return verification.OnnxFaceModel(export.cached_export(layout.models_dir() / file, runtime, layout.runs_dir() / "onnx"))


@st.cache_data(show_spinner=False)
def dev_verification(file: str, runtime: str = "torch") -> dict:
    """A shipped model on its network's evaluation pairs (the development pairs; LFW View 2 for the
    pretrained MobileFaceNet's, whose fine-tuning may include development people): scores, labels, EER, its
    95 % interval and threshold."""
    model = runtime_model(file, runtime)
    pairs = configs.pretrained_pairs() if isinstance(model, MobileFaceNet) else configs.dev_pairs()
    v = verification.evaluate_model(model, pairs)
    return {"scores": v.scores, "labels": v.labels, "eer": v.eer, "low": v.eer_low, "high": v.eer_high,
            "threshold": v.threshold}


def threshold(row: dict, runtime: str) -> float:
    """The model's EER threshold on the development pairs: the recorded one, which holds for its fp32
    export too (the same embeddings within 1e-4); measured anew for int8, whose embeddings move."""
    return dev_verification(row["file"], runtime)["threshold"] if runtime == "int8" else row["threshold"]


def model_label(row: dict) -> str:
    if row["kind"] == "pretrained":
        return "unpruned (pretrained)"
    if row["kind"].startswith("base"):
        return f"unpruned ({row['kind'][5:]})"
    return f"step {int(row['step'])} {row['criterion']} + fine-tuned"


def overview() -> None:
    st.title("Pruning face-recognition CNNs")
    st.markdown(
        "Filters are removed from SqueezeNet, MobileNetV2 and ResNet50 face models by iterative Taylor-score "
        "pruning (Alonso-Fernandez et al., *SqueezerFaceNet* and *Deep network pruning: a comparative study "
        "on CNNs in face recognition*), with the papers' raw scores (eq. 8) and with each layer's scores divided "
        "by their norm (layer-normalised, eq. 9). Verification is measured by the equal error rate (EER) on LFW's "
        "development pairs, none of whose people is trained on.")
    found = summary.paragraph()
    if found:
        st.subheader("What we found")
        st.markdown(found)
    rows = claims.removable_rows()
    if not rows:
        st.warning(NO_RUNS)
        return
    headline_metrics(rows)
    st.table(pd.DataFrame(tables.removable_table(rows)).set_index("network"))
    st.caption("Each share: at the last step before the EER (larger development set) rises more than 1 point "
               "above the unpruned network's, then [at least, at most] as the 95 % intervals allow.")
    judged = verdicts.all_verdicts()
    if judged:
        st.subheader("The papers' claims, judged by their intervals")
        st.table(pd.DataFrame(tables.verdicts_table(judged)))
        with st.expander("What explains each verdict"):
            st.markdown("\n".join(f"- **{r['claim'][:2]} {r['network']}{', ' * bool(r['score_form'])}{r['score_form']}**: "
                                   f"{r['detail']}" for r in judged if r["detail"]))
        st.caption("On the larger set of the development people (5,104 pairs), from the runs that started from "
                   "today's bases: agree or disagree only where the whole 95 % interval lies on one side of the "
                   "papers' figure, else cannot tell (facelib/findings/verdicts.py).")
    found = pretrained.summary()
    if found:
        st.subheader("The pretrained MobileFaceNet, pruned (EER on LFW View 2)")
        st.table(pd.DataFrame(tables.pretrained_table(found)).set_index("score form"))
    st.markdown(
        "**How to read the rest.** *Filters per layer*: which layers lose filters as the steps go (the papers "
        "find the layers with the most output channels lose filters first). *EER per step*: what pruning costs in "
        "verification error, pruned and pruned + fine-tuned. *Compare two faces*: the unpruned and pruned models "
        "side by side on your photos.")
    st.caption(f"Results folder: {layout.results_dir().relative_to(layout.ROOT)}")


def headline_metrics(rows: list[dict]) -> None:
    """A column per network, a metric per score form: the share of trunk parameters removable at <= 1
    point (fine-tuned), its range and its verdict against the papers."""
    judged = {(v["network"], v["score_form"]): v for v in verdicts.removable_verdicts()}
    st.subheader("Trunk parameters removable at <= 1 point of EER, pruned + fine-tuned")
    archs = list(dict.fromkeys(r["network"] for r in rows))
    for col, arch in zip(st.columns(len(archs)), archs):
        for r in (r for r in rows if r["network"] == arch):
            share, verdict = r["params_finetuned"], judged.get((arch, r["score_form"]))
            said = f" · {verdict['verdict']}" if verdict else ""
            col.metric(f"{arch}, {r['score_form']}", f"{share.share:.0%}", f"{_range(share)}{said}",
                       delta_color="off", delta_arrow="off",
                       help="the share of the trunk's parameters removed at the last fine-tuned step within 1 point "
                            "of the unpruned EER, [at least, at most] as the 95 % intervals allow, and the verdict "
                            f"against the papers' share ({verdict['papers'] if verdict else 'none'})")
    papers = {v["papers"]: [] for v in judged.values()}
    for (arch, _), v in judged.items():
        if arch not in papers[v["papers"]]:
            papers[v["papers"]].append(arch)
    st.caption("The papers: " + "; ".join(f"{said} for {', '.join(archs)}" for said, archs in papers.items())
               + ". Verdicts by the 95 % intervals: agree or disagree only where the whole interval lies on one side.")


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
    form = right.radio("Score form", forms, index=normalised[0] if normalised else 0, horizontal=True, key=f"{key}-form",
                       help="raw: equation 8's mean of |activation x gradient| over positions, which scores "
                            "high-resolution layers low; layer-normalised: each layer's scores over their L2 norm")
    return SCORE_FORMS[form]


@st.cache_data(show_spinner=False)
def pretrained_rows() -> list[dict]:
    """The pretrained MobileFaceNet as a row like those of ``models.csv``, where its ONNX file is here.
    Its threshold: the EER threshold on LFW View 2 at step 0 of its shipped run (``runs.SHIPPED_RUNS``),
    the pairs its pruned copies' thresholds come from; before that run exists, the one on the development pairs in
    ``reference.csv``."""
    try:
        paths.reference_model()
    except FacelibError:
        return []
    if (PRETRAINED, SHIPPED_RUNS[PRETRAINED]) in recorded.available_runs():
        found = [recorded.load_run(PRETRAINED, SHIPPED_RUNS[PRETRAINED]).steps[0]["threshold_pruned"]]
    else:
        found = [r["threshold"] for r in io.read_csv(layout.results_dir() / "reference.csv", missing_ok=True,
                                                     numeric=True) if r["align"] == "landmarks"]
    return [{"file": "", "arch": PRETRAINED, "criterion": "", "step": 0, "kind": "pretrained",
             "threshold": t} for t in found[:1]]


@st.cache_resource(show_spinner=False)
def pretrained_model():
    """The pretrained MobileFaceNet, its weights read from the shared ONNX file."""
    return MobileFaceNet.from_onnx(paths.reference_model())


def choose_shipped_network(key: str, extra: list[dict] = ()) -> list[dict] | None:
    """The ``models.csv`` rows (and ``extra`` rows) of the network picked in a select box (None,
    with a warning, when nothing is shipped)."""
    shipped = shipped_models() + list(extra)
    if not shipped:
        st.warning(NO_MODELS)
        return None
    arch = st.selectbox("Network", list(dict.fromkeys(r["arch"] for r in shipped)), key=f"{key}-arch")
    return [r for r in shipped if r["arch"] == arch]


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
    larger = bool(with_larger) and st.radio(
        "Pairs", ["the larger development-people set", "the 1,000 development pairs"], horizontal=True,
        key="eer-pairs", help="5,104 pairs of the development people, at every step of the runs made since; "
                              "the 1,000 pairs are the figure comparable with earlier runs") != "the 1,000 development pairs"
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


def photo_input(label: str, key: str):
    """An uploaded photo (or an LFW image) -> (crop uint8 [3,129,129], preview) or None with a message."""
    upload = st.file_uploader(label, key=key)
    if upload is None:
        return None
    try:
        img, notes = photos.read_photo(upload.getvalue())
    except FacelibError as exc:
        st.error(f"{upload.name}: {exc}")
        return None
    for note in notes:
        st.caption(note)
    boxes = photos.detect_faces(img)
    if not boxes:
        st.warning(f"{upload.name}: no face found.")
        if not st.checkbox("Use the whole photo as the face region", key=f"{key}-whole"):
            return None
        box = None
    elif len(boxes) > 1:
        st.info(f"{upload.name}: {len(boxes)} faces found.")
        which = st.selectbox("Which face", range(len(boxes)), key=f"{key}-which",
                             format_func=lambda i: f"face {i + 1} ({int(boxes[i][2] - boxes[i][0])} px wide)")
        box = boxes[which]
    else:
        box = boxes[0]
    inputs = photos.network_inputs(img, box)
    crop, aligned = inputs["crop113"], inputs["aligned112"]
    left, right = st.columns(2)
    left.image(preprocessing.to_display(preprocessing.to_input(torch.from_numpy(crop[None])))[0].transpose(1, 2, 0),
               caption="the 113x113 crop the networks see", width=150)
    if aligned is not None:
        right.image(aligned.transpose(1, 2, 0), caption="aligned by 5 points (MobileFaceNet)", width=150)
    inputs["name"] = upload.name
    return inputs


def lfw_pair_input():
    """Two LFW faces of a development pair (when LFW is present)."""
    try:
        pairs = configs.dev_pairs()
    except FacelibError:
        return None
    kind = st.radio("Pair", ["same person", "different people"], horizontal=True, key="pair-kind")
    pool = [p for p in pairs if p.same == (kind == "same person")]
    i = st.number_input("Pair number", 0, len(pool) - 1, 0, key="pair-number")
    pair = pool[int(i)]
    images, aligned = load_images([pair.a, pair.b]), alignment.load_aligned([pair.a, pair.b])
    cols = st.columns(2)
    for col, face, img in zip(cols, (pair.a, pair.b), images):
        col.image(preprocessing.to_display(preprocessing.to_input(img[None]))[0].transpose(1, 2, 0), caption=face.identity, width=180)
    return tuple({"crop113": images[i].numpy(), "aligned112": aligned[i].numpy(), "name": face.identity}
                 for i, face in enumerate((pair.a, pair.b)))


def compare_faces() -> None:
    st.header("Compare two faces")
    rows = choose_shipped_network("cmp", pretrained_rows())
    if rows is None:
        return
    runtime = RUNTIMES[st.radio("Runtime", list(RUNTIMES), horizontal=True, key="cmp-runtime")]
    if runtime != "torch" and rows[0]["arch"] == PRETRAINED:
        st.info("MobileFaceNet and its pruned copies run in PyTorch here (their ONNX export is not wired "
                "to the 5-point alignment they need).")
        runtime = "torch"
    source = st.radio("Faces", ["upload two photos", "an LFW development pair"], horizontal=True, key="cmp-source")
    if source == "upload two photos":
        cols = st.columns(2)
        with cols[0]:
            a = photo_input("First photo", "photo-a")
        with cols[1]:
            b = photo_input("Second photo", "photo-b")
        crops = (a, b) if a is not None and b is not None else None  # each face by input kind
    else:
        crops = lfw_pair_input()
        if crops is None:
            st.info("LFW is not present here (set FACELIB_DATA); upload two photos instead.")
    if crops is None:
        return
    with st.spinner("Loading the models (an ONNX export is made once, an int8 one also finds its threshold)..."):
        chosen = {model_label(r): (pretrained_model(), r["threshold"]) if r["kind"] == "pretrained" else
                  (runtime_model(r["file"], runtime), threshold(r, runtime)) for r in rows}
    live = {name: m for name, m in session_models().items() if m["arch"] == rows[0]["arch"]}
    if live and runtime != "torch":
        st.info("Your own pruned models (Prune it yourself) run in PyTorch only: download one as ONNX there.")
    elif live:
        chosen.update({name: (m["model"], m["threshold"]) for name, m in live.items()})
    for face in crops:
        if face["aligned112"] is None and any(m.input_kind == "aligned112" for m, _ in chosen.values()):
            st.warning(photos.NO_POINTS.format(face["name"]))
    result = photos.compare(chosen, *crops)
    if not result:
        return
    table = pd.DataFrame([{"model": c.model, "cosine similarity": f"{c.similarity:.3f}",
                           "EER threshold": f"{c.threshold:.3f}", "decision": "same" if c.same else "different",
                           "ms": f"{c.milliseconds:.1f}"} for c in result]).set_index("model")
    left, right = st.columns(2)
    left.table(table)
    right.plotly_chart(figures.similarity_vs_threshold(result), width="stretch", key="cmp-chart")


page = st.sidebar.radio("Page", PAGES, key="page")
try:
    {"Overview": overview, "Filters per layer": filters_per_layer, "EER per step": eer_per_step,
     "Prune it yourself": prune_yourself, "Compare two faces": compare_faces}[page]()
except FacelibError as exc:
    st.error(str(exc))
