"""The ledger: every comparison and change is an entry, the chain verifies, and editing,
deleting, reordering or cutting entries is found, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from conftest import OBAMA_PORTRAIT, OBAMA_SPEECH
from sqlalchemy import delete, select, update

from faceledger import FaceLedger
from faceledger.accountability.ledger import acting
from faceledger.store.catalog import ledger as ledger_table


@pytest.fixture
def fl(tmp_path, database_url):
    engine = FaceLedger(home=tmp_path, database_url=database_url)
    yield engine
    engine.close()


def _ops(fl: FaceLedger) -> list[str]:
    return [e["Operation"] for e in fl.list_ledger()["Entries"]]


def test_operations_are_recorded_with_who_why_and_what(fl):
    fl.create_collection(CollectionId="c")
    face = fl.index_faces(CollectionId="c", Image=OBAMA_PORTRAIT, ExternalImageId="obama").to_dict()[
        "FaceRecords"
    ][0]["Face"]
    with acting("FLKEY0000000000000001", purpose="find a missing person", case_id="case-7"):
        hit = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()
    fl.compare_faces(SourceImage=OBAMA_PORTRAIT, TargetImage=OBAMA_SPEECH)
    fl.delete_faces(CollectionId="c", FaceIds=[face["FaceId"]])
    assert _ops(fl) == ["CreateCollection", "IndexFaces", "SearchFacesByImage", "CompareFaces", "DeleteFaces"]
    search = fl.list_ledger(Operation="SearchFacesByImage")["Entries"][0]
    assert search["Actor"] == "FLKEY0000000000000001"
    assert (search["Purpose"], search["CaseId"]) == ("find a missing person", "case-7")
    assert search["ProbeSha256"] and search["Threshold"] == pytest.approx(75.9)
    assert search["Detail"]["Matches"][0]["FaceId"] == face["FaceId"]
    assert search["Detail"]["CollectionSize"] == 1
    # the response says the same, and which entry records it
    ext = hit["FaceLedger"]
    assert ext["LedgerSeq"] == search["Seq"] and ext["ExpectedFalseCandidates"] == pytest.approx(
        ext["FalseMatchRate"]
    )
    assert fl.list_ledger(CaseId="case-7")["Entries"] == [search]
    assert "embedding" not in str(search).lower()
    assert fl.verify_ledger()["Intact"]


def _tamper(fl: FaceLedger, statement) -> dict:
    with fl.catalog.write() as conn:
        conn.execute(statement)
    return dict(fl.verify_ledger())


def _five_entries(fl: FaceLedger) -> None:
    for i in range(5):
        fl.create_collection(CollectionId=f"c{i}")
    assert fl.verify_ledger()["Entries"] == 5


def test_an_edited_entry_is_found(fl):
    _five_entries(fl)
    result = _tamper(fl, update(ledger_table).where(ledger_table.c.seq == 3).values(actor="someone-else"))
    assert not result["Intact"] and result["FirstBadSeq"] == 3 and "edited" in result["Reason"]


def test_a_deleted_entry_is_found(fl):
    _five_entries(fl)
    result = _tamper(fl, delete(ledger_table).where(ledger_table.c.seq == 2))
    assert not result["Intact"] and result["FirstBadSeq"] == 2 and "missing" in result["Reason"]


def test_reordered_entries_are_found(fl):
    _five_entries(fl)
    with fl.catalog.read() as conn:
        two, four = (
            conn.execute(select(ledger_table).where(ledger_table.c.seq == s)).first()._mapping for s in (2, 4)
        )
    swap = {k: v for k, v in four.items() if k != "seq"}, {k: v for k, v in two.items() if k != "seq"}
    with fl.catalog.write() as conn:
        conn.execute(update(ledger_table).where(ledger_table.c.seq == 2).values(**swap[0]))
        conn.execute(update(ledger_table).where(ledger_table.c.seq == 4).values(**swap[1]))
    result = dict(fl.verify_ledger())
    assert not result["Intact"] and result["FirstBadSeq"] == 2


def test_a_cut_or_rewritten_end_is_found_against_a_recorded_head(fl):
    _five_entries(fl)
    seq, digest = fl.ledger.head()
    assert fl.verify_ledger(HeadSeq=seq, HeadHash=digest)["Intact"]
    assert _tamper(fl, delete(ledger_table).where(ledger_table.c.seq == 5))[
        "Intact"
    ]  # a cut end alone looks whole
    cut = fl.verify_ledger(HeadSeq=seq, HeadHash=digest)  # hence the recorded head
    assert cut["Intact"] is False and "end" in cut["Reason"]


def test_concurrent_writers_keep_one_chain(fl):
    errors = []

    def work(i):
        try:
            fl.create_collection(CollectionId=f"t{i}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    result = fl.verify_ledger()
    assert result["Intact"] and result["Entries"] == 16


@pytest.mark.slow
def test_cli_ledger_verify_show_and_export(tmp_path):
    import csv
    import json
    import subprocess
    import sys
    from pathlib import Path

    bin_ = Path(sys.executable).parent / "faceledger"

    def run(*a):
        return subprocess.run(
            [str(bin_), "--home", str(tmp_path), *a], capture_output=True, text=True, timeout=120
        )

    assert run("collections", "create", "x").returncode == 0
    assert run("collections", "create", "y").returncode == 0
    ok = run("ledger", "verify")
    assert ok.returncode == 0 and "intact" in ok.stderr
    shown = run("ledger", "show")
    assert "CreateCollection" in shown.stdout
    lines = [json.loads(line) for line in run("ledger", "export", "--collection", "y").stdout.splitlines()]
    assert [e["CollectionId"] for e in lines] == ["y"]
    out = tmp_path / "ledger.csv"
    assert run("ledger", "export", "--format", "csv", "-o", str(out)).returncode == 0
    assert len(list(csv.DictReader(out.open()))) == 2
    head = json.loads(run("ledger", "head").stdout)
    engine = FaceLedger(home=tmp_path)
    with engine.catalog.write() as conn:
        conn.execute(update(ledger_table).where(ledger_table.c.seq == 1).values(collection_id="z"))
    engine.close()
    bad = run("ledger", "verify", "--head", f"{head['HeadSeq']}:{head['HeadHash']}")
    assert bad.returncode == 3 and "NOT intact" in bad.stderr and "entry 1" in bad.stderr
