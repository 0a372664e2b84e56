"""The web page in real headless Chromium, against a real `vidseek serve` (Milvus Lite, Whisper, a tiny CLIP).

Needs Debian's `chromium` and `chromium-driver` (no browser download happens: the driver is named
explicitly, so Selenium Manager stays out of it). Screenshots of each step are written to
$VIDSEEK_TEST_ARTIFACTS (default: test-artifacts/ at the repository root).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.serverutil import Server, make_key
from tests.tinyclip import draw_shape
from vidseek.media.synth import AudioClip, Scene, Shape, make_video, speak

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
if not CHROMIUM or not CHROMEDRIVER:
    pytest.skip("the web tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="the web tests drive Chromium with selenium")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
WAIT = 30  # seconds for any wait on the page
SPEECH = "The lighthouse keeper repairs the old lamp every winter."
GREY = (128, 128, 128)


def artifacts() -> Path:
    folder = Path(os.environ.get("VIDSEEK_TEST_ARTIFACTS", "test-artifacts"))
    folder = folder if folder.is_absolute() else REPO / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--autoplay-policy=no-user-gesture-required", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class Page:
    """One browser tab on one server, with the helpers the tests share.

    Console errors are checked after each test; `allow(pattern)` accepts SEVERE entries the test causes
    on purpose (e.g. the 415 of a refused upload).
    """

    def __init__(self, driver, url: str):
        self.driver, self.url = driver, url
        self.allowed: list[str] = []

    def open(self, hash_: str = "#/search") -> None:
        """A fresh load of the page (about:blank first, so a hash-only change cannot skip the reload)."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.url}/{hash_}")
        self.wait_for(lambda d: d.execute_script(
            "return document.readyState === 'complete' && document.getElementById('loading').hidden"),
            "the page never left its loading state")

    def wait_for(self, condition, message: str = "", timeout: float = WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError(f"{message} (after {timeout} s); console: {self.console()}") from None

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def visible(self, css: str):
        return self.wait_for(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), f"{css} never became visible")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def search(self, text: str) -> None:
        box = self.visible("#q")
        box.clear()
        box.send_keys(text)
        self.find("#search-button").click()
        self.wait_idle()

    def wait_idle(self) -> None:
        """Until the current search has answered (its status no longer says Searching)."""
        self.wait_for(lambda d: d.execute_script(
            "return !document.getElementById('results').classList.contains('busy')"
            " && document.getElementById('results-status').textContent !== 'Searching…'"), "search never finished")

    def cards(self) -> list[dict]:
        return self.js("""return [...document.querySelectorAll('#results .moment-card')].map((c) => ({
            video: Number(c.dataset.videoId), start: Number(c.dataset.start), end: Number(c.dataset.end),
            index: Number(c.dataset.index), text: c.innerText}))""")

    def shot(self, name: str) -> Path:
        path = artifacts() / f"web-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def allow(self, pattern: str) -> None:
        self.allowed.append(pattern)

    def console(self) -> list[dict]:
        return self.driver.get_log("browser")

    def check_console(self) -> None:
        bad = [e for e in self.console() if e["level"] == "SEVERE"
               and not any(re.search(p, e["message"]) for p in self.allowed)]
        self.allowed.clear()
        assert not bad, f"JavaScript errors in the console: {bad}"

    def player_open(self) -> bool:
        return self.js("return document.getElementById('player').open")

    def wait_player(self, open_: bool, message: str) -> None:
        self.wait_for(lambda _: self.player_open() == open_, message)

    def error_banner(self) -> str | None:
        return self.js("const b = document.getElementById('error'); return b.hidden ? null : b.innerText")


# fixtures -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A single-user server (no keys) with library "demo": a talk (speech 4-8 s) and shapes (red circle 4-8 s)."""
    root = tmp_path_factory.mktemp("web")
    media = root / "media"
    wav = speak(SPEECH, root / "talk.wav")
    # a dark first shot (0-3 s), a grey one under the speech (3-9 s), a green one (9-12 s); moments are widened
    # to whole shots, and Whisper may put the first word a little before 4 s, so the moment should be 3-9 s
    make_video(media / "lighthouse_talk.mp4", [
        Scene(3, (20, 30, 60)), Scene(6, (90, 90, 90), shape=Shape("square", (235, 215, 30), 0.3)),
        Scene(3, (30, 80, 40)),
    ], audio=[AudioClip(4.0, wav)])
    make_video(media / "shapes.mp4", [
        Scene(4, GREY, shape=Shape("square", (30, 170, 40), 0.6, (0.5, 0.5))),
        Scene(4, GREY, shape=Shape("circle", (220, 30, 30), 0.6, (0.5, 0.5))),
        Scene(4, GREY, shape=Shape("triangle", (30, 60, 220), 0.6, (0.5, 0.5))),
    ])
    picture = Image.fromarray(draw_shape("red", "circle", np.random.default_rng(5)))
    picture.resize((256, 256), Image.NEAREST).save(root / "red_circle.png")
    upload = root / "uploads" / "harbour_walk.mp4"  # for the upload test: short, with a few spoken words
    walk = speak("Walking by the harbour.", root / "walk.wav")  # Whisper keeps the job running for a few polls
    make_video(upload, [Scene(4, (40, 90, 40))], audio=[AudioClip(0.5, walk)])
    bad = root / "uploads" / "bad.mp4"
    bad.write_text("this is a plain text file pretending to be a video\n" * 20)

    env = {"VIDSEEK_VISUAL_MODEL": str(tiny_clip_dir), "VIDSEEK_MEDIA_ROOTS": str(media)}
    with Server(root / "data", env) as server, server.client() as api:
        lib = api.post("/api/libraries", json={"name": "demo"})
        assert lib.status_code == 201, lib.text
        lib = lib.json()
        added = api.post(f"/api/libraries/{lib['id']}/videos", json={"root": media.name, "path": ""})
        assert added.status_code == 202, added.text
        jobs = server.wait_jobs(None)
        assert jobs and all(j["state"] == "done" for j in jobs), (jobs, server.log.read_text()[-3000:])
        videos = {v["name"]: v for v in api.get(f"/api/libraries/{lib['id']}/videos").json()}
        assert videos["lighthouse_talk.mp4"]["routes"]["speech"]["state"] == "done", videos
        yield {"server": server, "library": lib, "talk": videos["lighthouse_talk.mp4"]["id"],
               "shapes": videos["shapes.mp4"]["id"], "picture": root / "red_circle.png", "upload": upload, "bad": bad}


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
    browser.set_window_size(1280, 900)
    p.console()  # drop what earlier tests left
    yield p
    p.check_console()


# tests -----------------------------------------------------------------------------------------------------------
def test_spoken_words_find_the_moment_and_the_player_starts_inside_it(page: Page, site: dict):
    page.open()
    page.search("lighthouse keeper lamp")
    page.visible("#results .moment-card")
    # the card whose evidence shows the transcript (the tiny CLIP may add visual-only cards for unknown words)
    cards = [c for c in page.cards() if c["video"] == site["talk"] and "lighthouse keeper" in c["text"].lower()]
    assert cards, page.cards()
    card = cards[0]
    assert card["start"] >= 2.0, card  # the talk starts at 4 s: a moment at 0 would prove nothing about seeking
    page.shot("search-speech")

    page.find(f'#results .moment-card[data-index="{card["index"]}"]').click()
    page.wait_player(True, "the player never opened")
    page.wait_for(lambda d: d.execute_script(
        "const v = document.getElementById('player-video'); return v.readyState >= 1 || v.error !== null"),
        "the video never loaded its metadata")
    error = page.js("const e = document.getElementById('player-video').error; return e && [e.code, e.message]")
    assert error is None, f"Chromium cannot play the video: {error}"

    def inside(driver) -> bool:
        t = driver.execute_script("return document.getElementById('player-video').currentTime")
        return card["start"] - 0.5 <= t <= card["end"]

    page.wait_for(inside, f"currentTime never entered {card['start']}–{card['end']}", timeout=5)
    # and playback began at the moment, not at 0 (from where it would also reach the range, given time)
    played = page.js("const p = document.getElementById('player-video').played; return p.length ? p.start(0) : null")
    assert played is None or played >= card["start"] - 0.5, played
    assert page.driver.find_elements(By.CSS_SELECTOR, "#timeline .timeline-mark")
    assert page.find("#player-title").text.startswith("lighthouse_talk.mp4")
    assert not page.find("#player-message").is_displayed()
    page.shot("player")

    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait_player(False, "Escape did not close the player")
    page.wait_for(lambda _: page.js("return document.getElementById('player-video').paused"),
                  "closing the player did not pause the video")  # the dialog's close event runs a task later
    assert page.error_banner() is None


def test_search_by_image_finds_the_red_circle(page: Page, site: dict):
    page.open()
    page.find("#image-input").send_keys(str(site["picture"]))
    page.visible("#image-chip")
    page.wait_idle()
    page.visible("#results .moment-card")
    hits = [c for c in page.cards() if c["video"] == site["shapes"] and c["start"] < 8.0 and c["end"] > 4.0]
    assert hits, page.cards()
    assert page.cards()[0]["video"] == site["shapes"], page.cards()  # the best match is the shapes video
    assert "visual" in page.cards()[0]["text"]
    page.shot("search-image")
    assert page.error_banner() is None


def test_a_nonsense_word_shows_the_no_match_state(page: Page):
    # The tiny test CLIP knows 8 words and maps any other text to one <unk> embedding, which lands near some
    # shape: it "sees" every query. Search the text routes only (via Filters), as a real model would answer.
    page.open()
    page.find("#filters summary").click()
    page.visible('#route-filter input[value="visual"]').click()
    page.search("zqxjvwkp")
    assert "routes=speech%2Cocr%2Ctitle" in page.driver.current_url  # the filter is part of the shareable hash
    page.wait_for(lambda d: "No match above the cutoff" in d.find_element(By.ID, "empty").text,
                  "no empty state shown")
    assert page.cards() == []
    page.shot("no-match")
    assert page.error_banner() is None


def test_libraries_create_upload_live_progress_and_a_refused_file(page: Page, site: dict):
    page.allow(r"/uploads - Failed to load resource: the server responded with a status of 415")
    page.open("#/libraries")
    name = page.visible("#new-library-name")
    name.send_keys("uploads")
    page.find("#library-create-button").click()
    page.wait_for(lambda d: d.find_element(By.ID, "library-title").text == "uploads", "the new library is not shown")
    page.visible("#library-body")
    assert page.find("#new-library-name").get_attribute("value") == ""  # the form was reset
    # record every state a job row shows, to see the progress live rather than only the end
    page.js("""window.__jobStates = [];
        new MutationObserver(() => document.querySelectorAll('#jobs .job-row').forEach((r) =>
            window.__jobStates.push(r.dataset.state))).observe(document.getElementById('jobs'),
            {childList: true, subtree: true, attributes: true});""")

    page.find("#upload-input").send_keys(str(site["upload"]))
    page.wait_for(lambda d: d.execute_script(
        "const r = document.querySelector('#upload-list .upload-row'); return r && r.dataset.state"),
        "the upload never finished")
    assert page.find("#upload-list .upload-row").get_attribute("data-state") == "done", page.find("#upload-list").text
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, '#jobs .job-row[data-state="done"]'),
                  "the job never showed done")
    row = page.find('#jobs .job-row[data-state="done"]')
    assert "harbour_walk.mp4" in row.text and "100 %" in row.text
    seen = page.js("return window.__jobStates")
    assert {"queued", "running"} & set(seen), seen  # the row was shown while the job was still working
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, '#video-list .video-row[data-status="done"]'),
                  "the video list never showed the indexed video")
    assert "harbour_walk.mp4" in page.find('#video-list .video-row[data-status="done"]').text
    page.wait_for(lambda d: d.find_element(By.ID, "library-summary").text.startswith("1 video"),
                  "the library summary did not count the new video")
    page.shot("library-upload")

    page.find("#upload-input").send_keys(str(site["bad"]))
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, '#upload-list .upload-row[data-state="failed"]'),
                  "the refused upload shows no error")
    failed = page.find('#upload-list .upload-row[data-state="failed"]')
    assert failed.is_displayed() and "bad.mp4" in failed.text and "not a video" in failed.text, failed.text
    page.shot("library-upload-refused")
    assert len(page.driver.find_elements(By.CSS_SELECTOR, "#video-list .video-row")) == 1  # nothing was added


def test_phone_width_has_no_horizontal_scroll(page: Page):
    page.driver.set_window_size(375, 800)
    page.open()
    assert page.js("return window.innerWidth") <= 400
    page.search("lighthouse keeper lamp")
    page.visible("#results .moment-card")
    overflow = page.js("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], overflow
    page.shot("phone-search")
    page.find("#results .moment-card").click()
    page.wait_player(True, "the player never opened")
    overflow = page.js("const d = document.getElementById('player');"
                       "return [d.getBoundingClientRect().right, window.innerWidth]")
    assert overflow[0] <= overflow[1], overflow
    page.shot("phone-player")
    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait_player(False, "Escape did not close the player")
    page.open("#/libraries")
    page.visible("#library-create")
    overflow = page.js("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], overflow
    page.shot("phone-libraries")


def test_keyboard_only_search_and_play(page: Page, site: dict):
    page.open()
    page.js("document.activeElement.blur()")
    assert page.js("return document.activeElement === document.body")
    ActionChains(page.driver).send_keys("/").perform()
    page.wait_for(lambda d: d.execute_script("return document.activeElement.id") == "q", "/ did not focus the search")
    ActionChains(page.driver).send_keys("lighthouse keeper lamp", Keys.ENTER).perform()
    page.wait_idle()
    page.visible("#results .moment-card")
    assert page.find("#q").get_attribute("value") == "lighthouse keeper lamp"
    passed_image_input = False
    for _ in range(30):  # Tab through the form until a result card has the focus
        focused = page.js("return document.activeElement.id || document.activeElement.className")
        if focused == "moment-card":
            break
        if focused == "image-input":  # a visually hidden input: its drop zone must show the focus instead
            passed_image_input = True
            assert page.js("return getComputedStyle(document.getElementById('image-drop')).outlineStyle") == "solid"
        ActionChains(page.driver).send_keys(Keys.TAB).perform()
    else:
        raise AssertionError("Tab never reached a result card")
    assert passed_image_input
    card = page.js("return document.activeElement.dataset.videoId")
    page.shot("keyboard-focus")
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    page.wait_player(True, "Enter on a card did not open the player")
    assert page.js("return document.getElementById('player').contains(document.activeElement)")
    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait_for(lambda d: d.execute_script(
        "return !document.getElementById('player').open && document.activeElement.classList.contains('moment-card')"),
        "closing the player did not give the focus back to the card")
    assert page.js("return document.activeElement.dataset.videoId") == card


def test_sign_in_with_a_key(tmp_path: Path):
    data = tmp_path / "data"
    key = make_key(data, "alice")
    with Server(data, {"VIDSEEK_VISUAL_MODEL": str(tmp_path / "none")}) as server:
        driver = new_driver()  # its own profile: the session cookie must not reach the other server
        try:
            page = Page(driver, server.url)
            page.allow(r"/api/me - Failed to load resource: the server responded with a status of 401")
            page.allow(r"/api/session - Failed to load resource: the server responded with a status of 401")
            driver.get(f"{server.url}/")
            box = page.visible("#login-key")
            assert not page.find("#search-view").is_displayed() and not page.find("#nav").is_displayed()
            assert page.js("return document.activeElement.id") == "login-key"
            page.shot("login")
            box.send_keys("vsk_not_the_key")
            page.find("#login-button").click()
            page.wait_for(lambda d: d.find_element(By.ID, "login-error").is_displayed(), "a wrong key shows no error")
            assert "Wrong key" in page.find("#login-error").text
            page.shot("login-wrong-key")
            box.clear()
            box.send_keys(key, Keys.ENTER)
            page.wait_for(lambda d: d.find_element(By.ID, "tenant").text == "alice", "the tenant is not shown")
            assert page.find("#sign-out").is_displayed()
            page.search("lighthouse")
            page.wait_for(lambda d: "no libraries yet" in d.find_element(By.ID, "empty").text.lower(),
                          "no empty state shown")
            page.shot("login-signed-in")
            assert page.error_banner() is None
            page.check_console()
        finally:
            driver.quit()


def test_a_question_gets_an_answer_card_whose_citation_plays_the_moment(page: Page, site: dict):
    page.open()
    page.search("What does the lighthouse keeper repair?")  # a question: the answer card comes with the results
    page.wait_for(lambda d: d.execute_script(
        "const t = document.getElementById('answer-text');"
        " return !document.getElementById('answer').hidden && !t.classList.contains('pending')"),
        "the answer never arrived")
    text = page.find("#answer-text").text
    assert "lighthouse keeper" in text.lower(), text
    cites = page.driver.find_elements(By.CSS_SELECTOR, "#answer-text .cite")
    items = page.js("""return [...document.querySelectorAll('#answer-citations .citation')].map((c) => ({
        video: Number(c.dataset.videoId), start: Number(c.dataset.start), end: Number(c.dataset.end)}))""")
    assert cites and len(items) >= int(cites[-1].text), (text, items)  # every [n] is in the list
    first = items[int(cites[0].text) - 1]
    assert first["video"] == site["talk"], items
    page.shot("answer")
    cites[0].click()
    page.wait_player(True, "clicking the citation did not open the player")
    page.wait_for(lambda d: first["start"] - 0.5 <= d.execute_script(
        "return document.getElementById('player-video').currentTime") <= first["end"],
        f"the citation did not play {first['start']}–{first['end']}", timeout=10)
    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait_player(False, "Escape did not close the player")


def test_a_library_without_the_visual_route_says_so_with_the_fix(tmp_path: Path):
    """Indexed with no image-text model: every search shows that what is seen cannot be searched, and how to fix it."""
    data = tmp_path / "data"
    media = tmp_path / "media"
    make_video(media / "sign.mp4", [Scene(3, (220, 220, 220), text="Harbour Bakery")], size=(320, 240))
    env = {"VIDSEEK_VISUAL_MODEL": str(tmp_path / "none"), "VIDSEEK_MEDIA_ROOTS": str(media)}
    with Server(data, env) as server, server.client() as api:
        lib = api.post("/api/libraries", json={"name": "plain"}).json()
        api.post(f"/api/libraries/{lib['id']}/videos", json={"root": media.name, "path": ""})
        assert all(j["state"] == "done" for j in server.wait_jobs(None))
        driver = new_driver()
        try:
            page = Page(driver, server.url)
            page.open()
            for query, cards in (("harbour bakery", 1), ("a birthday cake with candles", 0)):
                page.search(query)
                page.wait_for(lambda d: "visual route off" in d.find_element(By.ID, "skipped").text,
                              "the page does not say the visual route is off")
                note = page.find("#skipped").text
                assert "Fix:" in note and "VIDSEEK_VISUAL_MODEL" in note and "vidseek index" in note
                page.wait_for(lambda d, n=cards: len(page.cards()) == n, f"expected {cards} result cards")
            page.shot("visual-off")
            page.check_console()
        finally:
            driver.quit()
