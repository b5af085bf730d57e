"""Make the converter's golden fixtures: TF.js's own CPU backend runs each model on a face crop.

Run once by hand (needs node and `npm install` in this folder; the models come from
`faceledger models install`):  python tools/golden/make_golden.py [MODELS_NPM_DIR]
Writes tests/data/golden/<model>.npz for the attribute models: the uint8 input, how it maps to
float32, and the outputs; and tests/data/golden/detectors/<model>.npz for the face detectors,
run on three faces of the public-domain test photos on a grey canvas: the graph models'
outputs (FaceBoxes': its network's outputs, anchors, decoded boxes and the faces its own NMS
kept), and face-api.js's own code's raw outputs and faces for its two detectors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# model: (input height/width, channels, scale, offset); scale a power of two, offset an integer
MODELS = {
    "faceres": (224, 3, 1.0, 0),
    "emotion": (64, 1, 1 / 128, -1),
    "antispoof": (128, 3, 1 / 256, 0),
    "liveness": (32, 3, 1 / 256, 0),
    "iris": (64, 3, 1 / 256, 0),
    "gear": (198, 3, 1 / 256, 0),
    "age": (64, 3, 1 / 256, 0),
    "facemesh": (192, 3, 1 / 256, 0),
}

# Detector graph models: (width, height) of the group picture they see, and the input's mapping.
DETECTOR_GRAPHS = {
    "blazeface-back": ((256, 256), 1 / 128, -1),
    "blazeface-front": ((128, 128), 1 / 128, -1),
    "facemesh-detection-short": ((128, 128), 1 / 128, -1),
    "facemesh-detection-full": ((192, 192), 1 / 128, -1),
}
# FaceBoxes takes uint8 pixels; its graph pads, scales, runs the network, decodes and runs NMS.
FACEBOXES_SIZE = (512, 256)
FACEBOXES_OUTPUTS = [
    "reshaping/concat",  # box encodings
    "postprocessing/Softmax",  # background, face
    "concatenate/clip_by_value",  # anchors
    "scores",  # after decoding and NMS
    "boxes",
    "num_boxes",
]
# Outputs not kept (to keep the fixtures small): the full-range model's second head (people).
LEFT_OUT = {"facemesh-detection-full": ["output:Identity_1"]}
# face-api networks: (spec name, weights manifest, input side, options for locateFaces)
FACEAPI = {
    "ssd-mobilenetv1": ("ssdMobilenetv1", "ssd_mobilenetv1_model", 512, {"minConfidence": 0.5}),
    "tiny-face-detector": (
        "tinyFaceDetector",
        "tiny_face_detector_model",
        416,
        {"inputSize": 416, "scoreThreshold": 0.5},
    ),
}


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def face_crop() -> np.ndarray:
    img = rgb(ROOT / "tests/data/obama_official_portrait.jpg")
    h, w = img.shape[:2]
    return img[int(h * 0.12) : int(h * 0.62), int(w * 0.22) : int(w * 0.78)]


def group_picture(width: int, height: int) -> np.ndarray:
    """Obama, Biden and Collins side by side on grey (as tests/conftest.py's group photo), each
    face about a fifth to a quarter of the picture's width."""
    data = ROOT / "tests/data"
    crops = [
        rgb(data / "obama_official_portrait.jpg")[40:510, 250:720],
        rgb(data / "biden_blue_room_crop.jpg")[130:630, 330:830],
        rgb(data / "astronaut_eileen_collins.png")[20:200, 130:310],
    ]
    canvas = np.full((height, width, 3), 200, np.uint8)
    side = min(int(width * 0.3), int(height * 0.8))
    for i, crop in enumerate(crops):
        face = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        x = int(width * (0.02 + 0.33 * i))
        y = (height - side) // 2 + (i - 1) * int(height * 0.05)
        canvas[y : y + side, x : x + side] = face
    return canvas


def _read_outputs(work: Path, key: str) -> tuple[dict, dict[str, np.ndarray]]:
    info = json.loads((work / f"{key}.out.json").read_text())
    arrays = {}
    for out_name, o in info["outputs"].items():
        data = np.fromfile(work / f"{key}.{o['index']}.f32", dtype=np.float32)
        arrays["output:" + out_name.split(":")[0]] = data.reshape(o["shape"])
    return info, arrays


def _spec(work: Path, key: str, u8: np.ndarray, **spec) -> None:
    (work / f"{key}.u8").write_bytes(np.ascontiguousarray(u8).tobytes())
    (work / f"{key}.spec.json").write_text(json.dumps({"id": key, "shape": list(u8.shape), **spec}))


def main() -> None:
    from faceledger.vision.model_store import npm_models_dir

    models_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else npm_models_dir()
    faceapi_dir = npm_models_dir(package="faceapi")
    crop = face_crop()
    out_dir = ROOT / "tests/data/golden"
    det_dir = out_dir / "detectors"
    det_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        inputs = {}
        for name, (size, ch, scale, offset) in MODELS.items():
            img = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            if ch == 1:
                img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
            inputs[name] = np.ascontiguousarray(img[None], dtype=np.uint8)
            _spec(work, name, inputs[name], model=name, scale=scale, offset=offset)
        for name, ((w, h), scale, offset) in DETECTOR_GRAPHS.items():
            inputs[name] = group_picture(w, h)[None]
            _spec(work, name, inputs[name], model=name, scale=scale, offset=offset)
        inputs["faceboxes"] = group_picture(*FACEBOXES_SIZE)[None]
        _spec(
            work,
            "faceboxes",
            inputs["faceboxes"],
            model="faceboxes",
            dtype="int32",
            outputs=FACEBOXES_OUTPUTS,
        )
        for name, (net, manifest, side, options) in FACEAPI.items():
            inputs[name] = group_picture(side, side)
            _spec(
                work,
                name,
                inputs[name],
                faceapi=net,
                manifest=str(faceapi_dir / f"{manifest}-weights_manifest.json"),
                options=options,
            )
        subprocess.run(
            ["node", str(Path(__file__).with_name("golden.mjs")), str(models_dir), str(work)], check=True
        )
        for name, (_, _, scale, offset) in MODELS.items():
            _, arrays = _read_outputs(work, name)
            np.savez_compressed(
                out_dir / f"{name}.npz",
                input_u8=inputs[name],
                scale=np.float32(scale),
                offset=np.float32(offset),
                **arrays,
            )
            print(name, {k: v.shape for k, v in arrays.items()})
        for name, (_, scale, offset) in DETECTOR_GRAPHS.items():
            _, arrays = _read_outputs(work, name)
            for key in LEFT_OUT.get(name, []):
                del arrays[key]
            np.savez_compressed(
                det_dir / f"{name}.npz",
                input_u8=inputs[name],
                scale=np.float32(scale),
                offset=np.float32(offset),
                **arrays,
            )
            print(name, {k: v.shape for k, v in arrays.items()})
        _, arrays = _read_outputs(work, "faceboxes")
        np.savez_compressed(det_dir / "faceboxes.npz", input_u8=inputs["faceboxes"], **arrays)
        print("faceboxes", {k: v.shape for k, v in arrays.items()})
        for name, (_, _, _, options) in FACEAPI.items():
            info, arrays = _read_outputs(work, name)
            faces = np.array([[*f["box"], f["score"]] for f in info["faces"]], np.float64).reshape(-1, 5)
            np.savez_compressed(
                det_dir / f"{name}.npz",
                input_u8=inputs[name],
                faces_xywh_score=faces,
                options=json.dumps(options),
                **arrays,
            )
            print(name, {k: v.shape for k, v in arrays.items()}, "faces", faces.round(1).tolist())


if __name__ == "__main__":
    main()
