"""Make the converter's golden fixtures: TF.js's own CPU backend runs each model on a face crop.

Run once by hand (needs node and `npm install` in this folder; the models come from
`faceledger models install`):  python tools/golden/make_golden.py [MODELS_NPM_DIR]
Writes tests/data/golden/<model>.npz: the uint8 input, how it maps to float32, and the outputs.
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
}


def face_crop() -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(ROOT / "tests/data/obama_official_portrait.jpg")), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    return img[int(h * 0.12) : int(h * 0.62), int(w * 0.22) : int(w * 0.78)]


def main() -> None:
    from faceledger.vision.model_store import npm_models_dir

    models_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else npm_models_dir()
    crop = face_crop()
    out_dir = ROOT / "tests/data/golden"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        inputs = {}
        for name, (size, ch, scale, offset) in MODELS.items():
            img = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            if ch == 1:
                img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
            u8 = np.ascontiguousarray(img[None], dtype=np.uint8)
            inputs[name] = u8
            (work / f"{name}.u8").write_bytes(u8.tobytes())
            spec = {"model": name, "shape": list(u8.shape), "scale": scale, "offset": offset}
            (work / f"{name}.spec.json").write_text(json.dumps(spec))
        subprocess.run(
            ["node", str(Path(__file__).with_name("golden.mjs")), str(models_dir), str(work)], check=True
        )
        for name, (_, _, scale, offset) in MODELS.items():
            outs = json.loads((work / f"{name}.out.json").read_text())
            arrays = {}
            for out_name, info in outs.items():
                data = np.fromfile(work / f"{name}.{info['index']}.f32", dtype=np.float32)
                arrays["output:" + out_name.split(":")[0]] = data.reshape(info["shape"])
            np.savez_compressed(
                out_dir / f"{name}.npz",
                input_u8=inputs[name],
                scale=np.float32(scale),
                offset=np.float32(offset),
                **arrays,
            )
            print(name, {k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
    main()
