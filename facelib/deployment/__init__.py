"""Stage 6, deployment: a network as an ONNX file for ONNX Runtime, fp32 or statically quantised to
int8 (``export``)."""
