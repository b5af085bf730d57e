"""Calibration: FMR and FNMR from score counts, thresholds from a target FMR, the expected
number of false candidates, measurement over embeddings, and the fairness report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceledger.accountability import calibration, fairness, reports
from faceledger.accountability.calibration import Calibration, CalibrationError
from faceledger.vision.similarity import similarity_from_distance


@pytest.fixture
def known() -> Calibration:
    """10,000 impostor pairs: 10 at 80, 90 at 70, the rest at 30; 1,000 genuine pairs at 90."""
    impostor = np.concatenate([np.full(10, 80.0), np.full(90, 70.0), np.full(9_900, 30.0)])
    genuine = np.full(1_000, 90.0)
    return calibration.from_scores(
        genuine, impostor, name="known", description="synthetic", people=10, faces=100
    )


def test_rates_at_thresholds(known):
    assert known.fmr(80) == pytest.approx(1e-3)
    assert known.fmr(75) == pytest.approx(1e-3)
    assert known.fmr(70) == pytest.approx(1e-2)
    assert known.fmr(80.05) == pytest.approx(1e-3)  # between grid points: the bound below
    assert known.fmr(80.1) == 0.0
    assert known.fmr_upper95(80.1) == pytest.approx(3 / 10_000)  # rule of three
    assert known.fnmr(90) == 0.0 and known.fnmr(90.1) == 1.0


def test_threshold_for_a_target_fmr(known):
    assert known.threshold_for_fmr(1e-3) == pytest.approx(70.1)
    assert known.threshold_for_fmr(1e-2) == pytest.approx(30.1)
    assert known.threshold_for_fmr(5e-4) == pytest.approx(80.1)
    with pytest.raises(CalibrationError, match="cannot resolve"):
        known.threshold_for_fmr(1e-5)


def test_expected_false_candidates_is_collection_size_times_fmr(known):
    s = known.summary(80.0, collection_size=25_000)
    assert s["FalseMatchRate"] == pytest.approx(1e-3)
    assert s["ExpectedFalseCandidates"] == pytest.approx(25.0)
    assert s["CollectionSize"] == 25_000 and s["Calibration"] == "known"


def test_save_and_load(known, tmp_path):
    known.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again.fmr(70) == known.fmr(70) and again.impostor_pairs == 10_000
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(CalibrationError):
        Calibration.load(tmp_path / "bad.json")


def _people(rng, n_people: int, photos: int, spread: float, centre_scale: float = 0.45):
    """Embeddings whose people lie about centre_scale x sqrt(2) apart, photos spread x sqrt(2)."""
    centres = rng.normal(size=(n_people, 128)) * centre_scale / np.sqrt(128)
    emb = np.concatenate([c + rng.normal(size=(photos, 128)) * spread / np.sqrt(128) for c in centres])
    ids = [f"p{i}" for i in range(n_people) for _ in range(photos)]
    return emb.astype(np.float32), ids


def test_measure_counts_every_pair_once():
    rng = np.random.default_rng(0)
    emb, ids = _people(rng, 30, 4, 0.3)
    cal = calibration.measure(
        emb, ids, name="m", description="", block=7
    )  # small blocks: the seams are tested
    n = len(ids)
    assert cal.genuine_pairs == 30 * (4 * 3 // 2)
    assert cal.genuine_pairs + cal.impostor_pairs == n * (n - 1) // 2
    # the same as computing every pair directly
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    iu = np.triu_indices(n, 1)
    scores = similarity_from_distance(d[iu])
    same = np.asarray(ids)[iu[0]] == np.asarray(ids)[iu[1]]
    for t in (40.0, 60.0, 75.9):
        assert cal.fmr(t) == pytest.approx(np.mean(scores[~same] >= np.floor(t * 10) / 10), abs=1e-12)


def test_default_calibration_ships_and_says_what_it_is():
    from importlib import resources

    data = json.loads(resources.files("faceledger").joinpath("data/default_calibration.json").read_text())
    cal = Calibration.from_dict(data)
    assert cal.name == "default" and cal.impostor_pairs > 1_000_000
    assert cal.fmr(calibration.DEFAULT_SIMILARITY_THRESHOLD) <= 1e-3


def test_calibration_report_writes_page_and_plots(known, tmp_path):
    page = reports.calibration_report(known, tmp_path)
    text = page.read_text()
    assert "N &times; FMR" in text and "1M faces" in text
    assert (tmp_path / "histogram.png").stat().st_size > 1000 and (tmp_path / "det.png").stat().st_size > 1000


def test_fairness_report_finds_the_group_with_more_false_matches(tmp_path):
    rng = np.random.default_rng(1)
    a, ids_a = _people(rng, 25, 3, 0.25, centre_scale=0.5)  # people far apart: few false matches
    b, ids_b = _people(rng, 25, 3, 0.25, centre_scale=0.4)  # people alike: more false matches
    ids_b = [f"b{i}" for i in ids_b]
    emb = np.concatenate([a, b])
    ids = ids_a + ids_b
    groups_file = tmp_path / "groups.csv"
    groups_file.write_text(
        "identity,group\n" + "".join(f"{i},{'A' if not i.startswith('b') else 'B'}\n" for i in set(ids))
    )
    groups = fairness.read_groups(groups_file)
    threshold = 60.0
    report = fairness.evaluate(emb, ids, groups, threshold)
    by = {g.group: g for g in report.groups}
    assert by["B"].fmr > by["A"].fmr
    assert by["B"].fmr_ratio is not None and by["B"].fmr_ratio >= 1.0
    reports.fairness_report(report, tmp_path)
    assert "Error rates by group" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "det_by_group.png").exists()
    with pytest.raises(ValueError):
        fairness.evaluate(emb, ids, {"nobody": "X"}, threshold)


@pytest.mark.slow
def test_cli_calibrate_a_folder_and_a_pairs_file_then_evaluate(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from conftest import BIDEN, COLLINS, OBAMA_PORTRAIT, OBAMA_SPEECH

    data = tmp_path / "people"
    for who, photos in {
        "obama": [OBAMA_PORTRAIT, OBAMA_SPEECH],
        "biden": [BIDEN],
        "collins": [COLLINS],
    }.items():
        (data / who).mkdir(parents=True)
        for i, p in enumerate(photos):
            shutil.copy(p, data / who / f"{i}{p.suffix}")
    bin_ = Path(sys.executable).parent / "faceledger"
    home = tmp_path / "home"

    def run(*a):
        return subprocess.run(
            [str(bin_), "--home", str(home), *a], capture_output=True, text=True, timeout=300
        )

    done = run(
        "calibrate", str(data), "-o", str(tmp_path / "cal"), "--name", "tiny", "--install", "--workers", "1"
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["GenuinePairs"], out["ImpostorPairs"]) == (1, 5)
    assert (tmp_path / "cal" / "report.html").exists() and (home / "calibration.json").exists()
    from faceledger import FaceLedger

    assert (
        FaceLedger(home=home)
        .compare_faces(SourceImage=OBAMA_PORTRAIT, TargetImage=OBAMA_SPEECH)
        .to_dict()["FaceLedger"]["Calibration"]
        == "tiny"
    )

    pairs = data / "pairs.csv"
    pairs.write_text(
        "fold,path1,path2,same\n1,obama/0.jpg,obama/1.jpg,1\n1,obama/0.jpg,biden/0.jpg,0\n1,biden/0.jpg,collins/0.png,0\n"
    )
    done = run("calibrate", str(pairs), "-o", str(tmp_path / "cal2"), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["GenuinePairs"], json.loads(done.stdout)["ImpostorPairs"]) == (1, 2)
    one_person = tmp_path / "one"
    (one_person / "obama").mkdir(parents=True)
    shutil.copy(OBAMA_PORTRAIT, one_person / "obama" / "a.jpg")
    refused = run("calibrate", str(one_person), "-o", str(tmp_path / "cal3"), "--workers", "1")
    assert refused.returncode == 1 and "InvalidParameterException" in refused.stderr

    groups = tmp_path / "groups.csv"
    groups.write_text("identity,group\nobama,men\nbiden,men\ncollins,women\n")
    report = run(
        "evaluate", str(data), "--groups", str(groups), "-o", str(tmp_path / "fair"), "--workers", "1"
    )
    # "women" holds one person only: no impostor pair in the group, so the report says why it cannot be made
    assert report.returncode == 1 and "women" in report.stderr
    groups.write_text("identity,group\nobama,everyone\nbiden,everyone\ncollins,everyone\n")
    report = run(
        "evaluate", str(data), "--groups", str(groups), "-o", str(tmp_path / "fair"), "--workers", "1"
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["Groups"][0]["ImpostorPairs"] == 5
    assert (tmp_path / "fair" / "report.html").exists() and (tmp_path / "fair" / "det_by_group.png").exists()
