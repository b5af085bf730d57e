"""The command line: JSON on stdout, drawn results, folders in parallel that report bad files and go on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from conftest import BIDEN, COLLINS, OBAMA_PORTRAIT, OBAMA_SPEECH
from PIL import Image

from faceledger.cli import main


def test_help_is_instant_and_loads_no_model():
    code = "import sys, faceledger.cli as c; c.build_parser(); print('dlib' in sys.modules, 'numpy' in sys.modules)"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_detect_faces_prints_rekognition_json_and_draws(tmp_path, capsys):
    out = tmp_path / "drawn.png"
    assert main(["detect-faces", str(OBAMA_PORTRAIT), "--draw", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["FaceDetails"]) == 1
    drawn = Image.open(out)
    assert drawn.size == (910, 1137)


def test_compare_faces_prints_matches_and_draws(tmp_path, capsys):
    out = tmp_path / "pair.png"
    assert main(["compare-faces", str(OBAMA_PORTRAIT), str(OBAMA_SPEECH), "--draw", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["FaceMatches"]) == 1
    assert Image.open(out).size[0] > Image.open(out).size[1]  # side by side


def test_errors_go_to_stderr_with_their_type(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not really a jpeg")
    assert main(["detect-faces", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "InvalidImageFormatException" in captured.err


def test_folder_runs_on_two_processes_and_goes_on_past_bad_files(tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(OBAMA_PORTRAIT, folder / "a_obama.jpg")
    shutil.copy(BIDEN, folder / "nested" / "b_biden.jpg")
    shutil.copy(COLLINS, folder / "c_collins.png")
    (folder / "d_truncated.jpg").write_bytes(OBAMA_SPEECH.read_bytes()[:5000])
    Image.new("RGB", (100, 100)).save(folder / "e_animation.gif")
    (folder / "notes.txt").write_text("not an image, not looked at")
    drawn = tmp_path / "drawn"

    code = main(["detect-faces", str(folder), "--workers", "2", "--draw", str(drawn)])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1  # some files failed
    assert [line["Image"].split("/")[-1] for line in lines] == [
        "a_obama.jpg",
        "c_collins.png",
        "d_truncated.jpg",
        "e_animation.gif",
        "b_biden.jpg",
    ]
    by_name = {line["Image"].split("/")[-1]: line for line in lines}
    assert len(by_name["a_obama.jpg"]["FaceDetails"]) == 1
    assert len(by_name["b_biden.jpg"]["FaceDetails"]) == 1
    assert by_name["d_truncated.jpg"]["Error"]["Code"] == "InvalidImageFormatException"
    assert by_name["e_animation.gif"]["Error"]["Code"] == "InvalidImageFormatException"
    assert "5 images" in captured.err and "2 failed" in captured.err
    assert (drawn / "a_obama.png").exists() and (drawn / "nested" / "b_biden.png").exists()


def test_bad_attribute_from_the_command_line(capsys):
    assert main(["detect-faces", str(OBAMA_PORTRAIT), "--attributes", "EVERYTHING"]) == 1
    assert "InvalidParameterException" in capsys.readouterr().err


def test_collections_index_search_and_users_from_the_command_line(tmp_path, capsys):
    home = ["--home", str(tmp_path / "home")]

    def run(*argv) -> dict:
        assert main([*home, *argv]) == 0
        return json.loads(capsys.readouterr().out)

    assert run("collections", "create", "people")["StatusCode"] == 200
    folder = tmp_path / "enrol"
    (folder / "us").mkdir(parents=True)
    shutil.copy(OBAMA_PORTRAIT, folder / "us" / "obama portrait.jpg")
    shutil.copy(BIDEN, folder / "biden.jpg")
    (folder / "broken.png").write_bytes(COLLINS.read_bytes()[:3000])
    assert main([*home, "index-faces", "people", str(folder), "--workers", "2"]) == 1  # one file failed
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line.get("FaceRecords", [{}])[0].get("Face", {}).get("ExternalImageId") for line in lines] == [
        "biden.jpg",
        None,
        "us:obama_portrait.jpg",
    ]
    assert "2 faces indexed, 1 failed" in captured.err

    assert run("collections", "describe", "people")["FaceCount"] == 2
    drawn = tmp_path / "search.png"
    found = run("search-faces-by-image", "people", str(OBAMA_SPEECH), "--draw", str(drawn))
    assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["us:obama_portrait.jpg"]
    assert drawn.exists()
    obama_id = found["FaceMatches"][0]["Face"]["FaceId"]

    run("users", "create", "people", "--user-id", "barack")
    assert (
        run("users", "associate", "people", "--user-id", "barack", "--face-ids", obama_id)["UserStatus"]
        == "ACTIVE"
    )
    users = run("users", "search-by-image", "people", "--image", str(OBAMA_SPEECH))
    assert [m["User"]["UserId"] for m in users["UserMatches"]] == ["barack"]
    assert [f["FaceId"] for f in run("list-faces", "people", "--user-id", "barack")["Faces"]] == [obama_id]
    assert run("collections", "list")["CollectionIds"] == ["people"]

    biden_id = lines[0]["FaceRecords"][0]["Face"]["FaceId"]
    assert run("delete-faces", "people", biden_id)["DeletedFaces"] == [biden_id]
    assert run("search-faces", "people", obama_id)["FaceMatches"] == []
    assert main([*home, "collections", "describe", "nobody"]) == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err
