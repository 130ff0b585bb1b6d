"""Benchmarks of the evaluation pipeline (not tests). Run: .venv/bin/python bench/bench_evaluate.py

1. Embedding throughput of the whole pipeline (cached uint8 faces -> crop, normalise, mirror,
   forward, L2-normalise) as a ratio to the bare model forward pass on the same tensors.
   Goal: >= 0.8 (data handling is not the bottleneck). Also the first, uncached run, which
   decodes and crops every JPEG.
2. Time of ``metrics.eer`` on 1 million scores. Goal: under 1 s.
3. Evaluation in bf16 (``PruneConfig.eval_precision``, what every pruning step of the study runs)
   against fp32: embedding time of the shipped bases on 1 in 8 of the larger set's pairs, the two
   precisions called in turn, as a ratio, and both EERs with the largest change of a pair's score.
All measured in this one run, so the ratios are free of machine-to-machine noise.
"""
from __future__ import annotations

import numpy as np
import torch

from facelib.data import preprocessing
from facelib.data.datasets import load_images
from facelib.data.pairs import lfw_pairs
from facelib.evaluation import metrics, verification
from facelib.evaluation.timing import best_of, round_robin_best_of
from facelib.networks import models
from facelib.study import layout
from facelib.study.runs import ARCHS


def main() -> None:
    torch.manual_seed(0)
    pairs = lfw_pairs("dev")
    faces = verification.unique_faces(pairs)[:512]
    images = load_images(faces)  # decoded once, as in evaluation (cached)
    for arch in ("squeezenet", "mobilenetv2"):
        model = models.build(arch, 10).eval()
        inputs = preprocessing.to_input(images)

        @torch.no_grad()
        def bare():
            for i in range(0, len(inputs), 256):
                x = inputs[i:i + 256]
                model.embed(x)
                model.embed(x.flip(-1))

        pipeline = best_of(lambda: verification.embed_images(model, images, mirror=True))
        cold = best_of(lambda: verification.embed_images(model, load_images(faces, cache=False), mirror=True), 1)
        forward = best_of(bare)
        print(f"{arch}: bare forward {len(images) / forward:.0f} img/s; pipeline from the face cache "
              f"{len(images) / pipeline:.0f} img/s, ratio {forward / pipeline:.2f} (goal >= 0.8); "
              f"pipeline decoding JPEGs (first run) {len(images) / cold:.0f} img/s, ratio {forward / cold:.2f}")
    rng = np.random.default_rng(0)
    labels = rng.random(1_000_000) < 0.5
    scores = rng.normal(labels.astype(float), 1.0)
    t = best_of(lambda: metrics.eer(scores, labels))
    print(f"metrics.eer on 1,000,000 scores: {t:.3f} s (goal < 1 s)")
    eval_precision()


def eval_precision() -> None:
    pairs = lfw_pairs("devpeople")[::8]
    faces = verification.unique_faces(pairs)
    images = load_images(faces)
    for arch in ARCHS:
        shipped = sorted(layout.models_dir().glob(f"{arch}-*-base.pt"))
        if not shipped:
            continue
        model = models.load_model(shipped[0])
        emb = {p: (lambda p=p: verification.embed_images(model, images, precision=p)) for p in ("fp32", "bf16")}
        seconds = round_robin_best_of(emb, repeats=2)
        found = {p: verification.verification(verification.pair_scores(pairs, dict(zip(faces, f()))), pairs)
                 for p, f in emb.items()}
        change = np.abs(found["bf16"].scores - found["fp32"].scores).max()
        print(f"{shipped[0].name}, {len(faces)} faces: bf16 evaluation {seconds['fp32'] / seconds['bf16']:.2f}x "
              f"as fast as fp32 ({len(faces) / seconds['bf16']:.0f} against {len(faces) / seconds['fp32']:.0f} "
              f"faces/s); EER {found['fp32'].eer:.2%} fp32, {found['bf16'].eer:.2%} bf16; largest score change "
              f"{change:.4f}")


if __name__ == "__main__":
    main()
