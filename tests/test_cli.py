"""The CLI as a user runs it: `python -m vidseek.cli ...` in subprocesses, one data dir per scenario.

These pin what a person sees: one line per problem, no tracebacks, exit codes (0 ok, 1 the request
failed, 2 cannot run), JSON output, and that a kill -9 mid-index leaves nothing a re-run cannot fix.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidseek.media.synth import AudioClip, Scene, make_bad_inputs, make_video, speak

# One distinct sentence per clip, so a search names exactly one clip.
SENTENCES = {
    "harbour": "The red boat leaves the harbour at nine.",
    "kite": "A yellow kite flies over the green hill.",
    "clock": "The old clock tower rings at noon.",
    "penguins": "Seven penguins march across the frozen lake.",
}
SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


# helpers ----------------------------------------------------------------------------------
def cli_env(tmp: Path) -> dict[str, str]:
    """The caller's environment without VIDSEEK_* settings, and a visual model that does not exist:
    indexing must go on with the other routes (and no test waits for a SigLIP download). No resident
    search process (tests/test_resident.py has those)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEEK_") and k != "FORCE_COLOR"}
    env.update(VIDSEEK_VISUAL_MODEL=str(tmp / "none"), NO_COLOR="1", VIDSEEK_RESIDENT_IDLE="0")
    return env


def cli_command(data: Path, *args: object) -> list[str]:
    return [sys.executable, "-m", "vidseek.cli", *map(str, args), "--data-dir", str(data)]


def run_cli(data: Path, *args: object, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cli_command(data, *args), env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def search_json(data: Path, query: str, env: dict[str, str], *extra: object) -> list[dict]:
    done = run_cli(data, "search", query, "--json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["moments"]


def catalog_status(data: Path) -> dict[str, str]:
    """File name -> status, read without taking the lock (read-only, like a curious user would)."""
    db = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return {Path(p).name: s for p, s in db.execute("SELECT path, status FROM videos")}
    finally:
        db.close()


_COUNT_ROWS = """
import json, sys
from pathlib import Path
import vidseek
with vidseek.open(sys.argv[1]) as lib:
    print(json.dumps({
        Path(v.path).name: {
            "status": v.status,
            "routes": {r: s.get("rows") for r, s in v.routes.items() if s.get("state") == "done"},
            "stored": lib.store.count(v.id),
        }
        for v in lib.videos()
    }))
"""


def row_counts(data: Path, env: dict[str, str]) -> dict[str, dict]:
    """File name -> text rows per route (catalog) and rows actually stored in Milvus.

    Read in a child process: this one must not hold Milvus Lite's file lock when the CLI runs next
    (see test_a_closed_library_does_not_block_the_cli).
    """
    done = subprocess.run([sys.executable, "-c", _COUNT_ROWS, str(data)], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def make_speech_clip(path: Path, sentence: str, shade: int = 0) -> Path:
    wav = speak(sentence, path.with_suffix(".wav"))
    make_video(path, [Scene(3, (40 + shade, 60, 120))], size=(160, 120), audio=[AudioClip(0.2, wav)])
    wav.unlink()
    return path


# fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models_ready() -> None:
    """Default routes import the visual model registry and OCR; skip clearly where either is missing."""
    pytest.importorskip("vidseek.analyze.registry", reason="vidseek.analyze.registry is not written yet")
    pytest.importorskip("vidseek.analyze.ocr", reason="vidseek.analyze.ocr is not written yet")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Four 3 s videos, each speaking one of SENTENCES."""
    folder = tmp_path_factory.mktemp("clips")
    for shade, (name, sentence) in enumerate(SENTENCES.items()):
        make_speech_clip(folder / f"{name}.mp4", sentence, shade * 40)
    return folder


@pytest.fixture(scope="module")
def indexed(models_ready, clips, tmp_path_factory):
    """`clips` indexed cleanly once; returns (data dir, env, row counts right after indexing)."""
    tmp = tmp_path_factory.mktemp("indexed")
    env = cli_env(tmp)
    data = tmp / "data"
    done = run_cli(data, "index", clips, env=env)
    assert done.returncode == 0, done.stderr
    assert "indexed 4, updated 0, unchanged 0, failed 0" in done.stderr
    return data, env, row_counts(data, env)


# bad inputs -------------------------------------------------------------------------------
def test_bad_inputs_get_one_line_each_and_the_good_video_is_indexed(models_ready, tmp_path):
    folder = tmp_path / "mixed"
    bad = make_bad_inputs(folder)
    good = make_speech_clip(folder / "harbour.mp4", SENTENCES["harbour"])
    missing, empty_dir = tmp_path / "no-such-folder", tmp_path / "empty"
    empty_dir.mkdir()
    expected = {
        bad["empty"]: "empty file",
        bad["text"]: "not a media file",
        bad["truncated"]: "truncated",
        bad["truncated_faststart"]: "truncated",
        bad["unsupported_codec"]: "unsupported video codec",
        missing: "path does not exist",
        empty_dir: "no video files found",
    }
    env, data = cli_env(tmp_path), tmp_path / "data"

    def check_problems(stderr: str) -> None:
        lines = stderr.splitlines()
        for path, fragment in expected.items():
            mine = [line for line in lines if f"{path}:" in line]
            assert len(mine) == 1, (path, stderr)
            assert fragment in mine[0], (fragment, mine[0])

    first = run_cli(data, "index", folder, missing, empty_dir, env=env)
    assert first.returncode == 1, first.stderr
    check_problems(first.stderr)
    assert sum(str(good) in line for line in first.stderr.splitlines()) == 1
    assert "indexed 1, updated 0, unchanged 0, failed 7" in first.stderr

    moments = search_json(data, "red boat leaves the harbour", env)
    assert moments and moments[0]["path"] == str(good)

    again = run_cli(data, "index", folder, missing, empty_dir, env=env)
    assert again.returncode == 1, again.stderr
    check_problems(again.stderr)
    assert str(good) not in again.stderr  # unchanged files are skipped quietly
    assert "indexed 0, updated 0, unchanged 1, failed 7" in again.stderr


# crash safety -----------------------------------------------------------------------------
def _kill_mid_index(data: Path, folder: Path, env: dict[str, str]) -> tuple[set[str], set[str]]:
    """Start `vidseek index`, kill -9 it once one video is done and another is half-way.

    Returns (done, indexing) file names as the catalog showed them just before the kill.
    """
    proc = subprocess.Popen(cli_command(data, "index", folder), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if (data / "catalog.sqlite").exists():
                try:
                    states = catalog_status(data)
                except sqlite3.Error:  # the writer may still be creating the schema
                    states = {}
                done = {n for n, s in states.items() if s == "done"}
                busy = {n for n, s in states.items() if s == "indexing"}
                if done and busy:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return done, busy
            time.sleep(0.02)
        pytest.fail(f"never saw one video done and another indexing; index ended: {proc.poll()}\n"
                    f"{proc.stderr.read() if proc.poll() is not None else ''}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_kill_9_mid_index_then_rerun_finishes_without_duplicates(indexed, clips, tmp_path):
    _, env, clean_counts = indexed
    data = tmp_path / "data"
    done, busy = _kill_mid_index(data, clips, env)
    (half,) = busy
    after_kill = catalog_status(data)
    assert after_kill[half] != "done"
    assert all(after_kill[n] == "done" for n in done)

    # Search only trusts videos marked done, so the half-indexed one is not answered yet.
    sentence = SENTENCES[Path(half).stem]
    assert all(Path(m["path"]).name != half for m in search_json(data, sentence, env))

    rerun = run_cli(data, "index", clips, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert set(catalog_status(data).values()) == {"done"}
    counts = row_counts(data, env)
    assert counts == clean_counts
    for name, c in counts.items():  # Milvus holds exactly the rows the catalog accounts for
        assert c["stored"]["text"] == sum(n for r, n in c["routes"].items() if r != "visual"), name

    moments = search_json(data, sentence, env)
    assert moments and Path(moments[0]["path"]).name == half


# lock -------------------------------------------------------------------------------------
def _hold(data: Path, env: dict[str, str], script: str) -> subprocess.Popen:
    """Run `script` (with `data` as sys.argv[1]) in a child that prints a line when it is in place."""
    return subprocess.Popen([sys.executable, "-c", script, str(data)], env=env, stdout=subprocess.PIPE, text=True)


def test_second_process_gets_one_line_and_exit_code_2(tmp_path):
    data, env = tmp_path / "data", cli_env(tmp_path)
    holder = _hold(data, env, "import sys, time, vidseek\n"
                   "lib = vidseek.open(sys.argv[1])\nprint('ready', flush=True)\ntime.sleep(120)")
    try:
        assert holder.stdout.readline().strip() == "ready"
        done = run_cli(data, "search", "x", env=env, timeout=120)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "in use by another vidseek process" in lines[0], done.stderr
    assert done.stdout == ""


def test_a_closed_library_does_not_block_the_cli(tmp_path):
    data, env = tmp_path / "data", cli_env(tmp_path)
    (tmp_path / "empty").mkdir()
    script = ("import sys, time, vidseek\nwith vidseek.open(sys.argv[1]) as lib:\n    lib.store.count()\n"
              "print('closed', flush=True)\ntime.sleep(120)")
    user = _hold(data, env, script)
    try:
        assert user.stdout.readline().strip() == "closed"
        done = run_cli(data, "index", tmp_path / "empty", env=env, timeout=120)  # opens the store
    finally:
        user.kill()
        user.wait()
        user.stdout.close()
    assert done.returncode == 1 and "no video files found" in done.stderr, done.stderr


# search output ----------------------------------------------------------------------------
def test_a_no_op_reindex_loads_no_model_and_opens_no_store(indexed, clips):
    """Nothing changed: versions come from package metadata, settings and manifests, not weights."""
    import vidseek

    data, env, _ = indexed
    with vidseek.open(data, visual_model=env["VIDSEEK_VISUAL_MODEL"]) as engine:
        report = engine.index([clips])
        assert report.count("skipped") == len(SENTENCES) and report.ok, report.failed
        assert engine.analyzers._models == {}, "a model was loaded"
        assert engine._store is None, "the store was opened"


def test_a_no_op_reindex_imports_no_media_or_array_library(indexed, clips):
    """`vidseek index` on unchanged files reads the catalog and the model versions only: PyAV, NumPy,
    Pillow and the model runtimes stay unloaded, which is most of a fresh process's start-up."""
    data, env, _ = indexed
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "vidseek.cli", "index", str(clips),
                           "--data-dir", str(data)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"unchanged {len(SENTENCES)}" in done.stderr, done.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    heavy = {"numpy", "av", "PIL", "faster_whisper", "ctranslate2", "onnxruntime", "rapidocr", "pymilvus", "dlib"}
    assert loaded & heavy == set(), f"a no-op re-index imported {sorted(loaded & heavy)}"


def test_search_json_has_moments_with_evidence(indexed, clips):
    data, env, _ = indexed
    moments = search_json(data, SENTENCES["kite"], env, "--limit", "5")
    assert 1 <= len(moments) <= 5
    for m in moments:
        assert {"path", "start", "end", "score", "routes", "evidence"} <= set(m)
        assert 0 <= m["start"] < m["end"] and 0 < m["score"] <= 1
    top = moments[0]
    assert top["path"] == str(clips / "kite.mp4")
    assert "speech" in top["routes"]
    assert any(e["route"] == "speech" and "kite" in e["text"] for e in top["evidence"])


def test_every_search_says_the_visual_route_is_off_and_how_to_fix_it(indexed):
    data, env, _ = indexed
    for query in ("the red boat leaves the harbour", "a birthday cake with candles"):  # a hit, and none
        done = run_cli(data, "search", query, env=env)
        assert done.returncode == 0
        line = next(x for x in done.stderr.splitlines() if "visual route off" in x)
        assert "what is seen cannot be searched" in line and "Fix:" in line and "VIDSEEK_VISUAL_MODEL" in line
        assert "`vidseek index <your folders>` adds the visual route" in line


def test_nonsense_query_says_no_match(indexed):
    data, env, _ = indexed
    done = run_cli(data, "search", "quantum zebra orchestra", env=env)
    assert done.returncode == 0
    assert "no match above the cutoff" in done.stdout


# status / remove --------------------------------------------------------------------------
def test_status_then_remove_one_video(indexed, clips):
    data, env, _ = indexed
    before = run_cli(data, "status", "--json", env=env)
    assert before.returncode == 0, before.stderr
    info = json.loads(before.stdout)
    assert {"videos", "hours", "segments", "routes", "models", "store"} <= set(info)
    assert info["routes"]["speech"] == {"done": info["videos"]}

    victim = clips / "penguins.mp4"
    gone = run_cli(data, "remove", victim, env=env)
    assert gone.returncode == 0, gone.stderr
    assert f"removed {victim}" in gone.stdout
    after = json.loads(run_cli(data, "status", "--json", env=env).stdout)
    assert after["videos"] == info["videos"] - 1
    assert all(m["path"] != str(victim) for m in search_json(data, SENTENCES["penguins"], env))

    again = run_cli(data, "remove", victim, env=env)
    assert again.returncode == 1
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not in the index" in lines[0], again.stderr


# acceptance on real footage ---------------------------------------------------------------
# The three demo clips with a semi-transparent "shutterstock" watermark across the middle.
SHUTTERSTOCK_CLIPS = {"videollama_birthday.mp4", "videollama_boat.mp4", "videollama_silence_girl.mp4"}
needs_shared_media = pytest.mark.skipif(not SHARED_MEDIA.is_dir(), reason=f"no shared real clips at {SHARED_MEDIA}")


@pytest.fixture(scope="module")
def shared_indexed(models_ready, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """/work/shared/media indexed through the CLI (about a minute on 2 cores)."""
    tmp = tmp_path_factory.mktemp("shared")
    data, env = tmp / "data", cli_env(tmp)
    done = run_cli(data, "index", SHARED_MEDIA, env=env, timeout=3600)
    assert done.returncode == 0, done.stderr
    return data, env


@pytest.mark.slow
@needs_shared_media
def test_shared_media_famous_sentence_finds_jfk(shared_indexed):
    data, env = shared_indexed
    # speech/ also holds jfk.flac, the same recording without a picture: it ties on score, and the
    # tie-break puts the file with a picture first.
    jfk = search_json(data, "ask not what your country can do for you", env)
    names = [Path(m["path"]).name for m in jfk]
    assert names[0] == "jfk_black.mp4", names
    assert 0 <= jfk[0]["start"] < jfk[0]["end"] <= 11.1  # the clip is 11.0 s long


@pytest.mark.slow
@needs_shared_media
def test_shared_media_watermark_ranks_the_three_marked_clips_first(shared_indexed):
    data, env = shared_indexed
    marked = search_json(data, "shutterstock", env, "--limit", "20", "--per-video", "1")
    names = [Path(m["path"]).name for m in marked]
    assert set(names[: len(SHUTTERSTOCK_CLIPS)]) == SHUTTERSTOCK_CLIPS, names


def test_libraries_and_search_by_image_from_the_cli(tmp_path, tiny_clip_dir):
    import numpy as np
    from PIL import Image

    from tests.tinyclip import draw_shape
    from vidseek.media.synth import Shape

    grey = (128, 128, 128)
    work = tmp_path / "v"
    circle = Shape("circle", (220, 30, 30), 0.6, (0.5, 0.5))
    make_video(work / "red.mp4", [Scene(3, grey), Scene(4, grey, shape=circle)])
    make_video(work / "blue.mp4", [Scene(5, grey, shape=Shape("triangle", (30, 60, 220), 0.6, (0.5, 0.5)))])
    picture = tmp_path / "query.png"
    drawing = draw_shape("red", "circle", np.random.default_rng(3))
    Image.fromarray(drawing).resize((256, 256), Image.Resampling.NEAREST).save(picture)
    env = dict(cli_env(tmp_path), VIDSEEK_VISUAL_MODEL=str(tiny_clip_dir))
    data = tmp_path / "data"
    done = run_cli(data, "libraries", "create", "shapes", "--routes", "visual,title", "--frame-rate", "2", env=env)
    assert done.returncode == 0 and "shapes" in done.stdout, done.stderr
    assert run_cli(data, "libraries", "create", "shapes", env=env).returncode == 1  # the name is taken
    assert run_cli(data, "index", work, "--library", "shapes", env=env).returncode == 0
    listing = run_cli(data, "libraries", "list", env=env).stdout
    assert "shapes" in listing and "2 videos" in listing
    moments = search_json(data, "", env, "--image", picture, "--library", "shapes")
    assert moments[0]["path"].endswith("red.mp4") and moments[0]["routes"] == ["visual"]
    assert moments[0]["end"] > 3.0  # the circle appears at 3 s
    bad = run_cli(data, "search", "--image", tmp_path / "nope.png", env=env)
    assert bad.returncode == 2 and "nope.png" in bad.stderr
    empty = run_cli(data, "search", env=env)
    assert empty.returncode == 2 and "--image" in empty.stderr
