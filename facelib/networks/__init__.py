"""Stage 2, the networks: one file per backbone (``squeezenet``, ``mobilenetv2``, ``resnet50``,
``mobilefacenet``), each a ``base.FaceNet`` whose embedding is the global average pool; ``models``
builds, saves, loads and counts them (parameters, multiply-accumulates)."""

# The networks by name, importable without torch (the study's declarations and the dashboard's first
# page read names only): the three the study trains from scratch, then MobileFaceNet, pretrained.
# ``models.ARCHITECTURES`` maps each to its class.
NAMES = ("squeezenet", "mobilenetv2", "resnet50", "mobilefacenet")
