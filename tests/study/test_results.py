"""The committed results: every table has its documented columns, the shipped models agree with
the rows of their steps, and the README headline is what the tables say."""
from __future__ import annotations

import json
import re

import pytest

from facelib import io
from facelib.findings import analysis, report
from facelib.networks import models
from facelib.pruning import log
from facelib.pruning.surgery import shrink_to
from facelib.study import bases, configs, layout, recorded, runs, shipped_scores
from facelib.training.config import TrainConfig

DOC = (layout.ROOT / "results" / "README.md").read_text()
TABLES = {"reference.csv": layout.REFERENCE_COLUMNS, "base_models.csv": layout.BASE_COLUMNS,
          "models.csv": layout.MODEL_COLUMNS, "recipes.csv": layout.RECIPE_COLUMNS, "scores.csv": shipped_scores.COLUMNS}
RUN_TABLES = {"steps.csv": log.STEP_COLUMNS + layout.LATENCY_COLUMNS, "layers.csv": log.LAYER_COLUMNS,
              "removed.csv": log.REMOVED_COLUMNS}


@pytest.fixture(autouse=True)
def full_profile(monkeypatch):
    monkeypatch.setenv("FACELIB_PROFILE", "full")


def header(path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def documented(column: str) -> bool:
    return re.search(rf"`{re.escape(column)}`", DOC) is not None


def test_tables_have_their_documented_columns():
    results = layout.results_dir()
    for name, columns in TABLES.items():
        assert header(results / name) == columns, name
        assert all(documented(c) for c in columns), [c for c in columns if not documented(c)]
    runs = sorted((results / "pruning").iterdir())
    assert runs, "no pruning run in results/"
    for run in runs:
        for name, columns in RUN_TABLES.items():
            if name == "steps.csv":  # and the refit's seconds, in a run that reconstructs
                columns = log.step_columns(io.read_csv(run / name)) + layout.LATENCY_COLUMNS
            assert header(run / name) == columns, f"{run.name}/{name}"
            assert all(documented(c) for c in columns)
        info = json.loads((run / "run.json").read_text())
        assert {"config", "seed", "base_training", "base_way", "seconds", "commit"} <= set(info)
    assert documented(log.REFIT_COLUMN)


def test_shipped_models_match_their_rows_and_stay_small():
    rows = io.read_csv(layout.results_dir() / "models.csv", numeric=True)
    assert rows
    total = sum(p.stat().st_size for p in layout.models_dir().glob("*.pt"))
    assert total <= 80 * 2**20, f"shipped models take {total / 2**20:.1f} MB"
    assert {r["file"] for r in rows} == {p.name for p in layout.models_dir().glob("*.pt")}
    for r in rows:
        model = models.load_model(layout.models_dir() / r["file"])
        assert model.trunk_parameters() == r["trunk_params"], r["file"]
        assert models.count_macs(model) == r["macs"] or model.head.out_features == 0
        if r["kind"] == "finetuned":
            run = recorded.load_run(r["arch"], r["criterion"])
            step = next(s for s in run.steps if s["step"] == r["step"])
            assert step["trunk_params"] == r["trunk_params"]
            assert step["eer_finetuned"] == pytest.approx(r["dev_eer"])
            assert step["threshold_finetuned"] == pytest.approx(r["threshold"])
        else:
            base = next(b for b in bases.base_models() if (b["arch"], f"base-{b['way']}") == (r["arch"], r["kind"]))
            assert base["trunk_params"] == r["trunk_params"]
            assert base["dev_eer"] == pytest.approx(r["dev_eer"])


def test_each_shipped_run_ships_its_deployable_copies_with_their_scores():
    """The layer-normalised runs ship the last fine-tuned copy within a point of their base and the one
    nearest half of the filters gone (``PruningRun.deployable_steps``), nothing else; every shipped file has
    its scores recorded, from this very file, their EER that of its row (the same pairs, fp32 against the
    run's bf16: within half a point)."""
    rows = io.read_csv(layout.results_dir() / "models.csv", numeric=True)
    tuned = {(r["arch"], r["criterion"]) for r in rows if r["kind"] == "finetuned"}
    assert tuned <= set(runs.SHIPPED_RUNS.items())
    for arch, criterion in runs.SHIPPED_RUNS.items():
        run = recorded.load_run(arch, criterion)
        shipped = sorted(int(r["step"]) for r in rows if (r["arch"], r["criterion"]) == (arch, criterion))
        assert shipped == run.deployable_steps() and len(shipped) == 2, (arch, shipped)
    for r in rows:
        found = shipped_scores.load(r["file"])
        assert found is not None, f"no scores recorded for {r['file']}"
        assert len(found["scores"]) == len(shipped_scores.pairs_for(r["arch"]))
        assert found["low"] <= found["eer"] <= found["high"]
        assert found["eer"] == pytest.approx(r["dev_eer"], abs=0.005), r["file"]


def test_each_network_ships_its_chosen_base_only():
    rows = io.read_csv(layout.results_dir() / "models.csv")
    shipped = {(r["arch"], r["kind"]) for r in rows if r["kind"].startswith("base")}
    trained = {b["arch"] for b in bases.base_models()}
    assert shipped == {(arch, f"base-{bases.chosen_way(arch)}") for arch in trained}


def test_layer_tables_add_up_to_the_step_tables():
    for arch, criterion in recorded.available_runs():
        run = recorded.load_run(arch, criterion)
        for s in run.steps:
            left = sum(r["filters"] for r in run.layers if r["step"] == s["step"])
            assert left == s["filters"], (arch, criterion, s["step"])
        removed = io.read_csv(layout.pruning_results_dir(arch, criterion) / "removed.csv", numeric=True)
        assert len(removed) == sum(s["removed"] for s in run.steps)


def test_layer_tables_rebuild_each_steps_network():
    """``shrink_to`` with a step's widths from layers.csv gives a network with that step's
    parameters and MACs (what bench_pruning times as the pruned network of the step)."""
    for arch, criterion in recorded.available_runs():
        run = recorded.load_run(arch, criterion)
        first = run.steps[0]
        classes = round((first["params"] - first["trunk_params"]) / (models.build(arch, 1).embedding_dim + 1))
        for s in run.steps[:: max(1, len(run.steps) // 4)]:
            net = shrink_to(models.build(arch, classes), run.widths(int(s["step"])))
            assert (net.trunk_parameters(), models.count_parameters(net), models.count_macs(net)) == \
                (s["trunk_params"], s["params"], s["macs"]), (arch, criterion, s["step"])


def test_latency_columns_are_ratios_to_the_unpruned_network():
    """Every run's step 0 is timed against itself (ratio about 1), and the step that the
    notebooks and the bench report at "about 40 % fewer MACs" is the one nearest 0.6."""
    for arch, criterion in recorded.available_runs():
        run = recorded.load_run(arch, criterion)
        assert 0.8 < run.latency_ratio[0] < 1.25, (arch, criterion)
        assert all(0 < r < 2 for r in run.latency_ratio), (arch, criterion)
        at = run.latency_at_macs(0.6)
        assert abs(at["macs_ratio"] - 0.6) == min(abs(m - 0.6) for m in run.macs_ratio[1:])
        assert at["latency_ratio"] == run.latency_ratio[at["step"]]


def test_shrink_to_refuses_unknown_groups_and_growth():
    net = models.build("squeezenet", 10)
    with pytest.raises(ValueError, match="no group named 'features.99'"):
        shrink_to(net, {"features.99": 3})
    with pytest.raises(ValueError, match="features.0 has 64 channels; cannot keep 65"):
        shrink_to(net, {"features.0": 65})


def test_readme_headline_is_generated_from_the_results():
    assert report.generated_block(layout.ROOT / "docs" / "results.md", report.START, report.END) \
        == report.headline_markdown(), "run: python -m facelib report"
    for (path, start, end), body in report.blocks().items():  # the README's findings and compact table too
        assert report.generated_block(path, start, end) == body, f"{path.name}: run python -m facelib report"


def test_recipe_rows_are_read_as_a_choice_by_their_intervals():
    rows = io.read_csv(layout.results_dir() / "recipes.csv", numeric=True)
    assert rows, "the recipe search has results"
    for r in rows:
        assert r["devpeople_eer_low"] < r["devpeople_eer"] < r["devpeople_eer_high"]
        assert r["dev_eer_low"] < r["dev_eer"] < r["dev_eer_high"]
        # the larger set of the same people pins the EER down more tightly than the 1,000 pairs
        assert r["devpeople_eer_high"] - r["devpeople_eer_low"] < r["dev_eer_high"] - r["dev_eer_low"]
        assert layout.recipe_history_csv(r["recipe"]).exists()
    verdict = analysis.recipe_verdict(rows)
    best = min(rows, key=lambda r: r["devpeople_eer"])
    assert verdict[0].startswith(f"lowest EER on the larger set: {best['recipe']}") and len(verdict) == len(rows)
    far = {**best, "recipe": "far", "devpeople_eer": 0.9, "devpeople_eer_low": best["devpeople_eer_high"] + 0.01,
           "devpeople_eer_high": 0.95}
    assert analysis.recipe_verdict([best, far])[1].endswith("worse, the intervals do not overlap")
    near = {**best, "recipe": "near", "devpeople_eer": best["devpeople_eer"] + 1e-3}
    assert "no difference" in analysis.recipe_verdict([best, near])[1]


def test_late_gain_is_the_eer_gained_over_the_last_fifth_of_the_epochs():
    history = [{"dev_eer": e} for e in (0.30, 0.20, 0.15, 0.12, 0.11, 0.105, 0.10, 0.10, 0.099, 0.098)]
    assert analysis.late_gain(history) == pytest.approx(0.10 - 0.098)  # epochs 9-10 against epoch 8
    assert analysis.late_gain(history[:5]) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="no epochs before"):
        analysis.late_gain(history[:1])


def test_bases_of_searched_recipes_carry_both_intervals():
    """Every base trained with the recipe the search chose for its network (``runs.BASE_RECIPES``)
    has both EERs with their intervals; older rows (first recipe) may lack the larger set."""
    rows = io.read_csv(layout.results_dir() / "base_models.csv", numeric=True)
    current = [r for r in rows if runs.BASE_RECIPES[r["arch"]]
               and TrainConfig.from_dict(json.loads(r["config"])).same_study_run(configs.base_config(r["arch"], r["way"]))]
    assert current, "no base of a searched recipe is recorded"
    for r in current:
        assert r["dev_eer_low"] < r["dev_eer"] < r["dev_eer_high"], r["arch"]
        assert r["devpeople_eer_low"] < r["devpeople_eer"] < r["devpeople_eer_high"], r["arch"]
        assert r["devpeople_eer_high"] - r["devpeople_eer_low"] < r["dev_eer_high"] - r["dev_eer_low"]
        assert r["epochs"] == len(io.read_csv(layout.history_csv(r["arch"], r["way"])))


def test_committed_checkpoints_are_unfinished_runs_of_todays_configuration():
    """A run in checkpoints/ (too long for one session) is one the study would take up as it is: its
    configuration is today's up to the machine fields (a bf16 run folder continues only on a CPU with
    bf16 units), and it is not recorded yet (a recorded run's checkpoint is deleted)."""
    from facelib.pruning.config import PruneConfig
    from facelib.study import checkpoint

    for folder in sorted((layout.ROOT / "checkpoints").glob("*")):
        arch, criterion = folder.name.split("-", 1)
        assert folder == layout.checkpoint_dir(arch, criterion)
        saved = PruneConfig.from_dict(json.loads((folder / "config.json").read_text()))
        assert saved.same_study_run(configs.prune_config(arch, criterion)), folder.name
        assert not (layout.pruning_results_dir(arch, criterion) / "run.json").exists(), folder.name
        last = checkpoint.step(folder)
        assert (folder / "models" / f"step_{last:03d}_pruned.pt").exists()


def test_deploy_timings_say_which_cpu_they_ran_on():
    """One bench run per network, so one CPU per network; rows timed before the column existed say so."""
    rows = analysis.deploy_rows()
    if not rows:
        pytest.skip("no deploy.csv yet (bench/bench_deploy.py)")
    summary = analysis.deploy_summary(rows)
    for arch in {r["arch"] for r in rows}:
        cpus = {s["cpu"] for s in summary if s["network"] == arch}
        recorded = {r["cpu"] for r in rows if r["arch"] == arch and isinstance(r.get("cpu"), str)}
        assert cpus == (recorded or {"not recorded"}), arch
        assert len(cpus) == 1, arch
    assert "Timed on" in report.headline_markdown()


def test_a_deploy_row_is_todays_only_while_its_source_file_is_unchanged():
    rows = [r for r in analysis.deploy_rows() if isinstance(r.get("source"), str)]
    if not rows:
        pytest.skip("no deploy.csv rows with a recorded source yet (bench/bench_deploy.py)")
    for row in rows:
        arch, model = row["arch"], row["model"]
        run = "taylor" if model == "taylor_up16" else model  # the run whose step's shape it is
        today = io.file_digest(analysis.timing_source(arch, model)) == row["source"] and (
            model == "unpruned" or not recorded.started_from_earlier_base(recorded.load_run(arch, run)))
        assert analysis.timed_today(row) == today
        assert not analysis.timed_today({**row, "source": "0" * 12})  # the file changed since
        assert not analysis.timed_today({k: v for k, v in row.items() if k != "source"})  # never recorded
