"""The papers' crop, and any image decoded to 8-bit RGB.

As in the papers (following VGGFace2): the face box is enlarged by 30 % around its centre,
cropped (edge pixels repeated where it leaves the photo), resized so its shortest side is 129
pixels, and a 113x113 crop is taken: random position plus random horizontal flip in training,
the centre at test. ``preprocess`` gives the cached form (the central 129x129 of the resized
crop, uint8), ``to_input`` cuts the 113x113 network input from it and normalises it
(ImageNet mean and deviation, as torchvision's SqueezeNet, MobileNetV2 and ResNet50 expect).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from facelib.errors import FacelibError

ENLARGE = 1.3
SHORT_SIDE = 129
CROP = 113
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
Box = tuple[float, float, float, float]


def open_image(path_or_file) -> Image.Image:
    """Decode any image Pillow reads into 8-bit RGB, or raise FacelibError with one sentence."""
    name = getattr(path_or_file, "name", path_or_file)
    try:
        with Image.open(path_or_file) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit greyscale: scale to 8 bits
                a = np.asarray(img, dtype=np.float64)
                a = 255 * (a - a.min()) / max(a.max() - a.min(), 1)
                img = Image.fromarray(a.astype(np.uint8))
            if img.mode in ("RGBA", "LA", "P", "PA"):
                img = img.convert("RGBA")
                background = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, img)
            return img.convert("RGB")
    except Image.DecompressionBombError:
        raise FacelibError(f"{name} is too large to decode safely (over {Image.MAX_IMAGE_PIXELS:,} pixels)") from None
    except FileNotFoundError:
        raise FacelibError(f"image {name} does not exist") from None
    except (OSError, ValueError, SyntaxError):
        raise FacelibError(f"{name} is not a readable image (corrupt, truncated or not an image file)") from None


def enlarge_box(box: Box, factor: float = ENLARGE) -> Box:
    """The box scaled by ``factor`` about its centre (both sides)."""
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return cx - hw, cy - hh, cx + hw, cy + hh


def crop_padded(img: np.ndarray, box: Box) -> np.ndarray:
    """Crop an HxWxC array to the (rounded) box, repeating edge pixels where the box leaves it."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    h, w = img.shape[:2]
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad:
        img = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return img[y1 + pad:y2 + pad, x1 + pad:x2 + pad]


def face_crop(img: Image.Image, box: Box | None, short_side: int = SHORT_SIDE) -> Image.Image:
    """The papers' crop before the 113x113 cut: box x1.3, shortest side resized to ``short_side``.

    ``box=None`` means the whole image is already the enlarged face region.
    """
    if box is not None:
        img = Image.fromarray(crop_padded(np.asarray(img), enlarge_box(box)))
    w, h = img.size
    scale = short_side / min(w, h)
    return img.resize((max(short_side, round(w * scale)), max(short_side, round(h * scale))), Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def preprocess(img: Image.Image, box: Box | None) -> np.ndarray:
    """Cached form of a face: the central 129x129 of the papers' crop, uint8 [3, 129, 129]."""
    return np.asarray(center_crop(face_crop(img, box), SHORT_SIDE)).transpose(2, 0, 1).copy()


def draw_views(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training augmentation of ``n`` faces: a random 113x113 crop position (y, x) in the cached
    129x129 face and a random horizontal flip each, drawn from ``generator``."""
    offsets = torch.randint(0, SHORT_SIDE - CROP + 1, (n, 2), generator=generator)
    return offsets, torch.rand(n, generator=generator) < 0.5


def cut_views(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """The 113x113 views of uint8 [N, 3, 129, 129] faces at ``offsets``, flipped where ``flips``."""
    span = torch.arange(CROP)
    rows, cols = (offsets[:, 0:1] + span)[:, None, :, None], (offsets[:, 1:2] + span)[:, None, None, :]
    out = images[torch.arange(len(images))[:, None, None, None], torch.arange(images.shape[1])[None, :, None, None],
                 rows, cols]  # one gather, not a copy per face (many small copies are slow under load)
    out[flips] = out[flips].flip(-1)
    return out


def normalise(views: torch.Tensor) -> torch.Tensor:
    """Pixel values (uint8 or float, 0-255) -> the networks' input (ImageNet mean and deviation)."""
    return (views.float() - MEAN) / STD


def jitter_and_erase(views: torch.Tensor, jitter: float, erase: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Stronger training augmentation of 0-255 views [N, 3, H, W] (float), drawn from ``generator``:

    - ``jitter`` > 0: per face, contrast ``c`` and brightness ``b`` from U(1 - jitter, 1 + jitter),
      ``v' = (v - m) * c + m * b`` with ``m`` the face's mean value, clipped to 0-255;
    - ``erase`` > 0: with that probability per face, one rectangle (2-20 % of the area, aspect
      1/3-3, random position) set to the ImageNet mean, i.e. 0 after ``normalise`` (random erasing,
      Zhong et al. 2020: an occluded face).
    Both zero: ``views`` unchanged and nothing drawn, so the runs without them repeat exactly.
    """
    drawn = Augmentation.draw(len(views), generator, jitter, erase, crops=False)
    return apply_jitter_and_erase(views, drawn, jitter, erase)


@dataclass
class Augmentation:
    """The random draws of a batch's training augmentation, one row per face, in the order a
    generator gives them (crop offsets, flips, then jitter, then erasing), so that a part of a batch
    (``part``: one process's share under data parallelism) is augmented as in the whole batch."""

    offsets: torch.Tensor | None  # [N, 2] crop position in the 129x129 face (None: no crop drawn)
    flips: torch.Tensor | None  # [N] horizontal flip
    jitter: torch.Tensor | None = None  # [2, N, 1, 1, 1]: contrast and brightness draws
    erase: torch.Tensor | None = None  # [5, N]: on, area, aspect, y, x draws

    @classmethod
    def draw(cls, n: int, generator: torch.Generator | None, jitter: float = 0.0, erase: float = 0.0,
             crops: bool = True) -> "Augmentation":
        offsets, flips = draw_views(n, generator) if crops else (None, None)
        return cls(offsets, flips, torch.rand(2, n, 1, 1, 1, generator=generator) if jitter > 0 else None,
                   torch.rand(5, n, generator=generator) if erase > 0 else None)

    @classmethod
    def draw_for(cls, kind: str, n: int, generator: torch.Generator | None) -> "Augmentation":
        """The draws ``network_input`` makes for ``n`` faces of a network of input ``kind``: a crop and
        a flip each (``crop113``), or a flip alone (``aligned112``: aligned faces are not cropped)."""
        if kind == "aligned112":
            return cls(None, torch.rand(n, generator=generator) < 0.5)
        return cls.draw(n, generator)

    def part(self, rows: slice | torch.Tensor) -> "Augmentation":
        """The draws of the faces ``rows`` of the batch."""
        def cut(t, dim):
            return None if t is None else t[rows] if dim == 0 else t[:, rows]
        return Augmentation(cut(self.offsets, 0), cut(self.flips, 0), cut(self.jitter, 1), cut(self.erase, 1))


def apply_jitter_and_erase(views: torch.Tensor, drawn: Augmentation, jitter: float, erase: float) -> torch.Tensor:
    """``jitter_and_erase`` with its draws given (``drawn``)."""
    n, _, h, w = views.shape
    if drawn.jitter is not None:
        c, b = (1 + jitter * (2 * drawn.jitter - 1)).unbind(0)
        m = views.mean(dim=(1, 2, 3), keepdim=True)
        views = ((views - m) * c + m * b).clamp(0, 255)
    if drawn.erase is not None:
        on, area, aspect, y, x = drawn.erase
        area = (0.02 + 0.18 * area) * h * w
        aspect = torch.exp((2 * aspect - 1) * np.log(3.0))
        eh = (area * aspect).sqrt().round().clamp(1, h).long()
        ew = (area / aspect).sqrt().round().clamp(1, w).long()
        top, left = (y * (h - eh + 1)).long(), (x * (w - ew + 1)).long()
        rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
        box = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
               & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)) & (on < erase).view(n, 1, 1))
        views = torch.where(box[:, None], MEAN.to(views.dtype), views)
    return views


def to_input(images: torch.Tensor, train: bool = False, generator: torch.Generator | None = None,
             jitter: float = 0.0, erase: float = 0.0, drawn: Augmentation | None = None) -> torch.Tensor:
    """uint8 [N, 3, 129, 129] -> normalised float [N, 3, 113, 113].

    Test: the centre crop. Train: a random crop position and a random horizontal flip per
    image, drawn from ``generator`` (so a seeded run is repeatable), then ``jitter_and_erase``;
    or with the draws given (``drawn``: a part of a batch's ``Augmentation``).
    """
    if train:
        drawn = drawn or Augmentation.draw(images.shape[0], generator, jitter, erase)
        views = cut_views(images, drawn.offsets, drawn.flips)
        if drawn.jitter is not None or drawn.erase is not None:
            views = apply_jitter_and_erase(views.float(), drawn, jitter, erase)
        return normalise(views)
    m = (images.shape[-1] - CROP) // 2
    return normalise(images[:, :, m:m + CROP, m:m + CROP])


def aligned_input(images: torch.Tensor, train: bool = False, generator: torch.Generator | None = None,
                  drawn: Augmentation | None = None) -> torch.Tensor:
    """uint8 [N, 3, S, S] faces aligned by their 5 points (``alignment.load_aligned``) -> the input of
    a network that takes them (the pretrained MobileFaceNet), (v - 127.5) / 128. Train: a random
    horizontal flip per face (from ``generator``, or given: ``drawn``); the alignment fixes the face's
    position, so there is no random crop."""
    x = (images.float() - 127.5) / 128
    if train:
        flips = (drawn or Augmentation.draw_for("aligned112", len(images), generator)).flips
        x[flips] = x[flips].flip(-1)
    return x


INPUT_KINDS = {"crop113": to_input, "aligned112": aligned_input}


def network_input(kind: str, images: torch.Tensor, train: bool = False,
                  generator: torch.Generator | None = None, drawn: Augmentation | None = None) -> torch.Tensor:
    """The network input of cached uint8 faces for a network's ``input_kind``: ``crop113`` (the papers'
    crop, ``to_input``) or ``aligned112`` (``aligned_input``); training draws from ``generator``, or
    takes them given (``drawn``: this process's part of ``Augmentation.draw_for`` of the whole batch)."""
    return INPUT_KINDS[kind](images, train=train, generator=generator, drawn=drawn)


def memory_format() -> torch.memory_format:
    """The layout every network runs in, training and evaluation, in either precision: channels-last,
    the layout oneDNN's convolutions run fastest in, bfloat16 (AMX) and float32 alike (on an AVX2-only
    CPU, float32 training steps of 32 faces took 0.72x / 0.91x / 0.74x the contiguous layout's time for
    SqueezeNet / MobileNetV2 / ResNet50, and a forward pass 0.65x (SqueezeNet) and 0.86x (ResNet50))."""
    return torch.channels_last


def crop_matrix(box: Box) -> np.ndarray:
    """The 2x3 matrix taking a photo's pixel coordinates to those of its cached 129x129 face
    (``preprocess`` with this ``box``): the enlarged, rounded box's corner to the origin, the
    resize (pixel centres kept: x' + 0.5 = (x + 0.5) * scale), then the centre cut."""
    x1, y1, x2, y2 = (int(round(v)) for v in enlarge_box(box))
    w, h = x2 - x1, y2 - y1
    scale = SHORT_SIDE / min(w, h)
    new_w, new_h = max(SHORT_SIDE, round(w * scale)), max(SHORT_SIDE, round(h * scale))
    sx, sy = new_w / w, new_h / h
    left, top = (new_w - SHORT_SIDE) // 2, (new_h - SHORT_SIDE) // 2
    return np.array([[sx, 0.0, (0.5 - x1) * sx - 0.5 - left], [0.0, sy, (0.5 - y1) * sy - 0.5 - top]])


def to_display(x: torch.Tensor) -> np.ndarray:
    """The inverse of ``to_input``'s normalisation: uint8 [N, 3, H, W], to look at."""
    return (x * STD + MEAN).round().clamp(0, 255).to(torch.uint8).numpy()
