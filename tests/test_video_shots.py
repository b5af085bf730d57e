"""Shot cuts and identity checks in video tracks: a face after a cut, or a face that turns into
someone else at the same place, never inherits the match of the face before it."""

from __future__ import annotations

import pytest
from conftest import OBAMA_PORTRAIT
from videos import CUT_AT, camera_move, compose, face_swap, stage_to_audience, two_people

from faceledger import FaceLedger
from faceledger.video import shots
from faceledger.video.decode import sampled_frames
from faceledger.video.track import Tracker

pytestmark = pytest.mark.slow  # video decoding and analysis

SMALL = (320, 180)  # faces of 90 px: found at every sample, and a clip is analysed in about a second


@pytest.fixture(scope="module")
def fl(tmp_path_factory):
    engine = FaceLedger(home=tmp_path_factory.mktemp("shots-home"))
    engine.create_collection(CollectionId="obama")
    engine.index_faces(CollectionId="obama", Image=OBAMA_PORTRAIT, ExternalImageId="obama", MaxFaces=1)
    yield engine
    engine.close()


def search(fl: FaceLedger, clip) -> list[dict]:
    job = fl.start_face_search(Video=str(clip), CollectionId="obama")["JobId"]
    assert fl.video_jobs.claim("test", 60) == job
    assert fl.video_jobs.run(job, workers=1) == "SUCCEEDED"
    return fl.get_face_search(JobId=job)["Persons"]


def names(person: dict) -> set[str]:
    return {m["Face"]["ExternalImageId"] for m in person["FaceMatches"]}


def cuts(clip) -> list[int]:
    """Timestamps of the samples that start a new shot."""
    found, previous = [], None
    for ts, rgb in sampled_frames(clip, 5.0):
        signature = shots.signature(rgb)
        if shots.is_cut(previous, signature):
            found.append(ts)
        previous = signature
    return found


@pytest.mark.parametrize("cut_background", [False, True], ids=["same-background", "new-background"])
def test_no_match_is_carried_across_a_cut(fl, tmp_path, cut_background):
    appearances, background = face_swap(SMALL, cut_background=cut_background)
    clip = compose(tmp_path / "cut.mp4", appearances, background=background, size=SMALL)
    persons = search(fl, clip)
    before = [p for p in persons if p["Timestamp"] < CUT_AT * 1000]
    after = [p for p in persons if p["Timestamp"] >= CUT_AT * 1000]
    assert len(before) == 10 and len(after) == 10  # one face in every sample
    assert all(names(p) == {"obama"} for p in before)
    assert [p["Timestamp"] for p in after if p["FaceMatches"]] == []
    assert not {p["Person"]["Index"] for p in before} & {p["Person"]["Index"] for p in after}


def test_a_hard_cut_is_found_and_motion_is_not_a_cut(tmp_path):
    stage = compose(tmp_path / "stage.mp4", [], background=stage_to_audience(SMALL), size=SMALL)
    assert cuts(stage) == [CUT_AT * 1000]
    appearances, background = face_swap(SMALL, cut_background=True)
    assert cuts(compose(tmp_path / "swap.mp4", appearances, background=background, size=SMALL)) == [
        CUT_AT * 1000
    ]
    # a face moving right and growing, another coming and going; a camera zooming x2.5 and panning
    assert cuts(compose(tmp_path / "two.mp4", two_people())) == []
    assert cuts(compose(tmp_path / "camera.mp4", [], background=camera_move(SMALL), size=SMALL)) == []


def test_a_face_that_turns_into_another_person_splits_its_track(fl, tmp_path):
    fade = 1.0
    appearances, background = face_swap(SMALL, fade=fade)
    clip = compose(tmp_path / "fade.mp4", appearances, background=background, size=SMALL)
    assert cuts(clip) == []  # only the face changes: the tracks are split by re-verifying faces
    persons = search(fl, clip)
    before = [p for p in persons if p["Timestamp"] < (CUT_AT - fade) * 1000]
    after = [p for p in persons if p["Timestamp"] >= CUT_AT * 1000]
    assert len(before) == 5 and len(after) == 10
    assert all(names(p) == {"obama"} for p in before)
    assert [p["Timestamp"] for p in after if p["FaceMatches"]] == []
    assert not {p["Person"]["Index"] for p in before} & {p["Person"]["Index"] for p in after}


def test_a_cut_ends_every_track():
    tracker = Tracker()
    box = (0.4, 0.2, 0.2, 0.3)
    (first,) = tracker.update([box])
    assert tracker.update([box]) == [first]
    tracker.cut()
    (second,) = tracker.update([box])
    assert second is not first and [t.index for t in tracker.tracks] == [0, 1]
    third = tracker.split(second)
    assert third.index == 2 and tracker.update([box]) == [third]
