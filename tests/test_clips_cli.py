"""`vidseek cut N` and `vidseek open N` on the results of the last search, through the real CLI."""

from __future__ import annotations

import json
import sys

import pytest

from tests.serverutil import Server, cli
from vidseek.media.frames import sample_frames
from vidseek.media.probe import probe
from vidseek.media.synth import Scene, make_video

ENV = {"VIDSEEK_ROUTES": "ocr,title"}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    video = make_video(root / "media" / "ferry.mp4", [Scene(3, (30, 30, 30)), Scene(4, (240, 240, 240),
                                                                                     text="NIGHT FERRY"),
                                                     Scene(3, (30, 30, 200))])
    data = root / "data"
    done = cli("index", str(root / "media"), "-d", str(data), env=ENV)
    assert done.returncode == 0, done.stderr
    return {"root": root, "data": data, "video": video}


def _search(indexed) -> dict:
    done = cli("search", "night ferry", "-d", str(indexed["data"]), env=ENV)
    assert done.returncode == 0 and "ferry.mp4" in done.stdout, done
    saved = json.loads((indexed["data"] / "last-search.json").read_text())
    assert saved["query"] == "night ferry" and saved["moments"][0]["path"] == str(indexed["video"])
    return saved["moments"][0]


def test_cut_writes_the_moment_by_stream_copy_or_frame_accurately(indexed, tmp_path):
    moment = _search(indexed)
    copy = tmp_path / "copy.mp4"
    done = cli("cut", "1", "-o", str(copy), "-d", str(indexed["data"]))
    assert done.returncode == 0 and "stream copy" in done.stdout, done
    length = moment["end"] - moment["start"]
    assert probe(copy).duration >= length - 0.1  # from the keyframe at or before the start
    exact = tmp_path / "exact.mp4"
    done = cli("cut", "1", "-o", str(exact), "--reencode", "--pad", "0.5", "-d", str(indexed["data"]))
    assert done.returncode == 0 and "re-encoded" in done.stdout, done
    assert probe(exact).duration == pytest.approx(length + 1.0, abs=0.25)
    assert moment["start"] >= 2.5  # the caption's shot starts at 3 s
    first = next(sample_frames(exact))
    assert first.image.mean() < 100  # the cut opens 0.5 s early, on the dark scene before the white caption


def test_cut_and_open_say_what_is_wrong(indexed, tmp_path):
    _search(indexed)
    done = cli("cut", "7", "-d", str(indexed["data"]))
    assert done.returncode == 1 and "pick 1 to" in done.stderr
    empty = tmp_path / "fresh"
    done = cli("open", "1", "-d", str(empty))
    assert done.returncode == 1 and "run `vidseek search" in done.stderr
    done = cli("open", "1", "--player", "mpv --start={nope} {path}", "-d", str(indexed["data"]))
    assert done.returncode == 1 and "VIDSEEK_PLAYER" in done.stderr


def test_open_starts_the_player_at_the_moment(indexed, tmp_path):
    moment = _search(indexed)
    record = tmp_path / "argv.json"
    player = tmp_path / "player.py"
    player.write_text(f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    template = f"{sys.executable} {player} --start={{start}} {{path}}"
    done = cli("open", "1", "-d", str(indexed["data"]), env={"VIDSEEK_PLAYER": template})
    assert done.returncode == 0 and f"at {moment['start']:.1f} s" in done.stdout, done
    for _ in range(100):
        if record.is_file():
            break
        import time

        time.sleep(0.1)
    assert json.loads(record.read_text()) == [f"--start={moment['start']:.2f}", str(indexed["video"])]


def test_cut_after_a_search_through_the_server(indexed, tmp_path):
    with Server(indexed["data"], {**ENV, "VIDSEEK_VISUAL_MODEL": str(tmp_path / "none")}):
        done = cli("search", "night ferry", "-d", str(indexed["data"]))
        assert done.returncode == 0 and "ferry.mp4" in done.stdout, done
        saved = json.loads((indexed["data"] / "last-search.json").read_text())
        # the server sends no paths; the CLI fills them from this data dir's catalog, as a local search has them
        assert saved["moments"][0]["path"] == str(indexed["video"])
        out = tmp_path / "via-server.mp4"
        done = cli("cut", "1", "-o", str(out), "-d", str(indexed["data"]))  # the catalog has the path
        assert done.returncode == 0, done.stderr
        assert probe(out).has_video


def test_libraries_are_listed_in_words_and_can_be_deleted(indexed, tmp_path):
    data = tmp_path / "libs"
    done = cli("libraries", "create", "talks", "--routes", "ocr,title", "-d", str(data))
    assert done.returncode == 0 and "created library 1 'talks' (routes ocr, title)" in done.stdout, done
    media = make_video(tmp_path / "one.mp4", [Scene(2, (240, 240, 240), text="HELLO")])
    assert cli("index", str(media), "--library", "talks", "-d", str(data), env=ENV).returncode == 0
    listed = cli("libraries", "list", "-d", str(data)).stdout
    assert "1 video," in listed and "routes ocr, title" in listed and "{" not in listed, listed
    done = cli("libraries", "delete", "nope", "--yes", "-d", str(data))
    assert done.returncode == 1 and "no library named 'nope' (libraries: talks)" in done.stderr
    done = cli("libraries", "delete", "talks", "--yes", "-d", str(data))
    assert done.returncode == 0 and "1 video removed" in done.stdout, done
    assert media.is_file()
    assert "no libraries yet" in cli("libraries", "list", "-d", str(data)).stdout
