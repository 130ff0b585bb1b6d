"""The dashboard's "Compare two faces" page: two uploaded photos (or an LFW development pair) compared by the
unpruned network and its shipped pruned copies side by side, each with its EER on its pairs, and by the
models this browser session pruned itself (``live_pruning``).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

# the dashboard's own modules, on the path of the script Streamlit runs
from live_pruning import session_models
from shipped import (
    choose_shipped_network,
    eer_on_pairs,
    model_label,
    pretrained_model,
    pretrained_rows,
    runtime_model,
    threshold,
)

from facelib.data import alignment, preprocessing
from facelib.data.datasets import load_images
from facelib.errors import FacelibError
from facelib.evaluation import photos
from facelib.findings import figures
from facelib.study import configs
from facelib.study.runs import PRETRAINED

# Where a shipped model runs on the compare page: PyTorch, or its ONNX export in ONNX Runtime
RUNTIMES = {"PyTorch": "torch", "ONNX Runtime fp32": "fp32", "ONNX Runtime int8": "int8"}

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
        col.image(preprocessing.to_display(preprocessing.to_input(img[None]))[0].transpose(1, 2, 0),
                  caption=face.identity, width=180)
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
        eers = {model_label(r): eer_on_pairs(r, runtime) for r in rows}
    live = {name: m for name, m in session_models().items() if m["arch"] == rows[0]["arch"]}
    if live and runtime != "torch":
        st.info("Your own pruned models (Prune it yourself) run in PyTorch only: download one as ONNX there.")
    elif live:
        chosen.update({name: (m["model"], m["threshold"]) for name, m in live.items()})
        eers.update({name: m["eer"] for name, m in live.items()})
    for face in crops:
        if face["aligned112"] is None and any(m.input_kind == "aligned112" for m, _ in chosen.values()):
            st.warning(photos.NO_POINTS.format(face["name"]))
    result = photos.compare(chosen, *crops)
    if not result:
        return
    table = pd.DataFrame([{"model": c.model, "decision": "same" if c.same else "different",
                           "cosine similarity": f"{c.similarity:.3f}", "EER threshold": f"{c.threshold:.3f}",
                           "its EER [95 %] (pairs)": eers[c.model], "ms": f"{c.milliseconds:.1f}"}
                          for c in result]).set_index("model")
    st.table(table)
    st.caption("Each model's EER on the pairs named beside it: how often a model with that threshold errs on such "
               "pairs, whatever it answers here. *Larger set*: 5,104 pairs of the development people, where its run "
               "measured it; *1,000 pairs*: the development pairs; *LFW View 2*: 6,000 pairs (MobileFaceNet); your own pruned models: the pairs they were judged on.")
    st.plotly_chart(figures.similarity_vs_threshold(result), width="stretch", key="cmp-chart")
