"""Indexing on a real Ray cluster (a head and two worker nodes on 127.0.0.1, started here): the same
rows, thumbnails, faces, fingerprints and search results as a local index; a worker killed mid-file;
an unreachable address; a file a worker cannot read."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import vidseek
from tests.serverutil import cli
from tests.tinyclip import draw_shape
from vidseek.media.synth import AudioClip, Scene, Shape, make_video, speak

# Every node and the driver on loopback. Ray turns 127.0.0.1 in an address into the machine's interface
# address unless multi-node clustering is off (its switch for Windows and macOS); the nodes here are
# started in-process by `Cluster`, which that switch does not stop. Set before Ray is imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="the cluster tests need Ray (pip install 'vidseek[cluster]')")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
BIRTHDAY = MEDIA / "demo" / "videollama_birthday.mp4"  # a man's face: the face route has tracks to file
QUERIES = ["the lighthouse keeper repairs the lamp", "视频搜索引擎", "Coastal Stories", "a red circle",
           "a green square", "birthday"]


@pytest.fixture(scope="module")
def ray_cluster():
    """A head (no CPUs: it only schedules) and two worker nodes of one CPU each, all on loopback."""
    from ray._private.services import get_node_ip_address
    from ray.cluster_utils import Cluster

    assert get_node_ip_address() == "127.0.0.1", "Ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0"
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """English speech, Chinese on-screen text, shapes for the tiny CLIP, a real face, and a re-cut copy."""
    root = tmp_path_factory.mktemp("cluster-corpus")
    lib = root / "videos"
    wav = speak("The lighthouse keeper repairs the old lamp every winter.", root / "talk.wav")
    make_video(lib / "lighthouse_talk.mp4", [Scene(4, (20, 30, 60)), Scene(6, (60, 60, 60), text="Coastal Stories")],
               audio=[AudioClip(3.0, wav)])
    make_video(lib / "notice.mp4",
               [Scene(4, (0, 0, 0)), Scene(5, (250, 245, 230), text="欢迎使用视频搜索引擎"), Scene(4, (0, 0, 0))])
    grey = (128, 128, 128)
    make_video(lib / "shapes.mp4", [Scene(4, grey, shape=Shape("square", (30, 170, 40), 0.6, (0.5, 0.5))),
                                    Scene(4, grey, shape=Shape("circle", (220, 30, 30), 0.6, (0.5, 0.5)))])
    if BIRTHDAY.is_file():
        shutil.copy(BIRTHDAY, lib / BIRTHDAY.name)
        from tests.dnautil import Edit, make_copy

        make_copy(BIRTHDAY, lib / "birthday_recut.mp4", Edit(start=1.0, duration=6.0, crf=30))
    return lib


def _settings(tiny_clip_dir: Path) -> dict:
    # one thread per model everywhere: a worker gets its one CPU, and the local run computes the same way
    return {"visual_model": str(tiny_clip_dir), "threads": 1, "ray_worker_cpus": 1.0}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def snapshot(engine) -> dict:
    """Everything indexing wrote, keyed by file name: catalog rows, store rows, thumbnail files."""
    store, data = engine.store, engine.settings.data_dir
    out = {}
    for v in engine.videos():
        routes = {r: {k: x for k, x in s.items() if k not in ("note", "copies")} for r, s in v.routes.items()}
        shots = [(s.idx, round(s.start, 3), round(s.end, 3), str(Path(s.thumbnail).relative_to(data)),
                  _digest(Path(s.thumbnail).read_bytes())) for s in engine.catalog.segments_for([v.id])[v.id]]
        faces = [(round(f.start, 2), round(f.end, 2), f.count, [round(b, 3) for b in f.box],
                  _digest(Path(f.thumbnail).read_bytes()), _digest(Path(f.crop).read_bytes()))
                 for f in engine.catalog.faces("default", video_id=v.id)]
        text = sorted((r["route"], round(r["start"], 2), round(r["end"], 2), r["text"], r["ev"])
                      for r in store.text_rows(v.id))
        visual = sorted((round(r["start"], 2), round(r["end"], 2), tuple(np.round(r["vector"], 4)))
                        for r in store.client.query(store.visual_name, filter=f"video_id == {v.id}",
                                                    output_fields=["start", "end", "vector"]))
        fingerprint = engine.catalog.fingerprints("default", [v.id]).get(v.id)
        out[v.name] = {"id": v.id, "status": v.status, "duration": round(v.duration, 2), "routes": routes,
                       "embedding": v.embedding, "shots": shots, "faces": faces, "text": text, "visual": visual,
                       "counts": store.count(v.id),
                       "fingerprint": _digest(fingerprint[1]) if fingerprint else None}
    return out


def differences(a, b, where: str = "") -> list[str]:
    """Where two snapshots differ, as short paths (video / field / item), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in differences(a.get(k), b.get(k), f"{where}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {str(a)[:160]} != {str(b)[:160]}"]


def searches(engine) -> dict:
    found = {q: [(Path(m.path).name, round(m.start, 2), round(m.end, 2), round(m.score, 3), m.routes)
                 for m in engine.search(q).limit(5).to_list()] for q in QUERIES}
    picture = draw_shape("red", "circle", np.random.default_rng(5))
    found["image"] = [(Path(m.path).name, round(m.start, 2), round(m.end, 2), round(m.score, 3))
                      for m in engine.search(image=picture).limit(5).to_list()]
    found["duplicates"] = sorted(sorted(Path(p).name for p in g.paths.values()) for g in engine.tenant().duplicates())
    found["people"] = sorted(p.faces for p in engine.tenant().people())
    return found


@pytest.fixture(scope="module")
def local_index(corpus, tiny_clip_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("local-data")
    with vidseek.open(data, **_settings(tiny_clip_dir)) as engine:
        report = engine.index([corpus])
        assert report.ok and not report.unavailable, (report.failed, report.unavailable)
        return snapshot(engine), searches(engine)


def test_a_two_node_cluster_indexes_what_a_local_run_does(ray_cluster, corpus, tiny_clip_dir, local_index,
                                                         tmp_path):
    """Two workers analyse, the driver writes: every row, file and search result matches a local index,
    the progress is one cluster-wide figure that ends at 100%, and a second run finds nothing to do."""
    events = []
    with vidseek.open(tmp_path / "data", **_settings(tiny_clip_dir)) as engine:
        report = engine.index([corpus], ray=ray_cluster.address, on_event=events.append)
        assert report.ok and not report.unavailable, (report.failed, report.unavailable)
        assert report.count("indexed") == len(local_index[0])
        assert not differences(snapshot(engine), local_index[0])
        assert not differences(searches(engine), local_index[1])
        again = engine.index([corpus], ray=ray_cluster.address)
        assert again.count("skipped") == len(local_index[0])
    assert events and {e.stage for e in events} == {"cluster"} and events[-1].path == "2 workers"
    assert events[-1].done == events[-1].total
    assert all(a.done <= b.done for a, b in zip(events, events[1:])), "progress never goes back"


def test_a_worker_killed_mid_file_is_replaced_and_nothing_is_written_twice(ray_cluster, corpus, tiny_clip_dir,
                                                                          local_index, tmp_path, caplog):
    from vidseek.index.cluster import RayCluster

    killed = []
    cluster = RayCluster.connect(ray_cluster.address)

    def on_event(e) -> None:
        if not killed and 0 < e.done < e.total:  # files are being analysed: kill the first worker
            node, pid = cluster.workers[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    caplog.set_level(logging.WARNING, "vidseek.index.cluster")
    with vidseek.open(tmp_path / "data", **_settings(tiny_clip_dir)) as engine:
        try:
            report = engine.index([corpus], ray=cluster, on_event=on_event)
        finally:
            cluster.close()
        assert killed, "the run ended before a worker could be killed"
        assert report.ok, report.failed
        assert "a worker died" in caplog.text
        assert not differences(snapshot(engine), local_index[0])
        assert not differences(searches(engine), local_index[1])


def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(corpus, tmp_path):
    data = tmp_path / "data"
    done = cli("index", str(corpus), "--data-dir", str(data), "--ray", "127.0.0.1:9")
    assert done.returncode == 2  # cannot run (as a bad setting or a locked data dir)
    lines = done.stderr.strip().splitlines() + done.stdout.strip().splitlines()
    assert len(lines) == 1 and "VIDSEEK_RAY_ADDRESS" in lines[0] and "127.0.0.1:9" in lines[0], lines
    assert not data.exists()
    bad = cli("index", str(corpus), "--data-dir", str(data), env={"VIDSEEK_RAY_ADDRESS": "no-port"})
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr + bad.stdout and not data.exists()


def test_a_file_the_worker_cannot_read_fails_naming_the_node(corpus, tmp_path):
    """The driver read the file; the worker (another machine without the mount) cannot: that file fails."""
    from vidseek.index.analyzers import Analyzers
    from vidseek.index.remote import analyze, apply, work_order

    clip = tmp_path / "clip.mp4"
    shutil.copy(corpus / "notice.mp4", clip)
    with vidseek.open(tmp_path / "data", routes="title") as engine:
        indexer = engine.tenant().library("default", create=True).indexer()
        plan = indexer.plan(clip)
        order = work_order(indexer, plan)
        clip.rename(tmp_path / "gone.mp4")
        result = analyze(order, Analyzers(engine.settings), node="node-7 (10.0.0.7)")
        file_result = apply(indexer, plan, order, result)
        assert file_result.status == "failed"
        assert "on node node-7 (10.0.0.7)" in file_result.error and "No such file" in file_result.error
        (video,) = engine.videos()
        assert video.status == "failed" and video.error == file_result.error
