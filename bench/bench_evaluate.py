"""Benchmarks of the evaluation pipeline (not tests). Run: .venv/bin/python bench/bench_evaluate.py

1. Embedding throughput of the whole pipeline (cached uint8 faces -> crop, normalise, mirror,
   forward, L2-normalise) as a ratio to the bare model forward pass on the same tensors.
   Goal: >= 0.8 (data handling is not the bottleneck). Also the first, uncached run, which
   decodes and crops every JPEG.
2. Time of ``metrics.eer`` on 1 million scores. Goal: under 1 s.
Both measured in this one run, so the ratio is free of machine-to-machine noise.
"""
from __future__ import annotations

import numpy as np
import torch

from facelib import data, evaluate, metrics, models, preprocessing
from facelib.speed import best_of


def main() -> None:
    torch.manual_seed(0)
    pairs = data.lfw_pairs("dev")
    faces = evaluate.unique_faces(pairs)[:512]
    images = data.load_images(faces)  # decoded once, as in evaluation (cached)
    for arch in ("squeezenet", "mobilenetv2"):
        model = models.build(arch, 10).eval()
        inputs = preprocessing.to_input(images)

        @torch.no_grad()
        def bare():
            for i in range(0, len(inputs), 256):
                x = inputs[i:i + 256]
                model.embed(x)
                model.embed(x.flip(-1))

        pipeline = best_of(lambda: evaluate.embed_images(model, images, mirror=True))
        cold = best_of(lambda: evaluate.embed_images(model, data.load_images(faces, cache=False), mirror=True), 1)
        forward = best_of(bare)
        print(f"{arch}: bare forward {len(images) / forward:.0f} img/s; pipeline from the face cache "
              f"{len(images) / pipeline:.0f} img/s, ratio {forward / pipeline:.2f} (goal >= 0.8); "
              f"pipeline decoding JPEGs (first run) {len(images) / cold:.0f} img/s, ratio {forward / cold:.2f}")
    rng = np.random.default_rng(0)
    labels = rng.random(1_000_000) < 0.5
    scores = rng.normal(labels.astype(float), 1.0)
    t = best_of(lambda: metrics.eer(scores, labels))
    print(f"metrics.eer on 1,000,000 scores: {t:.3f} s (goal < 1 s)")


if __name__ == "__main__":
    main()
