"""Data-parallel training under ``torchrun`` on this CPU (gloo, 2 processes) against one process, on
real LFW and CelebA-299 faces written by the test as a VGGFace2-layout folder (``--data``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facelib.io import read_csv
from facelib.networks.models import load_model
from facelib.training.parallel import Part

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from facetree import write_tree  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
# Float sums in another order (two shares of each batch, then averaged) move the weights by about 1e-7
# a step, which a few SGD steps amplify (measured over this test's epoch: 6e-7; batches of 10, 7e-5). A rank
# that drew its own augmentation, or averaged unweighted means of unequal shares, moved them by 4e-3 and 5e-3.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tree(tmp_path_factory, lfw_people, celeba):
    """Three LFW and three CelebA-299 people, eight faces each, as ``tree/<person>/<image>.jpg``."""
    lfw = [faces[:8] for _, faces in sorted(lfw_people.items()) if len(faces) >= 8][:3]
    by_person: dict[str, list] = {}
    for f in celeba:
        by_person.setdefault(f.identity, []).append(f)
    cel = [faces[:8] for _, faces in sorted(by_person.items())][:3]
    root = tmp_path_factory.mktemp("faces") / "tree"
    boxes = write_tree([f for group in lfw + cel for f in group], root)
    return root, boxes


def train_args(tree, out: Path, epochs: int = 1) -> list[str]:
    root, boxes = tree
    return ["train", "--arch", "squeezenet", "--data", str(root), "--boxes", str(boxes), "--epochs", str(epochs),
            "--batch-size", "9", "--val-fraction", "0.1", "--eval-pairs", "none", "--dropout", "0", "--threads", "1",
            "--workers", "1", "--out", str(out), "--quiet"]


def run(args: list[str], processes: int = 1) -> subprocess.CompletedProcess:
    """``python -m facelib ARGS``, or under ``torchrun`` on ``processes`` processes."""
    launcher = [str(TORCHRUN), f"--nproc_per_node={processes}", "--master_port", str(29500 + os.getpid() % 500)] \
        if processes > 1 else [sys.executable]
    done = subprocess.run([*launcher, "-m", "facelib", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def largest_difference(a: Path, b: Path) -> float:
    wa, wb = load_model(a).state_dict(), load_model(b).state_dict()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def test_part_splits_a_batch_and_scales_its_loss():
    """A global batch of 5 on 2 ranks: places 0-2 and 3-4, and the scaled means average to the mean of 5."""
    ranks = [Part(0, 2), Part(1, 2)]
    assert [r.places(5).tolist() for r in ranks] == [[0, 1, 2], [3, 4]]
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    scaled = [r.loss_scale(len(r.places(5)), 5) * losses[r.places(5)].mean() for r in ranks]
    assert torch.isclose(sum(scaled) / 2, losses.mean())


def test_two_processes_train_as_one_from_a_folder(tmp_path, tree):
    """``torchrun --nproc_per_node=2 -m facelib train --data TREE`` against the same command on one
    process: the same steps (weights within float tolerance), rank 0 alone writing."""
    one = run(train_args(tree, tmp_path / "one"))
    two = run(train_args(tree, tmp_path / "two"), processes=2)
    assert "on 2 processes" in two.stdout and two.stdout.count("trained squeezenet") == 1
    assert "trained squeezenet for 1 epochs" in one.stdout
    assert largest_difference(tmp_path / "one" / "model.pt", tmp_path / "two" / "model.pt") < TOLERANCE
    h1, h2 = read_csv(tmp_path / "one" / "history.csv", numeric=True), read_csv(tmp_path / "two" / "history.csv",
                                                                                numeric=True)
    assert abs(h1[0]["train_loss"] - h2[0]["train_loss"]) < 1e-3 and h1[0]["train_acc"] == h2[0]["train_acc"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint.pt", "config.json", "history.csv",
                                                                    "model.pt"]


def test_a_run_stopped_on_two_processes_resumes_on_one(tmp_path, tree):
    """Two processes take 3 steps and stop (as if killed after a checkpoint); one process finishes the
    epoch from the checkpoint: the same model as one process from the start."""
    driver = tmp_path / "stop_after.py"
    driver.write_text("import sys\nfrom facelib import cli\nfrom facelib.training import loop, parallel\n"
                      "args = cli.parser().parse_args(sys.argv[2:])\n"
                      "cfg = loop.TrainConfig(**{f: getattr(args, f) for f in loop.TrainConfig.__dataclass_fields__})\n"
                      "part = parallel.join(cfg.device)\n"
                      "loop.train(cfg, args.out, stop_after=int(sys.argv[1]), progress=False)\n"
                      "parallel.leave(part)\n")
    stopped = train_args(tree, tmp_path / "resumed")
    done = subprocess.run([str(TORCHRUN), "--nproc_per_node=2", "--master_port", str(29000 + os.getpid() % 500),
                           str(driver), "3", *stopped], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert (saved["epoch"], saved["step"]) == (0, 3) and not (tmp_path / "resumed" / "model.pt").exists()
    assert json.loads(saved["config"])["data"] == str(tree[0])
    run(train_args(tree, tmp_path / "resumed"))
    run(train_args(tree, tmp_path / "straight"))
    assert largest_difference(tmp_path / "resumed" / "model.pt", tmp_path / "straight" / "model.pt") < TOLERANCE


@pytest.fixture(scope="module")
def tree_base(tmp_path_factory, tree):
    """A SqueezeNet trained one epoch on the folder (its classifier for the folder's people), to prune."""
    out = tmp_path_factory.mktemp("base")
    run(train_args(tree, out))
    return out / "model.pt"


def prune_args(tree, base: Path, out: Path) -> list[str]:
    root, boxes = tree
    return ["prune", "--model", str(base), "--data", str(root), "--boxes", str(boxes), "--steps", "2",
            "--filters-per-step", "16", "--batches-per-step", "3", "--batch-size", "9", "--finetune-every", "2",
            "--finetune-batches", "2", "--threads", "1", "--workers", "1", "--out", str(out), "--quiet"]


def test_two_processes_prune_as_one_from_a_folder(tmp_path, tree, tree_base):
    """``torchrun --nproc_per_node=2 -m facelib prune --data TREE`` against one process: both remove the
    same filters (scores within float tolerance), and the pruned and fine-tuned networks match."""
    run(prune_args(tree, tree_base, tmp_path / "one"))
    two = run(prune_args(tree, tree_base, tmp_path / "two"), processes=2)
    assert "on 2 processes" in two.stdout and two.stdout.count("pruned ") == 1
    removed = [read_csv(tmp_path / run_ / "removed.csv", numeric=True) for run_ in ("one", "two")]
    assert len(removed[0]) == 32
    assert [(r["step"], r["group"], r["index"]) for r in removed[0]] == [(r["step"], r["group"], r["index"])
                                                                       for r in removed[1]]
    scores = torch.tensor([[r["score"] for r in rows] for rows in removed])
    assert torch.allclose(scores[0], scores[1], rtol=1e-3, atol=0)
    for name in ("step_002_pruned.pt", "step_002_finetuned.pt"):
        assert largest_difference(tmp_path / "one" / "models" / name, tmp_path / "two" / "models" / name) < TOLERANCE


SCORER = """import sys, torch
from pathlib import Path
from facelib.networks.models import load_model, set_dropout
from facelib.pruning import criteria, loop, retrain, selection
from facelib.pruning.config import PruneConfig
from facelib.pruning.groups import channel_groups
from facelib.training import parallel
base, root, boxes, out = sys.argv[1:5]
part = parallel.join()
cfg = PruneConfig(base_model=base, data=root, boxes=boxes, batch_size=9, workers=1, threads=1, lr=0.0)  # scores alone
model = load_model(Path(base))
set_dropout(model, 0.0)  # as it was trained (its dropout masks would differ between the ranks' shares)
td = retrain.training_data(cfg, model, False)
groups = channel_groups(model)
scorer = criteria.importance("taylor", model, groups)
torch.manual_seed(1)
retrain.train_batches(model, td, retrain.step_batches(td.count, 4, 9, 0, 1), cfg, 1, scorer, part=part)
scorer.combine(part.total_tensor)
scores = scorer.scores()
chosen = selection.select_to_remove(scores, 16, 1, 1)
if part.writes:
    torch.save({"scores": scores, "chosen": {k: sorted(v) for k, v in chosen.items()}}, out)
parallel.leave(part)
"""


def test_two_ranks_sum_to_one_process_taylor_scores(tmp_path, tree, tree_base):
    """Every filter's Taylor score (eq. 8) over 4 mini-batches of 9 faces, each rank scoring its share
    (5 and 4 faces) and the two summed (``Importance.combine``), against one process scoring whole
    batches: the same scores within float tolerance, and the same 16 filters chosen."""
    driver = tmp_path / "scores.py"
    driver.write_text(SCORER)
    args = [str(tree_base), str(tree[0]), str(tree[1])]
    subprocess.run([sys.executable, str(driver), *args, str(tmp_path / "one.pt")], cwd=ROOT, check=True,
                   capture_output=True)
    done = subprocess.run([str(TORCHRUN), "--nproc_per_node=2", "--master_port", str(28500 + os.getpid() % 500),
                           str(driver), *args, str(tmp_path / "two.pt")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in ("one", "two"))
    assert one["chosen"] == two["chosen"]
    alive = sum(int((v > 0).sum()) for v in one["scores"].values())
    assert alive > sum(len(v) for v in one["scores"].values()) // 2  # a comparison of real scores
    for name, a in one["scores"].items():  # float32 sums in another order, within each group's scale
        b = two["scores"][name]
        assert (a - b).abs().max() <= 1e-4 * a.abs().max(), (name, ((a - b).abs().max() / a.abs().max()).item())


def test_a_folder_with_a_lone_person_and_a_broken_file_trains_and_says_so(tmp_path, tree):
    """One sentence each for the person left out (one image) and the unreadable file; the run goes on."""
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(tree[0], root)
    (root / "lone_person").mkdir()
    (root / "lone_person" / "only.jpg").write_bytes(next(root.glob("*/*.jpg")).read_bytes())
    person = sorted(p for p in root.iterdir() if p.is_dir())[0]
    (person / "broken.jpg").write_bytes(b"not a jpeg")
    done = run(train_args((root, tree[1]), tmp_path / "run") + ["--val-fraction", "0"])  # the broken file trains
    said = done.stdout + done.stderr
    assert f"1 people of {root} have fewer than 2 images and were left out" in said
    assert "1 training images could not be read so far; they were skipped" in said
    assert (tmp_path / "run" / "model.pt").exists()
