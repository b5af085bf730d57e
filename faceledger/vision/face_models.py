"""Face attribute models run with ONNX Runtime: age, gender, expressions, gaze, liveness.

Each model sees the face the way it was trained to: a square chip around dlib's box, with the
margin and (optionally) the roll correction that bench/attributes.py measured to work best,
in the colours and value range the model's authors used. Pure functions of pixels, batched
over the faces of one picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from . import model_store, onnx_sessions
from .detection import Detection


@dataclass(frozen=True)
class Chip:
    """How a model's input is cut: side = box side x (1 + 2 margin), centred on the box."""

    size: int
    margin: float
    align: bool  # turn the face upright by the eyes' roll first
    grey: bool = False
    # "rgb255": RGB 0-255 (Human's way); "caffe_bgr": BGR less ImageNet's mean pixel (the HSE authors' way)
    colour: str = "rgb255"


# Chosen by bench/attributes.py on labelled photos (see the README's figures): for FaceRes the
# authors' way (box + 25%, BGR less the mean pixel: age MAE 7.1 y against 7.6 for Human's RGB
# 0-255 upright chip, gender equal); for expressions the box + 10% unturned (balanced accuracy
# 0.48 against 0.44). The liveness models' authors say nothing of theirs: Human's way is kept.
CHIPS = {
    "faceres": Chip(224, 0.25, False, colour="caffe_bgr"),
    "emotion": Chip(64, 0.10, False, grey=True),
    "antispoof": Chip(128, 0.25, True),
    "liveness": Chip(32, 0.25, True),
}

# The emotion model's classes (FER-2013's order) and Rekognition's names for them.
EMOTION_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOTION_TYPES = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM")


def session(name: str):
    """The model's ONNX Runtime session (see onnx_sessions.py), its file checked against the manifest."""
    return onnx_sessions.session(str(model_store.onnx_path(name)))


BATCH = 8  # faces per model call: 100 faces at once would hold about 1.7 GB of activations


def _run(name: str, batch: np.ndarray) -> dict[str, np.ndarray]:
    sess = session(name)
    names = [o.name for o in sess.get_outputs()]
    parts = [
        sess.run(None, {sess.get_inputs()[0].name: batch[i : i + BATCH]}) for i in range(0, len(batch), BATCH)
    ]
    return {n: np.concatenate([p[k] for p in parts]) for k, n in enumerate(names)}


def roll_of(p5: np.ndarray) -> float:
    """Degrees to turn the picture so that the eyes (dlib's 5 points) are level."""
    left, right = p5[[2, 3]].mean(axis=0), p5[[0, 1]].mean(axis=0)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def face_chip(rgb: np.ndarray, det: Detection, p5: np.ndarray | None, chip: Chip) -> np.ndarray:
    """The face as a size x size uint8 chip (RGB, or one grey channel)."""
    cx, cy = (det.left + det.right) / 2.0, (det.top + det.bottom) / 2.0
    side = max(det.width, det.height) * (1.0 + 2.0 * chip.margin)
    angle = roll_of(p5) if chip.align and p5 is not None else 0.0
    m = cv2.getRotationMatrix2D((cx, cy), angle, chip.size / side)
    m[0, 2] += chip.size / 2.0 - cx
    m[1, 2] += chip.size / 2.0 - cy
    out = cv2.warpAffine(
        rgb, m, (chip.size, chip.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if chip.grey:
        # The emotion model's authors trained on greyscale with these (ITU-R 601) weights.
        out = np.clip(out.astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32), 0, 255)[
            ..., None
        ]
    return out


_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def _batch(
    rgb: np.ndarray, faces: list[tuple[Detection, np.ndarray | None]], name: str, chip: Chip | None = None
) -> np.ndarray:
    chip = chip or CHIPS[name]
    x = np.stack([face_chip(rgb, det, p5, chip) for det, p5 in faces]).astype(np.float32)
    if chip.colour == "caffe_bgr":
        x = x[..., ::-1] - _CAFFE_MEAN_BGR
    return np.ascontiguousarray(x)


@dataclass(frozen=True)
class AgeGender:
    age: float  # the expected age under the model's distribution
    low: int
    high: int
    male: float  # probability the face looks male, with the cut below moved to 0.5


# The age model's 10-90% span is scaled about its mean (narrowed: it held 90% of true ages) so
# that it held 80% of them on labelled photos (bench/attributes.py).
AGE_RANGE_QUANTILES = (0.10, 0.90)
AGE_RANGE_SCALE = (
    0.78  # measured for the FaceRes chip above: 80% of 678 LFW photos of 241 people, 23 y wide on average
)
AGE_OFFSET = 1.0  # the model's class i is age i + 1, as its authors decode it
# Called male above this model output rather than 0.5: of the cuts measured (0.4-0.7) the one
# whose larger error rate of the two groups is least (women misread 4.6% and men 2.7% on 1,935
# faces, against 11.2% and 0.4% at 0.5), at the same overall accuracy (96.8% against 96.8%).
GENDER_CUT = 0.7


def _shift(p: float, cut: float) -> float:
    """p moved in log-odds so that `cut` becomes 0.5: the model's output read against the cut."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    z = math.log(p / (1 - p)) - math.log(cut / (1 - cut))
    return 1.0 / (1.0 + math.exp(-z))


def age_gender_raw(
    rgb: np.ndarray, faces: list[tuple[Detection, np.ndarray | None]], chip: Chip | None = None
):
    """(age distributions over 0-99, probabilities of looking male) as the model gives them."""
    out = _run("faceres", _batch(rgb, faces, "faceres", chip))
    return out["age_pred/Softmax"], out["gender_pred/Sigmoid"][:, 0]


def age_gender(rgb: np.ndarray, faces: list[tuple[Detection, np.ndarray | None]]) -> list[AgeGender]:
    if not faces:
        return []
    probs, male = age_gender_raw(rgb, faces)
    ages = np.arange(probs.shape[1], dtype=np.float64)
    result = []
    for p, m in zip(probs.astype(np.float64), male):
        p = p / p.sum()
        mean = float(p @ ages) + AGE_OFFSET
        cdf = np.cumsum(p)
        lo = float(np.searchsorted(cdf, AGE_RANGE_QUANTILES[0])) + AGE_OFFSET
        hi = float(np.searchsorted(cdf, AGE_RANGE_QUANTILES[1])) + AGE_OFFSET
        lo, hi = mean - (mean - lo) * AGE_RANGE_SCALE, mean + (hi - mean) * AGE_RANGE_SCALE
        result.append(
            AgeGender(
                age=mean,
                low=max(0, int(math.floor(lo))),
                high=int(math.ceil(hi)),
                male=_shift(float(m), GENDER_CUT),
            )
        )
    return result


def emotions(
    rgb: np.ndarray, faces: list[tuple[Detection, np.ndarray | None]], chip: Chip | None = None
) -> list[dict[str, float]]:
    """Rekognition's emotion types with the model's probabilities (0-1), per face."""
    if not faces:
        return []
    x = _batch(rgb, faces, "emotion", chip) / 255.0
    probs = _run("emotion", ((x - 0.5) * 2.0).astype(np.float32))["Identity"]  # [-1, 1], as the authors
    return [dict(zip(EMOTION_TYPES, map(float, p))) for p in probs]


@dataclass(frozen=True)
class Liveness:
    real: float  # antispoof: probability the face is a real photo, not made or edited by computer
    live: float  # liveness: probability of a live capture rather than a replayed recording

    @property
    def score(self) -> float:
        """0-100: the weaker of the two, since either kind of attack should fail the face."""
        return 100.0 * min(self.real, self.live)


LIVE_INDEX = 0  # its "live" class: averages 0.70 on 193 real photos of the development set, the other 0.30


def liveness(rgb: np.ndarray, faces: list[tuple[Detection, np.ndarray | None]]) -> list[Liveness]:
    if not faces:
        return []
    real = _run("antispoof", _batch(rgb, faces, "antispoof") / 255.0)["Identity"][:, 0]
    live = _run("liveness", _batch(rgb, faces, "liveness") / 255.0)["Identity"][:, LIVE_INDEX]
    return [Liveness(real=float(r), live=float(v)) for r, v in zip(real, live)]


# -- gaze ---------------------------------------------------------------------------------------

IRIS_INPUT = 64
IRIS_ENLARGE = 2.3  # eye box: the corners' span enlarged, as MediaPipe's iris pipeline does
# Eyeball radius over the corner-to-corner eye width (about 12 mm over 30 mm in adults).
EYEBALL_OVER_WIDTH = 0.4
# Where the iris centre sits, in eye widths below the corners' line, when the eyes look ahead:
# the median over 289 faces of the development set looking at or near the camera.
NEUTRAL_ACROSS = -0.083


@dataclass(frozen=True)
class Gaze:
    yaw: float  # degrees, > 0 towards the image's left edge (as the head pose's Yaw)
    pitch: float  # degrees, > 0 up
    irises: tuple[np.ndarray, np.ndarray]  # iris centres in picture pixels (image-left eye, image-right eye)


def _eye_chip(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 64x64 crop around the eye whose corners are a and b, upright; and its inverse map."""
    centre = (a + b) / 2.0
    d = b - a
    angle = math.degrees(math.atan2(d[1], d[0]))
    side = float(np.linalg.norm(d)) * IRIS_ENLARGE
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, IRIS_INPUT / side)
    m[0, 2] += IRIS_INPUT / 2.0 - centre[0]
    m[1, 2] += IRIS_INPUT / 2.0 - centre[1]
    if flip:  # the model reads the subject's right eye; the left one is mirrored to look like it
        m = np.array([[-1.0, 0.0, IRIS_INPUT], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    chip = cv2.warpAffine(
        rgb, m, (IRIS_INPUT, IRIS_INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return chip, cv2.invertAffineTransform(m)


MIN_EYE_WIDTH = 4.0  # pixels between an eye's corners below which its iris cannot be read


def gaze_readable(p68: np.ndarray) -> bool:
    return (
        min(float(np.linalg.norm(p68[39] - p68[36])), float(np.linalg.norm(p68[45] - p68[42])))
        >= MIN_EYE_WIDTH
    )


def gaze(rgb: np.ndarray, p68s: list[np.ndarray]) -> list[Gaze]:
    """Eye direction relative to the head, from where each iris sits between its eye's corners.
    Every face must be `gaze_readable`."""
    if not p68s:
        return []
    chips, inverses = [], []
    for p in p68s:
        # dlib 36/39: image-left eye's outer/inner corners; 42/45: image-right eye's inner/outer.
        for a, b, flip in ((p[36], p[39], False), (p[42], p[45], True)):
            chip, inv = _eye_chip(rgb, a, b, flip)
            chips.append(chip)
            inverses.append(inv)
    out = _run("iris", np.stack(chips).astype(np.float32) / 255.0)["Identity"].reshape(len(chips), -1, 3)
    result = []
    for i, p in enumerate(p68s):
        yaws, pitches, centres = [], [], []
        for j, (a, b) in enumerate(((p[36], p[39]), (p[42], p[45]))):
            k = 2 * i + j
            iris = out[k, 71, :2]  # point 71: the iris centre, in chip pixels
            centre = inverses[k] @ np.array([iris[0], iris[1], 1.0])
            centres.append(centre)
            width = float(np.linalg.norm(b - a))
            axis = (b - a) / width
            normal = np.array([-axis[1], axis[0]])  # points down the picture for an upright face
            offset = centre - (a + b) / 2.0 - NEUTRAL_ACROSS * width * normal
            radius = EYEBALL_OVER_WIDTH * width
            # Offsets along the eye's axis turn the eye left/right, across it up/down.
            yaws.append(-math.degrees(math.asin(max(-1.0, min(1.0, float(offset @ axis) / radius)))))
            pitches.append(-math.degrees(math.asin(max(-1.0, min(1.0, float(offset @ normal) / radius)))))
        result.append(
            Gaze(yaw=float(np.mean(yaws)), pitch=float(np.mean(pitches)), irises=(centres[0], centres[1]))
        )
    return result
