"""facelib: train, prune and evaluate face-recognition CNNs on real faces.

Reproduces Alonso-Fernandez et al., "SqueezerFaceNet: Reducing a Small Face Recognition CNN
Even More Via Filter Pruning", and "Deep network pruning: A comparative study on CNNs in face
recognition" (Pattern Recognition Letters 2025).

Modules: ``data`` (faces, crops, splits), ``models`` (build/save/load) with ``backbones``,
``train`` (softmax training loop) with ``distill``, ``pruning`` (groups, scores, surgery, the
pruning loop), ``metrics`` (EER, ROC, DET, TAR@FAR), ``evaluate`` (embeddings and
verification); the study itself: ``runs`` (which runs exist and how each is set, as data),
``study`` (runs them, resumably), ``record`` (writes finished runs into ``results/`` and
``models/``), ``layout`` (where run folders, tables and models live), ``analysis`` (the
findings read from the tables), ``report`` (the README headline), ``figures`` (plots shared by
notebooks and dashboard), ``faces`` (two uploaded photos compared); and ``speed`` and
``allocator`` (CPU timing and steady step times), ``config``, ``paths``, ``io`` (atomic writes,
safe loads), ``errors``, and ``cli`` (``python -m facelib``).
"""
