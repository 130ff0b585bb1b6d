"""Plotly figures shared by the notebooks and the dashboard (one function per figure, data in,
figure out; the numbers come from ``facelib.findings.analysis`` and the result tables)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from facelib.evaluation import metrics
from facelib.findings import analysis
from facelib.study.recorded import EerSeries, PruningRun

PERCENT = dict(tickformat=".0%")
LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)  # leaves narrow plots their width


def face_grid(images: np.ndarray, titles: list[str], columns: int = 6) -> go.Figure:
    """uint8 images [N, 3, H, W] in a grid with a title each."""
    rows = (len(images) + columns - 1) // columns
    fig = make_subplots(rows, columns, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.06)
    for i, img in enumerate(images):
        fig.add_trace(go.Image(source=_jpeg_uri(np.asarray(img).transpose(1, 2, 0))), i // columns + 1, i % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=170 * rows, margin=dict(l=0, r=0, t=30, b=0))
    fig.update_annotations(font_size=10)
    return fig


def _jpeg_uri(rgb: np.ndarray) -> str:
    """An HxWx3 uint8 image as a JPEG data URI (a few kB in a notebook, instead of a JSON pixel array)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def det_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    """DET curves (false match rate against false non-match rate, log axes) of labelled score sets."""
    fig = go.Figure()
    for name, (scores, labels) in curves.items():
        far, frr = metrics.det(scores, labels)
        keep = (far > 0) & (frr > 0)
        eer, _ = metrics.eer(scores, labels)
        fig.add_trace(go.Scatter(x=far[keep], y=frr[keep], name=f"{name} (EER {eer:.1%})", mode="lines"))
    fig.add_trace(go.Scatter(x=[1e-3, 1], y=[1e-3, 1], mode="lines", line=dict(dash="dot", color="grey"),
                             name="EER line", showlegend=False))
    fig.update_layout(xaxis=dict(type="log", title="false match rate"),
                      yaxis=dict(type="log", title="false non-match rate"), height=450)
    return fig


def training_history(histories: dict[str, list[dict]]) -> go.Figure:
    """Development EER after each epoch of several training runs."""
    fig = go.Figure()
    for name, rows in histories.items():
        fig.add_trace(go.Scatter(x=[r["epoch"] for r in rows], y=[r["dev_eer"] for r in rows], name=name,
                                 mode="lines+markers"))
    fig.update_layout(xaxis_title="epoch", yaxis=dict(title="development EER", **PERCENT), height=380)
    return fig


def taylor_vs_real(taylor: np.ndarray, real: np.ndarray, title: str) -> go.Figure:
    """Taylor score of each filter against the real loss change of zeroing it (log-log)."""
    rho = metrics.spearman(taylor, real)
    fig = go.Figure(go.Scatter(x=taylor, y=real, mode="markers", marker=dict(size=6, opacity=0.7)))
    fig.update_layout(title=f"{title}: Spearman rho = {rho:.2f}", xaxis=dict(type="log", title="Taylor score"),
                      yaxis=dict(type="log", title="|loss change| when the filter is zeroed"), height=420)
    return fig


X_AXES = {"step": "step", "params": "trunk parameters", "macs": "multiply-accumulates (at the network's input size)"}


def _error_bars(series: EerSeries) -> dict:
    """Plotly error bars from a series' 95 % intervals ({} where the run measured none)."""
    if np.isnan(series.low).all():
        return {}
    return dict(error_y=dict(type="data", symmetric=False, array=series.high - series.eer,
                             arrayminus=series.eer - series.low, thickness=1))


def eer_per_step(runs: list[PruningRun], x: str = "step", larger: bool = False) -> go.Figure:
    """EER of the pruned (lines) and pruned + fine-tuned (markers) networks against step,
    parameters or multiply-accumulates, with each EER's 95 % interval where the run measured it:
    on the development pairs, or (``larger``) on the larger set of the development people."""
    fig = go.Figure()
    pairs = "devpeople" if larger else "dev"
    key = {"step": "step", "params": "trunk_params", "macs": "macs"}[x]
    for run in runs:
        label = f"{run.arch} / {run.criterion}"
        pruned = run.eer_series(pairs=pairs)
        fig.add_trace(go.Scatter(x=[r[key] for r in pruned.rows], y=pruned.eer, mode="lines",
                                 name=f"{label}: pruned", **_error_bars(pruned)))
        tuned = run.eer_series(finetuned=True, pairs=pairs).without_start()
        if tuned.rows:
            fig.add_trace(go.Scatter(x=[r[key] for r in tuned.rows], y=tuned.eer, mode="markers",
                                     name=f"{label}: pruned + fine-tuned",
                                     marker=dict(size=9, symbol="diamond"), **_error_bars(tuned)))
    names = {"larger development-people set" if larger else analysis.pairs_name(run) for run in runs}
    fig.update_layout(xaxis_title=X_AXES[x], yaxis=dict(title=f"EER ({' / '.join(sorted(names))})", **PERCENT), height=460,
                      xaxis=dict(autorange="reversed") if x != "step" else {}, legend=LEGEND_BELOW)
    return fig


def latency_vs_macs(runs: list[PruningRun]) -> go.Figure:
    """Batch-1 CPU latency against multiply-accumulates, both as ratios to the unpruned network,
    one line per run; the dotted diagonal is latency proportional to MACs."""
    fig = go.Figure()
    for run in runs:
        fig.add_trace(go.Scatter(x=run.macs_ratio, y=run.latency_ratio, mode="lines+markers",
                                 name=f"{run.arch} / {run.criterion}", text=[f"step {int(r['step'])}" for r in run.steps]))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"),
                             name="proportional to MACs"))
    fig.update_layout(xaxis=dict(title="MACs (share of the unpruned network)", autorange="reversed", **PERCENT),
                      yaxis=dict(title="batch-1 latency (ratio to the unpruned network)", rangemode="tozero"),
                      height=460, legend=LEGEND_BELOW)
    return fig


def layer_heatmap(run: PruningRun) -> go.Figure:
    """Share of each group's filters left (rows: groups in network order, with initial size) per step."""
    groups, steps, left, initial = analysis.layer_matrix(run)
    labels = [f"{g} ({int(n)})" for g, n in zip(groups, initial)]
    fig = go.Figure(go.Heatmap(z=left / initial[:, None], x=steps, y=labels, colorscale="Viridis", zmin=0, zmax=1,
                               colorbar=dict(title="left", tickformat=".0%")))
    fig.update_layout(xaxis_title="step", yaxis=dict(autorange="reversed", tickfont=dict(size=9)),
                      height=max(400, 14 * len(groups)), title=f"{run.arch} / {run.criterion}: filters left per group")
    return fig


def layer_bars(run: PruningRun, step: int) -> go.Figure:
    """Initial and remaining filters of each group at ``step``."""
    groups, steps, left, initial = analysis.layer_matrix(run)
    col = steps.index(step)
    fig = go.Figure([go.Bar(x=groups, y=initial, name="initial", marker_color="lightgrey"),
                     go.Bar(x=groups, y=left[:, col], name=f"left at step {step}")])
    fig.update_layout(barmode="overlay", xaxis=dict(tickangle=-60, tickfont=dict(size=9)), yaxis_title="filters",
                      height=420)
    return fig


def size_vs_loss(run: PruningRun) -> go.Figure:
    """Each group's initial filters against the fraction it lost by the last step."""
    rho, rows = analysis.size_loss_correlation(run)
    fig = go.Figure(go.Scatter(x=[r["initial_filters"] for r in rows], y=[r["fraction_lost"] for r in rows],
                               mode="markers", text=[r["group"] for r in rows], marker=dict(size=8)))
    fig.update_layout(title=f"{run.arch} / {run.criterion}: Spearman rho = {rho:.2f}",
                      xaxis=dict(type="log", title="initial filters of the group"),
                      yaxis=dict(title="fraction of filters removed", **PERCENT), height=400)
    return fig


def similarity_vs_threshold(comparisons: list) -> go.Figure:
    """Each model's cosine similarity of two faces (a bar, green where it says "same") against its
    own EER threshold on the development pairs (a black tick): the models' answers at a glance.
    ``comparisons``: ``photos.Comparison`` rows, one per model."""
    names = [c.model for c in comparisons]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=[c.similarity for c in comparisons], orientation="h", name="cosine similarity",
                         marker_color=["#2ca02c" if c.same else "#d62728" for c in comparisons],
                         text=["same" if c.same else "different" for c in comparisons], textposition="inside",
                         insidetextanchor="start"))
    fig.add_trace(go.Scatter(y=names, x=[c.threshold for c in comparisons], mode="markers", name="EER threshold",
                             marker=dict(symbol="line-ns-open", size=26, line=dict(width=3), color="black")))
    values = [c.similarity for c in comparisons] + [c.threshold for c in comparisons]
    # zoomed on where the answers are decided, so that the models' margins can be told apart
    span = [max(-1.0, min(values) - 0.15), min(1.0, max(values) + 0.1)]
    fig.update_layout(xaxis=dict(title="cosine similarity (same person at or right of the tick)", range=span),
                      yaxis=dict(autorange="reversed"), height=90 + 40 * len(names), legend=LEGEND_BELOW,
                      margin=dict(l=0, r=10, t=10, b=0))
    return fig


def deploy_latency(rows: list[dict]) -> go.Figure:
    """Batch-1 latency (ms) against MACs (share of the unpruned network) in each runtime of
    ``deploy.csv``, one panel per network, one marker per model (``bench/bench_deploy.py``)."""
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    fig = make_subplots(rows=1, cols=max(len(archs), 1), subplot_titles=archs)
    colours = {"eager": "#636efa", "onnx_fp32": "#ef553b", "onnx_int8": "#00cc96"}
    for col, arch in enumerate(archs, start=1):
        for runtime, colour in colours.items():
            pts = sorted((r for r in rows if r["arch"] == arch and r["runtime"] == runtime), key=lambda r: -r["macs_ratio"])
            fig.add_trace(go.Scatter(x=[r["macs_ratio"] for r in pts], y=[r["latency_ms"] for r in pts],
                                     mode="markers+text", marker=dict(color=colour, size=9), name=runtime,
                                     text=[r["model"].replace("taylor_shipped", "shipped") for r in pts],
                                     textposition="top center", textfont=dict(size=9),
                                     showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="MACs (share of unpruned)", autorange="reversed", row=1, col=col, **PERCENT)
    fig.update_yaxes(title_text="batch-1 latency (ms)", rangemode="tozero", row=1, col=1)
    fig.update_layout(height=480, legend=LEGEND_BELOW)
    return fig


def filters_lost(rows: list[dict], title: str = "") -> go.Figure:
    """The share of each group's filters removed (bars, groups in network order), from rows with
    ``group``, ``filters`` (before) and ``lost`` (``study.tryout.TryOut.layers``)."""
    fig = go.Figure(go.Bar(x=[r["group"] for r in rows], y=[r["lost"] for r in rows],
                           text=[str(r["filters"]) for r in rows], textposition="outside",
                           hovertemplate="%{x}: %{y:.0%} of %{text} filters removed<extra></extra>"))
    fig.update_layout(title=title, yaxis=dict(title="share of the group's filters removed", range=[0, 1.1], **PERCENT),
                      xaxis=dict(tickangle=-60, tickfont=dict(size=9)), height=420)
    return fig


def _band(series: EerSeries, colour: str, name: str) -> list[go.Scatter]:
    """A series' EER against MACs as a line in ``colour`` ("r,g,b") over its 95 % interval as a band."""
    macs = [r["macs"] for r in series.rows]
    return [go.Scatter(x=macs + macs[::-1], y=np.r_[series.high, series.low[::-1]], fill="toself",
                       fillcolor=f"rgba({colour},0.25)", line=dict(width=0), hoverinfo="skip", showlegend=False),
            go.Scatter(x=macs, y=series.eer, mode="lines", line=dict(color=f"rgb({colour})"), name=name)]


def _diamonds(series: EerSeries, colour: str, name: str, size: int, bars: bool) -> go.Scatter:
    """A series' EER against MACs as diamonds, with its 95 % intervals as error bars where ``bars``."""
    return go.Scatter(x=[r["macs"] for r in series.rows], y=series.eer, mode="markers", name=name,
                      marker=dict(symbol="diamond", size=size, color=colour), **(_error_bars(series) if bars else {}))


def eer_against_baseline(baseline: PruningRun, panels: dict[str, PruningRun], line: float,
                         larger: bool = False) -> go.Figure:
    """One panel per run (titled by its key in ``panels``) against MACs: its pruned EER (a line, with its
    95 % interval as a band) and, where it trains, its fine-tuned copies (diamonds), over the baseline's
    pruned EER in grey; the dotted line at ``line`` is the tolerance. Several runs on one plot hide each
    other's intervals; side by side, each is read against the same baseline. With no run, one panel shows
    the baseline alone."""
    pairs = "devpeople" if larger else "dev"
    titles = list(panels) or ["no refit run recorded yet: the baseline alone"]
    cols = min(len(titles), 2)
    rows = (len(titles) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.1)
    base_pruned = _band(baseline.eer_series(pairs=pairs), "150,150,150", "baseline, pruned")
    base_tuned = _diamonds(baseline.eer_series(finetuned=True, pairs=pairs).without_start(), "grey",
                           "baseline, fine-tuned", 5, bars=False)
    for i, run in enumerate(list(panels.values()) or [None]):
        traces = [*base_pruned]
        if run is not None:
            traces += _band(run.eer_series(pairs=pairs), "31,119,180", "this run, pruned")
        traces.append(base_tuned)
        if run is not None:
            tuned = run.eer_series(finetuned=True, pairs=pairs).without_start()  # no rows: a run that trains nothing
            traces += [_diamonds(tuned, "#d62728", "this run, fine-tuned", 7, bars=True)] if tuned.rows else []
        at = dict(row=i // cols + 1, col=i % cols + 1)
        for trace in traces:
            fig.add_trace(trace, **at)
        fig.add_hline(y=line, line_dash="dot", line_color="grey", **at)
    _legend_once(fig)
    macs = [r["macs"] for run in (baseline, *panels.values()) for r in run.steps]
    fig.update_xaxes(range=[max(macs) * 1.02, min(macs) * 0.95], showticklabels=True)
    fig.update_xaxes(title_text=X_AXES["macs"], row=rows)
    fig.update_yaxes(range=[0, 3 * line], title_text="EER", **PERCENT)
    where = "larger development-people set" if larger else analysis.pairs_name(baseline)
    fig.update_layout(height=260 * rows + 150, legend=LEGEND_BELOW, title=f"EER on the {where}, step by step")
    return fig


def _legend_once(fig: go.Figure) -> None:
    """One legend entry per trace name, however many panels draw it (clicking it toggles them all)."""
    seen: set[str] = set()
    for trace in fig.data:
        if trace.name:
            trace.update(legendgroup=trace.name, showlegend=trace.name not in seen)
            seen.add(trace.name)
