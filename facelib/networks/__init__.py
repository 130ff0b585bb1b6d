"""Stage 2, the networks: one file per backbone (``squeezenet``, ``mobilenetv2``, ``resnet50``,
``mobilefacenet``), each a ``base.FaceNet`` whose embedding is the global average pool; ``models``
builds, saves, loads and counts them (parameters, multiply-accumulates)."""
