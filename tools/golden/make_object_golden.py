"""Make the object detectors' golden fixtures, for tests/test_object_models.py: TF.js's own CPU
backend runs NanoDet and CenterNet's whole graphs on a picture of tests/data/objects, fed the
input vision/objects.py's square() and *_input() make of it (its SHA-256 is kept, so that a
test knows it rebuilt the very same input).

Run once by hand (needs node and `npm install` in this folder; the models come from
`faceledger models install`):  python tools/golden/make_object_golden.py [MODELS_NPM_DIR]
Writes tests/data/golden/objects/<model>.npz. To stay small (a few hundred KB) each keeps slices
of the raw heads ONNX computes (some rows of each), plus what the graph itself makes of them:
NanoDet's stride-32 scores and distributions, CenterNet's 100 decoded detections.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from faceledger.vision import model_store, objects  # noqa: E402

# model: (picture, graph outputs to keep, {output: rows kept (start, stop) or None for all})
NANODET_HEADS = model_store.HEADS["nanodet"][1]
CENTERNET_HEADS = model_store.HEADS["centernet"][1]
SPECS = {
    "nanodet": (
        "coffee.jpg",
        # the heads (strides 8, 16, 32), then the graph's own stride-32 scores and distributions
        [*NANODET_HEADS, "Identity_2", "Identity_5"],
        {NANODET_HEADS[0]: (24, 26), NANODET_HEADS[1]: (12, 14)},
    ),
    "centernet": (
        "chelsea.jpg",
        [*CENTERNET_HEADS, "tower_0/detections"],
        {name: (60, 62) for name in CENTERNET_HEADS},
    ),
}


def model_input(model: str, picture: Path) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(picture)), cv2.COLOR_BGR2RGB)
    if model == "nanodet":
        return objects.nanodet_input(objects.square(rgb, objects.NANODET_SIDE))
    return objects.centernet_input(objects.square(rgb, objects.CENTERNET_SIDE))


def main() -> None:
    models_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else model_store.npm_models_dir()
    out_dir = ROOT / "tests/data/golden/objects"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        inputs = {}
        for model, (picture, outputs, _) in SPECS.items():
            x = np.ascontiguousarray(model_input(model, ROOT / "tests/data/objects" / picture), np.float32)
            inputs[model] = x
            (work / f"{model}.f32in").write_bytes(x.tobytes())
            spec = {"id": model, "model": model, "input": "f32", "shape": list(x.shape), "outputs": outputs}
            (work / f"{model}.spec.json").write_text(json.dumps(spec))
        subprocess.run(
            ["node", str(Path(__file__).with_name("golden.mjs")), str(models_dir), str(work)], check=True
        )
        for model, (picture, _, rows) in SPECS.items():
            info = json.loads((work / f"{model}.out.json").read_text())
            arrays = {}
            for name, o in info["outputs"].items():
                data = np.fromfile(work / f"{model}.{o['index']}.f32", np.float32).reshape(o["shape"])
                span = rows.get(name)
                key = "output:" + name
                if span is not None:
                    data = data[:, span[0] : span[1]]
                    arrays["rows:" + name] = np.array(span)
                arrays[key] = data
            np.savez_compressed(
                out_dir / f"{model}.npz",
                picture=picture,
                input_sha256=hashlib.sha256(inputs[model].tobytes()).hexdigest(),
                **arrays,
            )
            size = (out_dir / f"{model}.npz").stat().st_size
            print(model, {k: v.shape for k, v in arrays.items()}, f"{size // 1024} KB")


if __name__ == "__main__":
    main()
