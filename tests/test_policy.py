"""Collection policies, human review, retention and erasure, through the engine and the CLI
(the HTTP surfaces are tested in test_http_*.py)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BIDEN, OBAMA_PORTRAIT, OBAMA_SPEECH

from faceledger import FaceLedger
from faceledger.accountability.ledger import acting
from faceledger.errors import ConflictException, InvalidParameterException


@pytest.fixture
def fl(tmp_path):
    engine = FaceLedger(home=tmp_path)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def obama_prepared():
    return FaceLedger(home="/nonexistent-unused")._prepare_index_faces(OBAMA_PORTRAIT, MaxFaces=1)


def test_policy_is_set_at_creation_and_changed_later(fl):
    fl.create_collection(CollectionId="c", policy={"RequirePurpose": True, "MinThreshold": 90})
    assert fl.get_collection_policy(CollectionId="c")["Policy"]["RequirePurpose"] is True
    changed = fl.put_collection_policy(CollectionId="c", Policy={"RetentionDays": 30})["Policy"]
    assert changed["RetentionDays"] == 30 and changed["MinThreshold"] == 90  # the rest stays
    for bad in (
        {"MinThreshold": 120},
        {"MaxFalseMatchRate": 2},
        {"RetentionDays": 0},
        {"Nope": 1},
        {"RequireReview": "yes"},
    ):
        with pytest.raises(InvalidParameterException):
            fl.put_collection_policy(CollectionId="c", Policy=bad)
    assert [e["Operation"] for e in fl.list_ledger(CollectionId="c")["Entries"]] == [
        "CreateCollection",
        "PutCollectionPolicy",
    ]


def test_searches_that_break_the_policy_are_refused(fl, obama_prepared):
    fl.create_collection(
        CollectionId="c", policy={"RequirePurpose": True, "RequireCase": True, "MinThreshold": 90}
    )
    face_id = fl._store_indexed_faces("c", obama_prepared).face_records[0].face.face_id
    with pytest.raises(InvalidParameterException, match="purpose and a case"):
        fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH)
    with acting("tester", purpose="audit", case_id="k1"):
        with pytest.raises(InvalidParameterException, match="at least 90"):
            fl.search_faces(CollectionId="c", FaceId=face_id, FaceMatchThreshold=80)
        result = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()
    assert result["FaceLedger"]["Threshold"] == 90  # the default is raised to the floor
    refused = [e for e in fl.list_ledger()["Entries"] if e["Operation"].startswith("Search")]
    assert len(refused) == 1  # refusals answer before anything is searched


def test_threshold_as_a_target_false_match_rate(fl, obama_prepared):
    fl.create_collection(CollectionId="c")
    fl._store_indexed_faces("c", obama_prepared)
    with acting(max_fmr=1e-5):
        result = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()["FaceLedger"]
    assert result["Threshold"] == pytest.approx(fl.calibration.threshold_for_fmr(1e-5))
    assert result["FalseMatchRate"] <= 1e-5
    with acting(max_fmr=1e-12), pytest.raises(InvalidParameterException, match="cannot resolve"):
        fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH)
    fl.put_collection_policy(CollectionId="c", Policy={"MaxFalseMatchRate": 1e-4})
    with pytest.raises(InvalidParameterException, match="false match rate"):
        fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH, FaceMatchThreshold=70)


def test_two_different_reviewers_confirm_a_match(fl, obama_prepared):
    fl.create_collection(CollectionId="c", policy={"RequireReview": True})
    fl._store_indexed_faces("c", obama_prepared, "obama")
    with acting("investigator"):
        found = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()
    review = found["FaceLedger"]["Review"]
    assert review["Status"] == "PENDING_REVIEW" and len(review["CandidateIds"]) == 1
    cid = review["CandidateIds"][0]
    assert fl.list_identifications()["Identifications"] == []  # not an identification yet
    with acting("reviewer-a"):
        assert fl.review_candidate(CandidateId=cid, Decision="CONFIRM")["Candidate"]["Status"] == "PENDING"
        with pytest.raises(ConflictException, match="another reviewer"):
            fl.review_candidate(CandidateId=cid, Decision="CONFIRM")
    with acting("reviewer-b"):
        done = fl.review_candidate(CandidateId=cid, Decision="CONFIRM", Note="same mole")["Candidate"]
    assert done["Status"] == "CONFIRMED" and [d["Reviewer"] for d in done["Decisions"]] == [
        "reviewer-a",
        "reviewer-b",
    ]
    assert [i["CandidateId"] for i in fl.list_identifications()["Identifications"]] == [cid]
    with acting("reviewer-c"), pytest.raises(ConflictException, match="already CONFIRMED"):
        fl.review_candidate(CandidateId=cid, Decision="REJECT")
    decisions = fl.list_ledger(Operation="ReviewCandidate")["Entries"]
    assert [(e["Actor"], e["Detail"]["Status"]) for e in decisions] == [
        ("reviewer-a", "PENDING"),
        ("reviewer-b", "CONFIRMED"),
    ]


def test_independent_review_keeps_the_searcher_out(fl, obama_prepared):
    fl.create_collection(CollectionId="c", policy={"RequireReview": True})
    fl._store_indexed_faces("c", obama_prepared, "obama")
    with acting("investigator"):
        first = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()["FaceLedger"][
            "Review"
        ]["CandidateIds"][0]
        # Without the member the searcher may be one of the two reviewers (the default rule).
        assert fl.review_candidate(CandidateId=first, Decision="CONFIRM")["Candidate"]["Status"] == "PENDING"
    policy = fl.put_collection_policy(CollectionId="c", Policy={"IndependentReview": True})["Policy"]
    assert policy["IndependentReview"] is True and policy["RequireReview"] is True
    with acting("investigator"):
        second = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()["FaceLedger"][
            "Review"
        ]["CandidateIds"][0]
        with pytest.raises(ConflictException, match="requires independent review"):
            fl.review_candidate(CandidateId=second, Decision="CONFIRM")
    for who in ("reviewer-a", "reviewer-b"):
        with acting(who):
            status = fl.review_candidate(CandidateId=second, Decision="CONFIRM")["Candidate"]["Status"]
    assert status == "CONFIRMED"
    with pytest.raises(InvalidParameterException, match="IndependentReview"):
        fl.put_collection_policy(CollectionId="c", Policy={"IndependentReview": "yes"})


def test_one_rejection_ends_a_candidate(fl, obama_prepared):
    fl.create_collection(CollectionId="c", policy={"RequireReview": True})
    fl._store_indexed_faces("c", obama_prepared)
    cid = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()["FaceLedger"]["Review"][
        "CandidateIds"
    ][0]
    with acting("a"):
        fl.review_candidate(CandidateId=cid, Decision="CONFIRM")
    with acting("b"):
        assert fl.review_candidate(CandidateId=cid, Decision="REJECT")["Candidate"]["Status"] == "REJECTED"
    assert fl.list_review_candidates(Status="REJECTED")["Candidates"][0]["CandidateId"] == cid
    assert fl.list_review_candidates()["Candidates"] == []


def test_retention_sweep_with_a_fake_clock(fl, obama_prepared):
    fl.create_collection(CollectionId="short", policy={"RetentionDays": 7})
    fl.create_collection(CollectionId="forever")
    old = fl._store_indexed_faces("short", obama_prepared).face_records[0].face.face_id
    fl._store_indexed_faces("forever", obama_prepared)
    assert fl.run_retention()["FacesDeleted"] == 0  # nothing is 7 days old yet
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    swept = fl.run_retention(now=later)
    assert swept["FacesDeleted"] == 1 and swept["Collections"] == [
        {"CollectionId": "short", "FacesDeleted": 1}
    ]
    assert fl.describe_collection(CollectionId="short")["FaceCount"] == 0
    assert fl.describe_collection(CollectionId="forever")["FaceCount"] == 1
    entry = fl.list_ledger(Operation="RetentionSweep")["Entries"][0]
    assert entry["Detail"]["FaceIds"] == [old]


def test_erasure_leaves_no_embedding_in_catalog_or_index(fl, tmp_path, obama_prepared):
    fl.create_collection(CollectionId="c", policy={"KeepImages": True})
    biden = fl.index_faces(CollectionId="c", Image=BIDEN, ExternalImageId="biden", MaxFaces=1).to_dict()
    fl.index_faces(CollectionId="c", Image=OBAMA_PORTRAIT, ExternalImageId="obama", MaxFaces=1)
    fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH)  # the index is built
    fl.close()  # and written to disk
    vector = obama_prepared[0].embedding.astype(np.float32).tobytes()
    files = lambda: [p for p in tmp_path.rglob("*") if p.is_file()]  # noqa: E731
    assert any(vector in p.read_bytes() for p in files())
    from sqlalchemy import func, select

    from faceledger.store.catalog import face_images

    def kept_images():
        with fl.catalog.read() as conn:
            return conn.execute(select(func.count()).select_from(face_images)).scalar()

    assert kept_images() == 2  # the policy keeps source images
    erased = fl.erase(CollectionId="c", ExternalImageId="obama")
    assert len(erased["DeletedFaces"]) == 1
    assert kept_images() == 1  # Obama's photo went with his face
    fl.close()
    assert not [p.name for p in files() if vector in p.read_bytes()]  # no file keeps it
    assert fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()["FaceMatches"] == []
    assert fl.describe_collection(CollectionId="c")["FaceCount"] == 1  # Biden stays
    entry = fl.list_ledger(Operation="Erase")["Entries"][0]
    assert entry["Detail"]["ExternalImageId"] == "obama" and entry["Detail"]["Count"] == 1
    assert biden["FaceRecords"]
    with pytest.raises(InvalidParameterException):
        fl.erase(CollectionId="c")


@pytest.mark.slow
def test_cli_policy_purpose_review_and_retention(tmp_path):
    bin_ = Path(sys.executable).parent / "faceledger"

    def run(*a):
        return subprocess.run(
            [str(bin_), "--home", str(tmp_path), *a], capture_output=True, text=True, timeout=300
        )

    assert run("collections", "create", "watch", "--require-purpose", "--require-review").returncode == 0
    assert run("index-faces", "watch", str(OBAMA_PORTRAIT), "--external-image-id", "obama").returncode == 0
    refused = run("search-faces-by-image", "watch", str(OBAMA_SPEECH))
    assert refused.returncode == 1 and "requires a purpose" in refused.stderr
    found = run(
        "search-faces-by-image", "watch", str(OBAMA_SPEECH), "--purpose", "door check", "--fmr", "1e-4"
    )
    assert found.returncode == 0, found.stderr
    ext = json.loads(found.stdout)["FaceLedger"]
    cid = ext["Review"]["CandidateIds"][0]
    assert run("review", "confirm", str(cid), "--reviewer", "ann").returncode == 0
    again = run("review", "confirm", str(cid), "--reviewer", "ann")
    assert again.returncode == 1 and "ConflictException" in again.stderr
    assert run("review", "confirm", str(cid), "--reviewer", "bob").returncode == 0
    ids = json.loads(run("review", "identifications").stdout)["Identifications"]
    assert [i["CandidateId"] for i in ids] == [cid]
    policy = json.loads(run("policy", "watch", "--retention-days", "1").stdout)["Policy"]
    assert policy["RetentionDays"] == 1 and policy["RequireReview"] is True
    assert json.loads(run("retention", "run").stdout)["FacesDeleted"] == 0
    assert json.loads(run("erase", "watch", "--external-image-id", "obama").stdout)["DeletedFaces"]


def test_review_fixes_policy_limits_and_group_photo_erasure(fl, group_photo):
    with pytest.raises(InvalidParameterException, match="36500"):
        fl.create_collection(CollectionId="x", policy={"RetentionDays": 800_000})
    with pytest.raises(InvalidParameterException, match="resolve"):
        fl.create_collection(CollectionId="x", policy={"MaxFalseMatchRate": 1e-12})
    with pytest.raises(InvalidParameterException):
        fl.run_retention(now=dt.datetime(2030, 1, 1))  # a time without a zone
    fl.create_collection(CollectionId="g", policy={"KeepImages": True})
    indexed = fl.index_faces(CollectionId="g", Image=group_photo, ExternalImageId="group").to_dict()
    assert len(indexed["FaceRecords"]) >= 2
    first = indexed["FaceRecords"][0]["Face"]["FaceId"]
    fl.create_user(CollectionId="g", UserId="u")
    fl.associate_faces(CollectionId="g", UserId="u", FaceIds=[first])
    from sqlalchemy import func, select

    from faceledger.store.catalog import face_images

    def images():
        with fl.catalog.read() as conn:
            return conn.execute(select(func.count()).select_from(face_images)).scalar()

    assert images() == 1
    fl.erase(CollectionId="g", UserId="u")
    assert images() == 0  # the group photo shows the erased person: it goes, though others remain
    assert fl.describe_collection(CollectionId="g")["FaceCount"] == len(indexed["FaceRecords"]) - 1
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).astimezone(
        dt.timezone(dt.timedelta(hours=5))
    )
    assert fl.list_ledger(Since=an_hour_ago.isoformat())[
        "Entries"
    ]  # offsets are compared as times, not as text
    assert not fl.list_ledger(Until=an_hour_ago.isoformat())["Entries"]
