"""Faces in the web page, in real headless Chromium against a real `vidseek serve`: the People view (crops,
renaming), a person's moments in the player, and "find this person" from a photo, on a real clip with a face.

The clip is read in place from ../shared/media (VIDSEEK_MEDIA_ROOTS), never copied; only the title, face
and dna routes are indexed, so no image-text model is needed. Screenshots go to $VIDSEEK_TEST_ARTIFACTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.dnautil import frame_at
from tests.serverutil import Server
from tests.test_web import WAIT, Page, new_driver

pytestmark = pytest.mark.browser

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402  (test_web skipped if absent)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "shared" / "media" / "demo"
# a woman facing the camera for 12 s. (askanything_jesse_dance.mp4's face, ~80 px of 1280, is too small for the
# index-time detector, which scans frames shrunk to 640 px.)
CLIP = "videollama_silence_girl.mp4"
PHOTO_AT = 4.5  # seconds: between the 1 fps samples the index saw




def _face_photo(path: Path, t: float, out: Path) -> Path:
    """The largest face of the frame at `t`, with a margin, enlarged and saved as a JPEG."""
    from vidseek.analyze.faces import FaceModel

    image = frame_at(path, t)
    faces = FaceModel().detect_photo(image)
    assert faces, f"no face at {t} s in {path.name}"
    x0, y0, x1, y1 = (int(b) for b in max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).box)
    w, h = x1 - x0, y1 - y0
    crop = image[max(0, y0 - h // 2) : y1 + h // 2, max(0, x0 - w // 2) : x1 + w // 2]
    Image.fromarray(crop).resize((crop.shape[1] * 3 // 2, crop.shape[0] * 3 // 2)).save(out, "JPEG", quality=80)
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A single-user server whose library "people" holds a clip of one face, indexed with faces."""
    if not (DEMO / CLIP).is_file():
        pytest.skip("../shared/media is not beside the checkout")
    pytest.importorskip("dlib", reason="the face route needs dlib (pip install -e '.[faces]')")
    root = tmp_path_factory.mktemp("web-people")
    photo = _face_photo(DEMO / CLIP, PHOTO_AT, root / "face.jpg")
    gray = root / "gray.jpg"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(gray, "JPEG")
    env = {"VIDSEEK_MEDIA_ROOTS": str(DEMO), "VIDSEEK_ROUTES": "title,face,dna",
           "VIDSEEK_VISUAL_MODEL": str(root / "none")}
    with Server(root / "data", env) as server, server.client() as api:
        lib = api.post("/api/libraries", json={"name": "people"})
        assert lib.status_code == 201, lib.text
        added = api.post(f"/api/libraries/{lib.json()['id']}/videos", json={"root": DEMO.name, "path": CLIP})
        assert added.status_code == 202, added.text
        jobs = server.wait_jobs(None)
        assert jobs and all(j["state"] == "done" for j in jobs), (jobs, server.log.read_text()[-3000:])
        videos = api.get(f"/api/libraries/{lib.json()['id']}/videos").json()
        assert videos[0]["routes"]["face"]["state"] == "done", videos
        people = api.get("/api/people").json()
        assert people, "the clip's face was not found"
        yield {"server": server, "video": videos[0]["id"], "people": people, "photo": photo, "gray": gray}


@pytest.fixture(scope="module")
def browser() -> Iterator:
    driver = new_driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def page(site: dict, browser) -> Iterator[Page]:
    p = Page(browser, site["server"].url)
    p.console()  # drop what earlier tests left
    yield p
    p.check_console()


def _loaded(page: Page, css: str) -> bool:
    return page.js("const i = document.querySelector(arguments[0]); return !!i && i.complete && i.naturalWidth > 0",
                   css)


def _choose_face_photo(page: Page, photo: Path) -> None:
    """Choose a photo in the search box, then switch it from "looks like this" to "find this person"."""
    page.find("#image-input").send_keys(str(photo))
    page.visible("#image-chip")
    page.wait_idle()
    assert page.find("#mode-image").get_attribute("aria-pressed") == "true"  # a photo starts as "looks like this"
    page.visible("#mode-face").click()
    assert page.find("#mode-face").get_attribute("aria-pressed") == "true"
    assert "finding this person" in page.find("#image-what").text
    page.wait_idle()


# tests -----------------------------------------------------------------------------------------------------------
def test_people_view_shows_face_crops_and_a_rename_survives_a_reload(page: Page, site: dict):
    top = site["people"][0]
    page.open("#/people")
    page.visible("#people-grid .person-card")
    assert page.find("#nav-people").get_attribute("aria-current") is not None
    card = f'#people-grid .person-card[data-person-id="{top["id"]}"]'
    page.wait_for(lambda _: _loaded(page, f"{card} img.person-crop"), "the face crop never loaded")
    assert page.find(f"{card} img.person-crop").get_attribute("alt").startswith("Face of")
    text = page.find(card).text
    assert "1 video" in text and f"{top['faces']} moment" in text, text
    if not top["name"]:
        assert "no name" in text
    page.shot("people")

    page.find(f"{card} .person-rename").click()
    box = page.visible(f"{card} .person-name-input")
    assert page.js("return document.activeElement.classList.contains('person-name-input')")
    box.send_keys("Ada <b>Test</b>", Keys.ENTER)  # markup must show as text, never as HTML
    page.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, f"{card} .person-name").text == "Ada <b>Test</b>",
                  "the new name is not shown")
    page.open("#/people")
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, f"{card} .person-name")
                  and d.find_element(By.CSS_SELECTOR, f"{card} .person-name").text == "Ada <b>Test</b>",
                  "the name did not survive a reload")
    assert not page.driver.find_elements(By.CSS_SELECTOR, f"{card} b")
    page.shot("people-renamed")
    assert page.error_banner() is None


def test_a_persons_moments_play_at_their_start(page: Page, site: dict):
    top = site["people"][0]
    page.open("#/people")
    page.visible(f'#people-grid .person-card[data-person-id="{top["id"]}"] a.person-link').click()
    page.visible("#person-moments .moment-card")
    assert page.find("#people-pane").is_displayed() is False
    cards = page.driver.find_elements(By.CSS_SELECTOR, "#person-moments .moment-card")
    assert len(cards) == top["faces"], len(cards)
    assert CLIP in cards[0].text
    page.wait_for(lambda _: _loaded(page, "#person-moments .moment-card img"), "the moment's thumbnail never loaded")
    assert "/api/faces/" in page.find("#person-moments .moment-card img").get_attribute("src")
    page.shot("person")
    start = float(cards[-1].get_attribute("data-start"))
    end = float(cards[-1].get_attribute("data-end"))
    cards[-1].click()
    page.wait_player(True, "the player never opened")
    page.wait_for(lambda d: start - 0.5 <= d.execute_script(
        "return document.getElementById('player-video').currentTime") <= end + 0.5,
        f"the player did not seek into {start}-{end}", timeout=10)
    page.visible("#copies")  # the dna route is on: the player lists the clip's copies (there are none)
    page.wait_for(lambda d: "No other video" in d.find_element(By.ID, "copies-list").text, "no copies answer")
    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait_player(False, "Escape did not close the player")
    assert page.error_banner() is None


def test_find_this_person_from_a_photo_puts_the_clip_first_with_the_face_boxed(page: Page, site: dict):
    page.open()
    _choose_face_photo(page, site["photo"])
    page.visible("#results .moment-card")
    first = page.cards()[0]
    assert first["video"] == site["video"], page.cards()
    card = page.find("#results .moment-card")
    assert card.get_attribute("data-face-id"), card.get_attribute("outerHTML")
    assert "face" in first["text"]
    src = card.find_element(By.CSS_SELECTOR, "img").get_attribute("src")
    assert "/api/faces/" in src and src.endswith("/thumbnail"), src
    page.wait_for(lambda _: _loaded(page, "#results .moment-card img"), "the boxed face thumbnail never loaded")
    page.visible("#face-box")  # the face the server searched for is boxed on the photo
    page.shot("search-face")
    assert page.error_banner() is None


def test_a_photo_without_a_face_shows_the_error_line(page: Page, site: dict):
    page.allow(r"/api/search - Failed to load resource: the server responded with a status of 400")
    page.open()
    _choose_face_photo(page, site["gray"])
    page.wait_for(lambda _: page.error_banner(), "no error shown for a photo without a face", timeout=WAIT)
    assert "no face found" in page.error_banner(), page.error_banner()
    assert "Traceback" not in page.error_banner()
    assert page.cards() == []
    page.shot("search-face-none")
