"""facelib: train, prune and evaluate face-recognition CNNs on real faces.

Reproduces Alonso-Fernandez et al., "SqueezerFaceNet: Reducing a Small Face Recognition CNN
Even More Via Filter Pruning", and "Deep network pruning: A comparative study on CNNs in face
recognition" (Pattern Recognition Letters 2025).

Modules: ``data`` (faces, crops, splits), ``models`` (build/save/load) with ``backbones``,
``train`` (softmax training loop), ``metrics`` (EER, ROC, DET, TAR@FAR), ``evaluate``
(embeddings and verification), ``cli`` (``python -m facelib``).
"""
