"""The three networks of the papers, one file each, with torchvision's parameter names, and the
pretrained reference MobileFaceNet (``mobilefacenet.MobileFaceNet.from_onnx``).

Every network is a :class:`FaceNet`: ``embed(x)`` is the global-average-pool output (the face
embedding the papers use for verification) and ``forward(x)`` adds the linear identity
classifier used only for training.
"""
from facelib.backbones.base import FaceNet
from facelib.backbones.mobilefacenet import MobileFaceNet
from facelib.backbones.mobilenetv2 import MobileNetV2
from facelib.backbones.resnet50 import ResNet50
from facelib.backbones.squeezenet import SqueezeNet

__all__ = ["FaceNet", "SqueezeNet", "MobileNetV2", "ResNet50", "MobileFaceNet"]
