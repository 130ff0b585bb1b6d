"""Stage 3, evaluation: verification metrics with their intervals (``metrics``: EER, ROC, DET,
TAR@FAR, bootstrap intervals), embeddings and verification of a network or an ONNX model on LFW
pairs (``verification``), CPU timing (``timing``) and two uploaded photos compared (``photos``)."""
