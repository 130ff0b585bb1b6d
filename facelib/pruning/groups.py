"""Coupled channel groups: the sets of tensor slices that must shrink together.

Removing a filter means removing one output channel of a convolution, and with it every
slice that only exists because of that channel. A *group* names those slices:

- ``outputs``: modules indexed by the group's channels on their output side: the filter's
  convolution, its batch norm, and per-channel (depthwise) convolutions that follow it;
- ``consumers``: modules whose *input* channels include the group's, at an offset equal to the
  size of the groups concatenated before it (``before``);
- ``taps``: modules whose output holds exactly the group's channels on their way to a consumer,
  where zeroing a channel is the same as removing it. Taylor scores are measured at the taps and
  summed. SqueezeNet's taps are its ReLUs: with ``a = ReLU(z)``, ``a * dL/da`` equals
  ``z * dL/dz`` element by element (both vanish where z <= 0), and ReLU keeps ``a`` for its own
  backward pass, so scoring there holds no extra feature map (scoring at the convolutions held
  every pre-activation map until the backward pass: 0.3 GB more at batch 64). Elsewhere the
  taps are batch norms (pre-activation).

Worked example, a SqueezeNet Fire module (features.3) feeding features.4::

    features.3.squeeze    16 filters -> consumed by expand1x1 and expand3x3 (both at offset 0)
    features.3.expand1x1  64 filters -> consumed by features.4.squeeze at input offset 0
    features.3.expand3x3  64 filters -> consumed by features.4.squeeze at input offset 64,
                                        i.e. after however many expand1x1 filters remain

Removing expand3x3 filter 5 removes features.3.expand3x3.weight[5], its bias[5], and
features.4.squeeze.weight[:, 64 + 5] (with 64 = the current size of expand1x1).

MobileNetV2: the expansion 1x1 conv, its batch norm, the 3x3 depthwise conv and its batch norm
share one group (the depthwise conv has one filter per channel). The residual connections add
block outputs of a stage channel by channel, so the projection convs of all blocks of a stage
(and their batch norms) form one group, consumed by every expansion conv reading that stream.

ResNet50: conv1 and conv2 of each bottleneck are free groups; the residual stream of a stage
(every conv3 + bn3 and the downsampling shortcut conv + bn) is one group, consumed by each
block's conv1, the next stage's first conv1 and shortcut, or the classifier ``fc``.

MobileFaceNet (pretrained, batch norm folded into biased convolutions): as MobileNetV2, each
expansion shares a group with its depthwise conv, and the linear projections of a stage's blocks
form one residual stream. Its taps are the activations (ReLU6) and, where a convolution is linear,
the convolution itself: zeroing a channel must happen after the last bias of the chain, or the
bias would still reach the consumer. Worked example, the head::

    conv2      128 -> 512 + ReLU6   } one group of 512: gdconv has one 7x7 filter per channel,
    gdconv     depthwise 7x7, bias  } so removing conv2's filter 9 removes gdconv's filter 9 and
    conv3      512 -> 128 (linear)     conv3.weight[:, 9]; the tap is gdconv's output, after its bias
    classifier 128 -> identities    conv3's 128 outputs, the embedding, are a group of their own
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from facelib.networks.base import FaceNet
from facelib.networks.mobilefacenet import MobileFaceNet
from facelib.networks.mobilenetv2 import SETTINGS, MobileNetV2
from facelib.networks.resnet50 import ResNet50
from facelib.networks.squeezenet import SqueezeNet


@dataclass(frozen=True)
class Group:
    name: str
    kind: str
    taps: tuple[str, ...]
    outputs: tuple[str, ...]
    consumers: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


def size(model: nn.Module, group: Group) -> int:
    """Current number of channels (filters) of a group."""
    m = model.get_submodule(group.outputs[0])
    return m.out_channels if isinstance(m, nn.Conv2d) else m.num_features


def input_offset(model: nn.Module, before: tuple[str, ...], by_name: dict[str, Group]) -> int:
    """Where a group's channels start among a consumer's input channels: the summed current sizes
    of the groups ``before`` it in that consumer's concatenated input (0 for a plain consumer)."""
    return sum(size(model, by_name[b]) for b in before)


def squeezenet_groups(model: SqueezeNet) -> list[Group]:
    fires = [i for i, m in enumerate(model.features) if type(m).__name__ == "Fire"]
    groups = [Group("features.0", "conv", ("features.1",), ("features.0",), ((f"features.{fires[0]}.squeeze", ()),))]
    for k, i in enumerate(fires):
        f = f"features.{i}"
        nxt = f"features.{fires[k + 1]}.squeeze" if k + 1 < len(fires) else "classifier.1"
        groups += [
            Group(f"{f}.squeeze", "fire squeeze", (f"{f}.squeeze_activation",), (f"{f}.squeeze",),
                  ((f"{f}.expand1x1", ()), (f"{f}.expand3x3", ()))),
            Group(f"{f}.expand1x1", "fire expand (concat)", (f"{f}.expand1x1_activation",), (f"{f}.expand1x1",),
                  ((nxt, ()),)),
            Group(f"{f}.expand3x3", "fire expand (concat)", (f"{f}.expand3x3_activation",), (f"{f}.expand3x3",),
                  ((nxt, (f"{f}.expand1x1",)),)),
        ]
    return groups


def mobilenetv2_groups(model: MobileNetV2) -> list[Group]:
    groups = [Group("features.0", "stem + depthwise", ("features.0.1", "features.1.conv.0.1"),
                    ("features.0.0", "features.0.1", "features.1.conv.0.0", "features.1.conv.0.1"),
                    (("features.1.conv.1", ()),))]
    stages, block = [], 1
    for _, _, n, _ in SETTINGS:
        stages.append(list(range(block, block + n)))
        block += n
    last = block  # features.18: the final 1x1 conv to 1280 channels
    for b in range(2, last):  # blocks with an expansion conv
        f = f"features.{b}.conv"
        groups.append(Group(f"{f}.0", "expansion + depthwise", (f"{f}.0.1", f"{f}.1.1"),
                            (f"{f}.0.0", f"{f}.0.1", f"{f}.1.0", f"{f}.1.1"), ((f"{f}.2", ()),)))
    for s, blocks in enumerate(stages):
        proj = lambda b: ((f"features.{b}.conv.1", f"features.{b}.conv.2") if b == 1  # noqa: E731
                          else (f"features.{b}.conv.2", f"features.{b}.conv.3"))
        readers = [f"features.{b}.conv.0.0" for b in blocks[1:]]
        readers.append(f"features.{stages[s + 1][0]}.conv.0.0" if s + 1 < len(stages) else f"features.{last}.0")
        groups.append(Group(f"stage{s + 1}.stream", "residual stream" if len(blocks) > 1 else "projection",
                            tuple(proj(b)[1] for b in blocks), tuple(m for b in blocks for m in proj(b)),
                            tuple((r, ()) for r in readers)))
    groups.append(Group(f"features.{last}", "conv", (f"features.{last}.1",),
                        (f"features.{last}.0", f"features.{last}.1"), (("classifier.1", ()),)))
    return groups


def resnet50_groups(model: ResNet50) -> list[Group]:
    groups = [Group("conv1", "stem", ("bn1",), ("conv1", "bn1"), (("layer1.0.conv1", ()), ("layer1.0.downsample.0", ())))]
    for s in range(1, 5):
        layer = model.get_submodule(f"layer{s}")
        blocks = [f"layer{s}.{b}" for b in range(len(layer))]
        for b in blocks:
            groups += [Group(f"{b}.conv1", "bottleneck inner", (f"{b}.bn1",), (f"{b}.conv1", f"{b}.bn1"), ((f"{b}.conv2", ()),)),
                       Group(f"{b}.conv2", "bottleneck inner", (f"{b}.bn2",), (f"{b}.conv2", f"{b}.bn2"), ((f"{b}.conv3", ()),))]
        readers = [f"{b}.conv1" for b in blocks[1:]]
        readers += [f"layer{s + 1}.0.conv1", f"layer{s + 1}.0.downsample.0"] if s < 4 else ["fc"]
        groups.append(Group(f"layer{s}.stream", "residual stream",
                            (f"layer{s}.0.downsample.1",) + tuple(f"{b}.bn3" for b in blocks),
                            (f"layer{s}.0.downsample.0", f"layer{s}.0.downsample.1")
                            + tuple(m for b in blocks for m in (f"{b}.conv3", f"{b}.bn3")),
                            tuple((r, ()) for r in readers)))
    return groups


def mobilefacenet_groups(model: MobileFaceNet) -> list[Group]:
    groups = [Group("conv1", "stem + depthwise", ("conv1.1", "dw_conv.0.1"), ("conv1.0", "dw_conv.0.0"),
                    (("dw_conv.1.0", ()),)),
              Group("dw_conv.1", "conv", ("dw_conv.1.1",), ("dw_conv.1.0",), (("features.0.expand.0", ()),))]
    for b in range(len(model.features)):
        f = f"features.{b}"
        groups.append(Group(f"{f}.expand", "expansion + depthwise", (f"{f}.expand.1", f"{f}.depthwise.1"),
                            (f"{f}.expand.0", f"{f}.depthwise.0"), ((f"{f}.project.0", ()),)))
    # A stream runs from a block that changes the width or the size (no residual) through the
    # residual blocks after it: features.0-4 (64), 5-11 (128), 12-14 (128).
    streams: list[list[int]] = []
    for b, m in enumerate(model.features):
        if m.residual:
            streams[-1].append(b)
        else:
            streams.append([b])
    for s, blocks in enumerate(streams):
        readers = [f"features.{b}.expand.0" for b in blocks[1:]]
        readers.append(f"features.{streams[s + 1][0]}.expand.0" if s + 1 < len(streams) else "conv2.0")
        taps = tuple(f"features.{b}.project.0" for b in blocks)
        groups.append(Group(f"stream{s + 1}", "residual stream", taps, taps, tuple((r, ()) for r in readers)))
    groups += [Group("conv2", "conv + global depthwise", ("conv2.1", "gdconv.0"), ("conv2.0", "gdconv.0"),
                     (("conv3.0", ()),)),
               Group("conv3", "embedding", ("conv3.0",), ("conv3.0",), (("classifier", ()),))]
    return groups


def channel_groups(model: FaceNet) -> list[Group]:
    """Every prunable group of a face network, in network order."""
    if isinstance(model, SqueezeNet):
        return squeezenet_groups(model)
    if isinstance(model, MobileNetV2):
        return mobilenetv2_groups(model)
    if isinstance(model, ResNet50):
        return resnet50_groups(model)
    if isinstance(model, MobileFaceNet):
        return mobilefacenet_groups(model)
    raise TypeError(f"no channel groups defined for {type(model).__name__}")
