"""An unexpected exception while indexing one file fails that file, never the batch.

Real decoding, OCR and Milvus Lite; the bug is injected where a library could raise one (PyAV's
open, a route's text step, the fingerprint) and only for one of two files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import vidseek
from vidseek.index import pipeline
from vidseek.media.synth import Scene, make_video


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    work = tmp_path / "videos"
    make_video(work / "good.mp4", [Scene(3, (20, 40, 90), text="Harbour Lights")], size=(320, 180))
    make_video(work / "bad.mp4", [Scene(3, (90, 40, 20), text="Broken Bridge")], size=(320, 180))
    return work


def open_lib(tmp_path: Path) -> vidseek.engine.Engine:
    return vidseek.open(tmp_path / "data", visual_model=str(tmp_path / "none"), routes="ocr,title")


def only_for_bad(real, exc: BaseException):
    """`real`, except that it raises `exc` when its first argument is the file bad.mp4."""

    def wrapped(path, *args, **kwargs):
        if Path(path).name == "bad.mp4":
            raise exc
        return real(path, *args, **kwargs)

    return wrapped


def results(report) -> dict[str, tuple[str, str | None]]:
    return {Path(r.path).name: (r.status, r.error) for r in report.results}


def test_a_bug_after_rows_were_written_fails_the_file_and_removes_its_rows(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The title row is written after the OCR rows, so the failure leaves partial rows to clean up.
    bug = ZeroDivisionError("division by zero")
    monkeypatch.setattr(pipeline, "title_text", only_for_bad(pipeline.title_text, bug))
    caplog.set_level(logging.DEBUG, logger="vidseek.index.pipeline")
    with open_lib(tmp_path) as lib:
        report = lib.index([folder])
        got = results(report)
        assert got["good.mp4"] == ("indexed", None)
        assert got["bad.mp4"] == ("failed", "internal error: ZeroDivisionError: division by zero")
        assert report.failed == [(str(folder / "bad.mp4"), "internal error: ZeroDivisionError: division by zero")]
        bad = next(v for v in lib.videos() if v.path.endswith("bad.mp4"))
        assert bad.status == "failed" and bad.error == "internal error: ZeroDivisionError: division by zero"
        assert lib.store.count(bad.id) == {"text": 0, "visual": 0, "faces": 0, "dna": 0}
        assert lib.search("harbour lights").to_list()[0].path.endswith("good.mp4")
        assert lib.search("broken bridge").to_list() == []
        assert lib.status()["failed"] == [{"video_id": bad.id, "path": bad.path, "error": bad.error}]
    traced = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert traced and "bad.mp4" in traced[0].getMessage() and traced[0].exc_info[0] is ZeroDivisionError


def test_a_bug_in_opening_the_file_fails_only_that_file(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What PyAV 19 did to every file: av.open(..., metadata_errors=...) raised TypeError."""
    error = TypeError("open() got an unexpected keyword argument 'metadata_errors'")
    monkeypatch.setattr(pipeline, "probe", only_for_bad(pipeline.probe, error))
    with open_lib(tmp_path) as lib:
        got = results(lib.index([folder]))
        assert got["good.mp4"] == ("indexed", None)
        assert got["bad.mp4"] == ("failed", f"internal error: TypeError: {error}")
        assert {Path(v.path).name: v.status for v in lib.videos()} == {"good.mp4": "done", "bad.mp4": "failed"}
        monkeypatch.undo()  # fixed: the next run indexes it
        assert results(lib.index([folder])) == {"good.mp4": ("skipped", None), "bad.mp4": ("indexed", None)}


def test_a_bug_before_the_file_is_opened_is_caught_by_the_batch(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "fingerprint", only_for_bad(pipeline.fingerprint, ValueError("bad chunk size")))
    with open_lib(tmp_path) as lib:
        got = results(lib.index([folder]))
    assert got == {"good.mp4": ("indexed", None), "bad.mp4": ("failed", "internal error: ValueError: bad chunk size")}


def test_ctrl_c_still_stops_the_batch(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "title_text", only_for_bad(pipeline.title_text, KeyboardInterrupt()))
    seen: list[str] = []
    with open_lib(tmp_path) as lib, pytest.raises(KeyboardInterrupt):
        lib.index([folder], on_file=lambda r: seen.append(Path(r.path).name))
    assert "bad.mp4" not in seen
