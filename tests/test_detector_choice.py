"""The face detector is chosen per request on every surface: `detector=` in Python, --detector on
the command line, X-FaceLedger-Detector in Rekognition's protocol, Detector in the REST API; an
unknown name is refused before any work."""

from __future__ import annotations

import pytest
from conftest import OBAMA_PORTRAIT
from http_server import admin_clients, running_app

from faceledger import FaceLedger
from faceledger.errors import InvalidParameterException
from faceledger.server.app import Settings
from faceledger.vision.detectors import DETECTORS


@pytest.fixture
def fl(tmp_path):
    with FaceLedger(home=tmp_path / "home") as engine:
        engine.create_collection(CollectionId="people")
        yield engine


@pytest.mark.slow  # a second detector on a full-size portrait
def test_every_image_operation_takes_a_detector(fl):
    other = next(name for name in DETECTORS if name != fl.default_detector)
    indexed = fl.index_faces(CollectionId="people", Image=OBAMA_PORTRAIT, detector=other).to_dict()
    assert len(indexed["FaceRecords"]) == 1
    hits = fl.search_faces_by_image(CollectionId="people", Image=OBAMA_PORTRAIT, detector=other).to_dict()
    assert hits["FaceMatches"]
    assert fl.detect_faces(Image=OBAMA_PORTRAIT, detector=other).to_dict()["FaceDetails"]


@pytest.mark.parametrize(
    "call",
    [
        lambda fl: fl.index_faces(CollectionId="people", Image=OBAMA_PORTRAIT, detector="nope"),
        lambda fl: fl.search_faces_by_image(CollectionId="people", Image=OBAMA_PORTRAIT, detector="nope"),
        lambda fl: fl.search_users_by_image(CollectionId="people", Image=OBAMA_PORTRAIT, detector="nope"),
        lambda fl: fl.start_face_detection(Video=str(OBAMA_PORTRAIT), detector="nope"),
        lambda fl: list(fl.index_folder("people", OBAMA_PORTRAIT.parent, detector="nope")),
    ],
)
def test_an_unknown_detector_is_refused_before_any_work(fl, call):
    with pytest.raises(InvalidParameterException, match="detector"):
        call(fl)
    assert fl.list_faces(CollectionId="people").to_dict()["Faces"] == []


def test_a_video_job_keeps_its_detector(fl):
    job = fl.start_face_detection(Video=str(OBAMA_PORTRAIT), detector="cnn")["JobId"]
    assert fl.video_jobs.row(job).request.count('"Detector": "cnn"') == 1
    plain = fl.start_face_detection(Video=str(OBAMA_PORTRAIT))["JobId"]
    assert "Detector" not in fl.video_jobs.row(plain).request  # a request without it stays as it was


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_app(Settings(home=str(tmp_path_factory.mktemp("detectors")), warm_up=False)) as (url, app):
        yield admin_clients(url, app)


@pytest.mark.slow  # a second detector on a full-size portrait
def test_the_rekognition_protocol_takes_a_detector_header(service):
    rek = service.rek

    def choose(name):
        def hook(request, **_):
            request.headers["X-FaceLedger-Detector"] = name

        return hook

    for name, ok in (("cnn", True), ("nope", False)):
        hook = choose(name)
        rek.meta.events.register("before-sign.rekognition.DetectFaces", hook)
        try:
            if ok:
                assert len(rek.detect_faces(Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})["FaceDetails"]) == 1
            else:
                with pytest.raises(rek.exceptions.InvalidParameterException, match="detector"):
                    rek.detect_faces(Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})
        finally:
            rek.meta.events.unregister("before-sign.rekognition.DetectFaces", hook)


@pytest.mark.slow  # a second detector on a full-size portrait
def test_the_rest_api_takes_a_detector_member(service):
    files = {"Image": ("a.jpg", OBAMA_PORTRAIT.read_bytes(), "image/jpeg")}
    r = service.rest.post("/detect-faces", files=files, data={"Detector": "cnn"})
    assert r.status_code == 200 and len(r.json()["FaceDetails"]) == 1, r.text
    r = service.rest.post("/detect-faces", files=files, data={"Detector": "nope"})
    assert r.status_code == 400 and r.json()["Code"] == "InvalidParameterException"
    spec = service.rest.get("/../openapi.json").json()
    form = spec["paths"]["/v1/collections/{CollectionId}/faces"]["post"]["requestBody"]["content"]
    assert "Detector" in form["multipart/form-data"]["schema"]["properties"]
