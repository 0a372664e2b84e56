"""Shared pytest fixtures. Each block says who uses it; add yours as a new block."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `vidseek search` keeps a resident search process for 15 idle minutes; in the suite each test's data
# dir would keep one. tests/test_resident.py turns it on where it is the subject.
os.environ.setdefault("VIDSEEK_RESIDENT_IDLE", "0")


# tiny CLIP (visual route) -------------------------------------------------------------------
def _tinyclip():
    try:
        import tinyclip
    except ModuleNotFoundError:  # tests/ became a package: the rootdir is on sys.path instead
        from tests import tinyclip
    return tinyclip


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transformers CLIPModel checkpoint trained on 12 colour-shape captions (tests/tinyclip.py)."""
    pytest.importorskip("torch", reason="the tiny CLIP is trained with torch")
    pytest.importorskip("transformers", reason="the tiny CLIP is a transformers CLIPModel")
    return _tinyclip().build_tiny_clip(tmp_path_factory.mktemp("tiny-clip") / "checkpoint", seconds=120)


@pytest.fixture(scope="session")
def tiny_clip_dir(tiny_clip_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny CLIP exported (fp32 ONNX, calibrated on its own training data): a folder to set
    VIDSEEK_VISUAL_MODEL to. Captions it knows: tinyclip.CAPTIONS, e.g. "a red circle"."""
    from vidseek.analyze.export import export_model

    out = tmp_path_factory.mktemp("tiny-clip-onnx") / "tiny-clip"
    pairs = _tinyclip().calibration_pairs()
    return export_model(tiny_clip_checkpoint, out, name="tiny-clip", calibration_pairs=pairs)


# PostgreSQL (the shared catalog): tests/test_catalog.py, tests/test_server.py --------------------
@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tests/pgserver.py); `postgres.new_database()` is a URL.

    Where PostgreSQL is not installed the tests that need it are skipped, unless
    VIDSEEK_TEST_REQUIRE_POSTGRES=1 (.ci/run sets it): then they fail."""
    try:
        from pgserver import PgServer, find_bindir
    except ModuleNotFoundError:
        from tests.pgserver import PgServer, find_bindir
    pytest.importorskip("psycopg", reason="the PostgreSQL catalog needs psycopg (pip install 'vidseek[postgres]')")
    if find_bindir() is None and os.environ.get("VIDSEEK_TEST_REQUIRE_POSTGRES") != "1":
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_target(request, tmp_path):
    """Where a test's catalog lives: a SQLite file, then a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "catalog.sqlite"
    return request.getfixturevalue("postgres").new_database()
