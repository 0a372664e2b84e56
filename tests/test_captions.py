"""The optional caption route against a real local OpenAI-compatible vision server (tests/fake_llm.py).

Usage: `python -m pytest tests/test_captions.py -q`

The fake "VLM" looks at the image it is sent: a mostly red frame is "a red umbrella on a beach",
anything else "an empty grey room". Videos are generated; Milvus Lite and the pipeline are real.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import vidseek
from tests.fake_llm import FakeLLM, fail
from vidseek.analyze.captions import CAPTION_PROMPT
from vidseek.cli.captions import captions_app
from vidseek.media.synth import Scene, Shape, make_video
from vidseek.settings import Settings

RED = "A red umbrella on a beach."
GREY = "An empty grey room."


def describe(request: dict) -> str:
    """The fake VLM: decode the image part and answer by its colour."""
    parts = request["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as picture:
        r, g, b = np.asarray(picture.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
    return f"  {RED}\n" if r > g + 60 and r > b + 60 else GREY


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIDSEEK_ROUTES", "VIDSEEK_VLM_BASE_URL", "VIDSEEK_LLM_BASE_URL", "VIDSEEK_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """grey 0-4 s, red (umbrella) 4-8 s, grey 8-12 s."""
    root = tmp_path_factory.mktemp("captions") / "videos"
    grey = (90, 90, 90)
    make_video(root / "beach.mp4", [Scene(4, grey), Scene(4, (200, 30, 30), shape=Shape("circle", (240, 70, 70))),
                                    Scene(4, grey)])
    return root


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(reply=describe) as server:
        yield server


def _caption_settings(tmp_path: Path, fake: FakeLLM) -> dict:
    return dict(routes="caption,title", vlm_base_url=fake.url, visual_model=str(tmp_path / "no-such-model"),
                llm_retries=0)


def _row_ids(engine, video_id: int, route: str) -> list[int]:
    store = engine.store
    rows = store.client.query(store.text_name, filter=f'video_id == {video_id} and route == "{route}"',
                              output_fields=["id"])
    return sorted(r["id"] for r in rows)


def test_captions_are_indexed_and_found_at_the_right_moment(videos, tmp_path, fake):
    data = tmp_path / "data"
    with vidseek.open(data, **_caption_settings(tmp_path, fake)) as engine:
        report = engine.index([videos])
        assert report.count("indexed") == 1 and report.ok
        video = engine.videos()[0]
        shots = engine.catalog.segments_for([video.id])[video.id]
        assert video.routes["caption"]["state"] == "done"
        assert video.routes["caption"]["rows"] == len(shots) == len(fake.requests) >= 3
        assert video.routes["caption"]["version"] == f"vlm:{Settings().vlm_model}@{fake.url.split('/')[2]}"
        top = engine.search("red umbrella").to_list()[0]
    assert top.path.endswith("beach.mp4") and "caption" in top.routes
    assert 3.0 <= top.start and top.end <= 9.0 and top.start < 8.0 and top.end > 4.0
    assert next(e for e in top.evidence if e.route == "caption").text == RED.strip()  # whitespace stripped

    request = fake.requests[0].json
    text, image = request["messages"][0]["content"]
    assert text == {"type": "text", "text": CAPTION_PROMPT}
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert request["temperature"] == 0 and not request["stream"]

    # Searching with default settings (captions not enabled) still finds the captions that exist.
    with vidseek.open(data, visual_model=str(tmp_path / "no-such-model")) as engine:
        hits = engine.search("red umbrella").to_list()
        assert hits and "caption" in hits[0].routes
        assert engine.search("red umbrella").routes("title").to_list() == []


def test_captions_are_off_by_default_and_unavailable_without_an_endpoint(videos, tmp_path, fake):
    assert "caption" not in Settings().routes
    with vidseek.open(tmp_path / "a", visual_model=str(tmp_path / "none"), vlm_base_url=fake.url) as engine:
        engine.index([videos])
        video = engine.videos()[0]
        assert "caption" not in video.routes and video.routes["ocr"]["state"] == "done"
    assert fake.requests == []

    with vidseek.open(tmp_path / "b", visual_model=str(tmp_path / "none"), routes="caption,title") as engine:
        report = engine.index([videos])
        video = engine.videos()[0]
    assert report.ok and video.status == "done" and video.routes["title"]["state"] == "done"
    assert video.routes["caption"]["state"] == "unavailable"
    assert "VIDSEEK_VLM_BASE_URL" in video.routes["caption"]["note"] and "caption" in report.unavailable


def test_endpoint_failure_keeps_the_video_and_a_rerun_resumes(videos, tmp_path, fake):
    data = tmp_path / "data"
    fake.script(fail(500))
    with vidseek.open(data, **_caption_settings(tmp_path, fake)) as engine:
        report = engine.index([videos])
        video = engine.videos()[0]
        title_ids = _row_ids(engine, video.id, "title")
        shot_files = sorted((data / "thumbnails" / str(video.id)).glob("*.jpg"))
        shot_times = [p.stat().st_mtime_ns for p in shot_files]
        assert engine.search("red umbrella").to_list() == []
    assert report.count("indexed") == 1 and report.ok
    assert video.status == "done" and video.routes["title"]["state"] == "done"
    assert video.routes["caption"]["state"] == "failed" and "500" in video.routes["caption"]["note"]
    assert len(fake.requests) == 1  # the first failure ends captioning of that video
    assert len(title_ids) == 1 and shot_files

    env = {"VIDSEEK_VLM_BASE_URL": fake.url, "VIDSEEK_VISUAL_MODEL": str(tmp_path / "none"),
           "VIDSEEK_LLM_RETRIES": "0"}
    runner = CliRunner()
    estimate = runner.invoke(captions_app, ["estimate", "-d", str(data), "--price-per-1k-tokens", "0.5", "--json"],
                             env=env)
    assert estimate.exit_code == 0, estimate.output
    plan = json.loads(estimate.stdout)
    n_shots = len(shot_files)
    assert plan["videos"] == 1 and plan["keyframes"] == n_shots and plan["not_indexed"] == 0
    assert plan["tokens"] == n_shots * 420 and plan["cost"] == pytest.approx(n_shots * 0.21)

    run = runner.invoke(captions_app, ["run", "-d", str(data), "--yes"], env=env)
    assert run.exit_code == 0, run.output
    assert "captioned 1 videos" in run.output
    assert len(fake.requests) == 1 + n_shots

    with vidseek.open(data, **_caption_settings(tmp_path, fake)) as engine:
        video = engine.videos()[0]
        assert video.routes["caption"]["state"] == "done" and video.routes["caption"]["rows"] == n_shots
        assert _row_ids(engine, video.id, "title") == title_ids  # the title route was not redone
        assert [p.stat().st_mtime_ns for p in shot_files] == shot_times  # nor the shots and thumbnails
        assert engine.search("red umbrella").to_list()[0].path.endswith("beach.mp4")
        assert engine.index([videos]).count("skipped") == 1
    assert len(fake.requests) == 1 + n_shots
    again = runner.invoke(captions_app, ["estimate", "-d", str(data)], env=env)
    assert "videos to caption   0" in again.output


def test_estimate_counts_files_not_indexed_yet(videos, tmp_path):
    more = tmp_path / "more"
    make_video(more / "new.mp4", [Scene(12, (10, 10, 10))])
    result = CliRunner().invoke(captions_app, ["estimate", str(more), "-d", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "videos to caption   1 (1 not indexed yet)" in result.output
    assert "keyframes (calls)   3 (3 estimated from duration)" in result.output
    assert "add --probe" in result.output


def test_an_interrupted_caption_update_keeps_the_video_searchable(videos, tmp_path, fake):
    data = tmp_path / "data"
    with vidseek.open(data, visual_model=str(tmp_path / "none"), routes="title") as engine:
        engine.index([videos])  # no frames pass: no shots stored yet

    def ctrl_c(event) -> None:
        if event.stage == "caption":
            raise KeyboardInterrupt

    with vidseek.open(data, **_caption_settings(tmp_path, fake)) as engine:
        with pytest.raises(KeyboardInterrupt):
            engine.index([videos], on_event=ctrl_c)
        video = engine.videos()[0]
        assert video.status == "done" and video.routes["caption"] == {"state": "failed", "note": "interrupted"}
        assert video.routes["title"]["state"] == "done" and engine.store.count(video.id)["text"] == 1
        assert engine.search("beach").to_list()[0].routes == ["title"]

        result = engine.index([videos]).results[0]
        assert result.status == "updated" and result.routes["caption"]["state"] == "done"
        shots = engine.catalog.segments_for([video.id])[video.id]
        assert shots and all(Path(s.thumbnail).is_file() for s in shots)  # written with the captions
        top = engine.search("red umbrella").to_list()[0]
        assert "caption" in top.routes and top.thumbnail
