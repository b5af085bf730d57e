"""Face attributes from the converted models: Rekognition's shapes, sense on known faces, and
what happens when the models are missing."""

from __future__ import annotations

import io

import pytest
from conftest import BIDEN, COLLINS, OBAMA_PORTRAIT, OBAMA_SPEECH, jpeg_bytes, needs_models
from PIL import Image, ImageOps

from faceledger import FaceLedger
from faceledger.errors import InvalidParameterException, ResourceNotReadyException
from faceledger.vision import model_store


@pytest.fixture(scope="module")
def fl(tmp_path_factory):
    return FaceLedger(home=tmp_path_factory.mktemp("attrs"))


def _detail(fl, image, attributes=("ALL",)):
    data = image if isinstance(image, bytes) else image.read_bytes()
    response = fl.detect_faces(Image={"Bytes": data}, Attributes=list(attributes)).to_dict()
    return response, response["FaceDetails"][0]


@needs_models
@pytest.mark.parametrize(
    "photo, gender, age", [(OBAMA_PORTRAIT, "Male", 47), (BIDEN, "Male", 67), (COLLINS, "Female", 40)]
)
def test_all_gives_age_gender_emotions_smile_gaze(fl, photo, gender, age):
    response, d = _detail(fl, photo)
    assert d["Gender"]["Value"] == gender and 50 <= d["Gender"]["Confidence"] <= 100
    # Ages on the day: Obama 47 (2009 portrait), Biden 67 (2010), Collins about 40 (NASA portrait, 1990s)
    assert d["AgeRange"]["Low"] - 12 <= age <= d["AgeRange"]["High"] + 12
    assert d["AgeRange"]["Low"] <= d["AgeRange"]["High"]
    types = [e["Type"] for e in d["Emotions"]]
    assert sorted(types) == sorted(["ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM"])
    confidences = [e["Confidence"] for e in d["Emotions"]]
    assert confidences == sorted(confidences, reverse=True) and sum(confidences) == pytest.approx(
        100, abs=0.1
    )
    assert isinstance(d["Smile"]["Value"], bool) and 50 <= d["Smile"]["Confidence"] <= 100
    assert abs(d["EyeDirection"]["Yaw"]) < 25 and abs(d["EyeDirection"]["Pitch"]) < 25
    # Attributes without a model are named, with the reason, not invented.
    missing = {m["Attribute"] for m in response["FaceLedger"]["UnavailableAttributes"]}
    assert missing == {"BEARD", "EYEGLASSES", "FACE_OCCLUDED", "MUSTACHE", "SUNGLASSES"}
    assert not missing & set(k.upper() for k in d)


@needs_models
def test_official_portrait_smiles():
    fl = FaceLedger()
    _, d = _detail(fl, OBAMA_PORTRAIT, ["SMILE"])
    assert d["Smile"]["Value"] is True


@needs_models
def test_many_faces_each_get_their_own_attributes(fl):
    # 16 faces: more than one model batch, so the batches must be put back together in order
    face = Image.open(OBAMA_PORTRAIT).convert("RGB").crop((300, 80, 700, 480)).resize((160, 160))
    collins = Image.open(COLLINS).convert("RGB").crop((140, 0, 360, 220)).resize((160, 160))
    grid = Image.new("RGB", (640, 640), "white")
    for i in range(16):
        grid.paste(collins if i % 5 == 0 else face, (160 * (i % 4), 160 * (i // 4)))
    response = fl.detect_faces(Image={"Bytes": jpeg_bytes(grid)}, Attributes=["GENDER"]).to_dict()
    details = response["FaceDetails"]
    assert len(details) == 16
    for d in details:
        col, row = (
            int((d["BoundingBox"]["Left"] + d["BoundingBox"]["Width"] / 2) * 4),
            int((d["BoundingBox"]["Top"] + d["BoundingBox"]["Height"] / 2) * 4),
        )
        assert d["Gender"]["Value"] == ("Female" if (4 * row + col) % 5 == 0 else "Male"), (
            row,
            col,
            d["Gender"],
        )


@needs_models
def test_eye_direction_mirrors_with_the_picture(fl):
    im = Image.open(OBAMA_SPEECH)
    _, d = _detail(fl, jpeg_bytes(im), ["EYE_DIRECTION"])
    _, m = _detail(fl, jpeg_bytes(ImageOps.mirror(im)), ["EYE_DIRECTION"])
    assert m["EyeDirection"]["Yaw"] == pytest.approx(-d["EyeDirection"]["Yaw"], abs=4)
    assert m["EyeDirection"]["Pitch"] == pytest.approx(d["EyeDirection"]["Pitch"], abs=4)


@needs_models
def test_only_the_attributes_asked_for(fl):
    response, d = _detail(fl, OBAMA_PORTRAIT, ["AGE_RANGE"])
    assert "AgeRange" in d and not {"Gender", "Emotions", "Smile", "EyeDirection", "EyesOpen"} & set(d)
    assert "FaceLedger" not in response
    response, d = _detail(fl, OBAMA_PORTRAIT, ["DEFAULT"])
    assert not {"AgeRange", "Gender", "Emotions"} & set(d)
    response, _ = _detail(fl, OBAMA_PORTRAIT, ["SUNGLASSES", "GENDER"])
    assert [m["Attribute"] for m in response["FaceLedger"]["UnavailableAttributes"]] == ["SUNGLASSES"]


def test_without_models_the_response_says_which_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELEDGER_MODELS", str(tmp_path / "none"))
    fl = FaceLedger(home=tmp_path / "home")
    response, d = _detail(fl, OBAMA_PORTRAIT)
    assert "EyesOpen" in d and not {"AgeRange", "Gender", "Emotions", "Smile", "EyeDirection"} & set(d)
    reasons = {m["Attribute"]: m["Reason"] for m in response["FaceLedger"]["UnavailableAttributes"]}
    assert {"AGE_RANGE", "GENDER", "EMOTIONS", "SMILE", "EYE_DIRECTION", "BEARD"} <= set(reasons)
    assert "faceledger models install" in reasons["AGE_RANGE"]
    with pytest.raises(ResourceNotReadyException, match="models install"):
        fl.detect_liveness(Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})


@needs_models
def test_damaged_model_is_refused(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "models"
    shutil.copytree(model_store.models_dir(), root, ignore=shutil.ignore_patterns(".install.lock"))
    path = model_store.current_set(root) / "onnx" / "emotion.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setenv("FACELEDGER_MODELS", str(root))
    with pytest.raises(model_store.ModelsUnavailable, match="does not match its manifest"):
        model_store.onnx_path("emotion")
    response, d = _detail(FaceLedger(home=tmp_path / "home"), OBAMA_PORTRAIT, ["EMOTIONS", "GENDER"])
    assert "Gender" in d and "Emotions" not in d
    assert response["FaceLedger"]["UnavailableAttributes"][0]["Attribute"] == "EMOTIONS"


@needs_models
def test_damaged_manifest_is_reported_not_a_crash(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "models"
    shutil.copytree(model_store.models_dir(), root, ignore=shutil.ignore_patterns(".install.lock"))
    manifest = model_store.current_set(root) / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])
    monkeypatch.setenv("FACELEDGER_MODELS", str(root))
    assert model_store.installed() is None
    with pytest.raises(model_store.ModelsUnavailable, match="damaged"):
        model_store.onnx_path("faceres")
    response, _ = _detail(FaceLedger(home=tmp_path / "home"), OBAMA_PORTRAIT, ["GENDER"])
    assert "damaged" in response["FaceLedger"]["UnavailableAttributes"][0]["Reason"]


def _tiny_package(tmp_path) -> bytes:
    """A package tarball holding one tiny TF.js graph model (y = relu(x)), as npm would pack it."""
    import json
    import tarfile

    model = {
        "format": "graph-model",
        "weightsManifest": [],
        "modelTopology": {
            "node": [
                {
                    "name": "x",
                    "op": "Placeholder",
                    "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "3"}]}}},
                },
                {"name": "y", "op": "Relu", "input": ["x"]},
            ]
        },
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            ("package/models/tiny.json", json.dumps(model).encode()),
            ("package/models/tiny.bin", b""),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_an_install_that_dies_half_way_leaves_the_old_models_in_use(tmp_path, monkeypatch):
    from faceledger.vision import tfjs_onnx

    package = _tiny_package(tmp_path)
    tgz = tmp_path / "package.tgz"
    tgz.write_bytes(package)
    monkeypatch.setattr(model_store, "INTEGRITY", model_store._integrity(package))
    monkeypatch.setattr(
        model_store, "MODELS", {"tiny": model_store.ModelInfo("tiny", "relu", "test", "none", "nothing")}
    )
    monkeypatch.setattr(model_store, "ALTERNATIVES", ())
    root = tmp_path / "models"
    model_store.install(root, tarball=tgz, progress=lambda m: None)
    first = model_store.current_set(root)
    assert model_store.onnx_path("tiny", root).is_file()

    def dies(*_a, **_k):
        raise KeyboardInterrupt  # as a kill in the middle of converting

    monkeypatch.setattr(tfjs_onnx, "convert_files", dies)
    with pytest.raises(KeyboardInterrupt):
        model_store.install(root, tarball=tgz, progress=lambda m: None)
    assert model_store.current_set(root) == first and model_store.onnx_path("tiny", root).is_file()
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("set-")) == [first.name]


# -- liveness -----------------------------------------------------------------------------------


@needs_models
def test_liveness_of_real_photos(fl):
    for photo in (OBAMA_PORTRAIT, BIDEN, COLLINS):
        r = fl.detect_liveness(Image={"Bytes": photo.read_bytes()}).to_dict()
        live = r["Faces"][0]["Liveness"]
        assert live["Live"] is True, (photo.name, live)
        assert live["Score"] == pytest.approx(min(live["RealFace"], live["LiveCapture"]))
    with pytest.raises(InvalidParameterException):
        fl.detect_liveness(Image={"Bytes": OBAMA_PORTRAIT.read_bytes()}, LivenessThreshold=101)


@needs_models
def test_index_faces_leaves_out_faces_below_the_liveness_bar(fl):
    fl.create_collection(CollectionId="live")
    data = {"Bytes": OBAMA_PORTRAIT.read_bytes()}
    r = fl.index_faces(CollectionId="live", Image=data, liveness_threshold=100).to_dict()
    assert not r["FaceRecords"] and r["UnindexedFaces"][0]["Reasons"] == ["LOW_FACE_QUALITY"]
    assert (
        len(fl.index_faces(CollectionId="live", Image=data, liveness_threshold=1).to_dict()["FaceRecords"])
        == 1
    )
    # The collection's policy holds for every caller, whatever the request says.
    fl.put_collection_policy(CollectionId="live", Policy={"MinLiveness": 100})
    r = fl.index_faces(CollectionId="live", Image=data, liveness_threshold=1).to_dict()
    assert r["UnindexedFaces"][0]["Reasons"] == ["LOW_FACE_QUALITY"]
    with pytest.raises(InvalidParameterException, match="MinLiveness"):
        fl.put_collection_policy(CollectionId="live", Policy={"MinLiveness": 300})


@needs_models
def test_cli_liveness_and_the_policy_bar(tmp_path, capsys, monkeypatch):
    import json

    from faceledger.cli import main

    home = str(tmp_path)
    monkeypatch.setenv("FACELEDGER_HOME", home)  # main() sets it for --home; restored after the test
    assert main(["--home", home, "detect-liveness", str(OBAMA_PORTRAIT)]) == 0
    assert json.loads(capsys.readouterr().out)["Faces"][0]["Liveness"]["Live"] is True
    assert main(["--home", home, "collections", "create", "c", "--min-liveness", "100"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "index-faces", "c", str(OBAMA_PORTRAIT), "--liveness-threshold", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["UnindexedFaces"][0]["Reasons"] == ["LOW_FACE_QUALITY"]
