"""The catalog on SQLite and on a real PostgreSQL server (tests/pgserver.py): same calls, same answers.

Every test here runs twice (the `catalog_target` fixture). The job queue is also claimed by two OS
processes at once, and a claimant killed with SIGKILL has its job taken over by another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vidseek.errors import ConflictError, NotFoundError, StoreError
from vidseek.store.catalog import SCHEMA_VERSION, Catalog, SegmentRecord

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def catalog(catalog_target):
    c = Catalog(catalog_target)
    yield c
    c.close()


def test_tenants_keys_sessions_and_libraries(catalog):
    catalog.ensure_tenant("alice")
    catalog.ensure_tenant("alice")  # a second time changes nothing
    catalog.set_tenant_roots("alice", ["/srv/a"])
    assert catalog.tenants() == ["alice"] and catalog.tenant_roots("alice") == ["/srv/a"]
    key = catalog.add_key("bob", "h" * 64, "vs_ab", "laptop")
    assert (key.tenant, key.prefix, key.label) == ("bob", "vs_ab", "laptop")
    assert catalog.tenant_for_key("h" * 64) == "bob" and catalog.tenant_for_key("x" * 64) is None
    assert catalog.key_count() == 1
    catalog.add_session("s" * 64, key.id, lifetime=60)
    assert catalog.tenant_for_session("s" * 64) == "bob"
    assert catalog.revoke_key(key.id) and not catalog.revoke_key(key.id)
    assert catalog.tenant_for_session("s" * 64) is None  # revoking the key ended its session (cascade)

    lib = catalog.create_library("alice", "trips", {"frame_rate": 2})
    with pytest.raises(ConflictError, match="already exists"):
        catalog.create_library("alice", "trips")
    assert catalog.library_named("alice", "trips").settings == {"frame_rate": 2}
    assert catalog.library_named("bob", "trips", create=True).id != lib.id  # each tenant its own
    with pytest.raises(NotFoundError):
        catalog.library("bob", lib.id)  # another tenant's id is not found
    assert [x.name for x in catalog.libraries("alice")] == ["trips"]


def test_videos_segments_routes_and_embedding_tags(catalog):
    lib = catalog.create_library("default", "default")
    first = catalog.start_video(lib, "/m/b.mp4", 10, 1.25, "h1", source="media/b.mp4")
    again = catalog.start_video(lib, "/m/b.mp4", 11, 2.5, "h2")  # re-index keeps the id and the source
    assert again.id == first.id and (again.size, again.mtime, again.source) == (11, 2.5, "media/b.mp4")
    other = catalog.start_video(lib, "/m/a.mp4", 5, 3.0, "h3")
    catalog.set_duration(first.id, 12.5)
    routes = {"ocr": {"state": "done", "rows": 4}, "speech": {"state": "unavailable", "note": "no speech model"},
              "visual": {"state": "done", "rows": 0}}
    catalog.finish_video(first.id, routes, embedding="e5")
    catalog.fail_video(other.id, "not a video")
    assert [v.path for v in catalog.videos("default")] == ["/m/a.mp4", "/m/b.mp4"]
    assert [v.id for v in catalog.videos("default", status="done")] == [first.id]
    done = catalog.get(first.id, "default")
    assert done.duration == 12.5 and done.routes == routes and done.embedding == "e5" and done.indexed_at
    assert catalog.get(first.id, "someone-else") is None
    assert catalog.has_route("ocr", "default") and not catalog.has_route("visual", "default")  # 0 rows
    assert not catalog.has_route("speech", "default")
    assert catalog.route_problem("speech", "default") == "no speech model"
    assert catalog.has_embedding("default", "e5") and not catalog.has_embedding("default", "use")
    assert catalog.done_count() == 1 and catalog.done_count("default") == 1

    shots = [SegmentRecord(first.id, i, 2.0 * i, 2.0 * i + 2, f"/t/{i}.jpg") for i in range(3)]
    catalog.replace_segments(first.id, shots)
    catalog.replace_segments(first.id, shots[:2])  # replaced, not added to
    assert catalog.segments_for([first.id, other.id]) == {first.id: shots[:2], other.id: []}
    assert catalog.segment_count("default") == 2
    big = catalog.videos_by_ids([first.id, *range(10_000, 12_000)], "default")  # more ids than one statement takes
    assert list(big) == [first.id]
    catalog.delete_video(first.id)
    assert catalog.segments_for([first.id]) == {first.id: []}  # its shots went with it


def test_faces_people_and_fingerprints(catalog):
    lib = catalog.create_library("default", "default")
    video = catalog.start_video(lib, "/m/f.mp4", 1, 1.0, "h")
    catalog.finish_video(video.id, {})
    tracks = [{"start": i, "end": i + 1.5, "time": i + 0.5, "box": [0.1, 0.2, 0.3, 0.4], "count": 3 + i,
               "vector": np.full(128, 0.1 * (i + 1), dtype=np.float32), "thumbnail": f"/t/{i}.jpg"} for i in range(2)]
    ids = catalog.add_faces(video.id, "default", tracks)
    assert len(ids) == 2 and ids == sorted(ids)
    person = catalog.add_person("default", np.ones(128, dtype=np.float32))
    catalog.set_person_of(ids, person, pinned=True)
    catalog.name_person("default", person, "Ada")
    [p] = catalog.people("default")
    assert (p.name, p.faces, p.videos, p.cover.id) == ("Ada", 2, 1, ids[1])  # the most-seen face is the cover
    np.testing.assert_allclose(catalog.faces("default", ids=[ids[0]])[0].vector, tracks[0]["vector"])
    assert catalog.people_named("default") == {"Ada": person}
    catalog.set_fingerprint(video.id, "v1", b"\x00\x01\xff")
    catalog.set_fingerprint(video.id, "v2", b"\x02")  # replaces
    assert catalog.fingerprints("default") == {video.id: ("v2", b"\x02")}
    catalog.delete_faces(video.id)
    catalog.name_person("default", person, None)
    assert catalog.drop_empty_people("default") == 1 and catalog.people("default") == []


def test_jobs_are_claimed_once_and_a_dead_owners_job_is_taken_over(catalog):
    lib = catalog.create_library("default", "default")
    jobs = [catalog.add_job(lib, f"/m/{i}.mp4", None) for i in range(3)]
    assert catalog.add_job(lib, "/m/0.mp4", None).id == jobs[0].id  # an active job is not queued twice
    a = catalog.claim_job("server-a")
    b = catalog.claim_job("server-b")
    assert (a.id, a.state, a.owner) == (jobs[0].id, "running", "server-a") and b.id == jobs[1].id
    assert catalog.heartbeat(a.id, "server-a", percent=40.0, stage="frames")
    assert not catalog.heartbeat(a.id, "server-b")  # not b's job
    assert (catalog.job(a.id).percent, catalog.job(a.id).stage) == (40.0, "frames")
    assert not catalog.update_job(a.id, "server-b", state="done")  # b can't finish a's job

    catalog.request_cancel(b.id)  # asked of any server; the owner reads it with its heartbeat
    assert not catalog.heartbeat(b.id, "server-b")
    assert catalog.cancel_queued(jobs[2].id) and not catalog.cancel_queued(jobs[2].id)

    catalog.update_job(a.id, heartbeat_at=time.time() - 120)  # a's server stopped answering 2 minutes ago
    catalog.update_job(b.id, heartbeat_at=time.time() - 120)
    assert catalog.requeue_stale(lease_seconds=60) == 1
    assert catalog.job(b.id).state == "cancelled"  # the cancel asked for stays
    taken = catalog.claim_job("server-c")
    assert (taken.id, taken.owner, taken.percent) == (a.id, "server-c", 0.0)
    assert not catalog.update_job(a.id, "server-a", state="done")  # the first owner's late answer is dropped
    assert catalog.update_job(a.id, "server-c", state="done")
    assert catalog.claim_job("server-a") is None


def test_old_catalogs_gain_the_new_columns_and_newer_ones_are_refused(catalog_target):
    c = Catalog(catalog_target)
    for col in ("owner", "heartbeat_at", "cancel_requested"):  # as a catalog of schema 2 had it
        c.db.execute(f"ALTER TABLE jobs DROP COLUMN {col}")
    c.db.set_schema_version(2)
    c.close()
    c = Catalog(catalog_target)
    assert {"owner", "heartbeat_at", "cancel_requested"} <= c.db.columns("jobs")
    assert c.db.schema_version() == SCHEMA_VERSION
    c.db.set_schema_version(SCHEMA_VERSION + 1)
    c.close()
    with pytest.raises(StoreError, match="newer than this vidseek"):
        Catalog(catalog_target)


CLAIMER = """
import sys, time
from vidseek.store.catalog import Catalog
catalog = Catalog(sys.argv[1] if "://" in sys.argv[1] else __import__("pathlib").Path(sys.argv[1]))
owner, mode = sys.argv[2], sys.argv[3]
print("ready", flush=True)
sys.stdin.readline()  # every claimant starts at once
while (job := catalog.claim_job(owner)) is not None:
    if mode == "hang":  # claim one and wait to be killed, sending no heartbeat
        print(job.id, flush=True)
        time.sleep(600)
    time.sleep(0.002)  # a little work
    catalog.update_job(job.id, owner, state="done", error=owner)
"""


def _claimers(target, *owners: str, mode: str = "work") -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(target), owner, mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
             for owner in owners]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.close()
    return procs


def test_two_processes_claim_every_job_once(catalog_target):
    catalog = Catalog(catalog_target)
    lib = catalog.create_library("default", "default")
    for i in range(150):
        catalog.add_job(lib, f"/m/{i}.mp4", None)
    procs = _claimers(catalog_target, "p0", "p1")
    for p in procs:
        assert p.wait(120) == 0
    jobs = catalog.jobs("default", limit=1000)
    assert len(jobs) == 150 and {j.state for j in jobs} == {"done"}
    by = {o: sum(1 for j in jobs if j.error == o) for o in ("p0", "p1")}
    assert sum(by.values()) == 150 and min(by.values()) > 0, by  # both worked, and no job twice
    catalog.close()


def test_a_killed_claimants_job_is_taken_over_by_another_process(catalog_target):
    catalog = Catalog(catalog_target)
    lib = catalog.create_library("default", "default")
    first = catalog.add_job(lib, "/m/first.mp4", None)
    catalog.add_job(lib, "/m/second.mp4", None)
    [hung] = _claimers(catalog_target, "dies", mode="hang")
    assert int(hung.stdout.readline()) == first.id
    hung.send_signal(signal.SIGKILL)
    hung.wait(30)
    assert catalog.job(first.id).state == "running"  # nobody knows yet
    time.sleep(2.1)
    assert catalog.requeue_stale(lease_seconds=2) == 1
    assert _claimers(catalog_target, "survivor")[0].wait(60) == 0
    jobs = catalog.jobs("default")
    assert [(j.state, j.error) for j in jobs] == [("done", "survivor")] * 2
    catalog.close()


def test_a_wrong_postgres_password_or_port_is_one_line_naming_the_setting(postgres, tmp_path):
    with pytest.raises(StoreError) as wrong:
        Catalog(postgres.url(password="not-it"))
    message = str(wrong.value)
    assert message.startswith("VIDSEEK_CATALOG_URL: cannot connect to postgresql://vidseek:***@127.0.0.1")
    assert "password authentication failed" in message and "not-it" not in message and "\n" not in message

    data = tmp_path / "data"
    env = {**os.environ, "VIDSEEK_CATALOG_URL": f"postgresql://vidseek:pw@127.0.0.1:{postgres.port + 1}/x",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "vidseek.cli", "status", "-d", str(data)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "VIDSEEK_CATALOG_URL" in lines[0] and "pw@" not in lines[0], lines
    assert not data.exists()  # nothing written

    env["VIDSEEK_CATALOG_URL"] = "mysql://db/vidseek"
    done = subprocess.run([sys.executable, "-m", "vidseek.cli", "status", "-d", str(data)], capture_output=True,
                          text=True, env=env, timeout=60)
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 2 and "VIDSEEK_CATALOG_URL='mysql://db/vidseek'" in said, said
    assert "postgresql://USER:PASSWORD@HOST:PORT/DB" in said and len(said.splitlines()) == 1, said


def test_a_shared_catalog_refuses_a_second_milvus_lite(postgres, tmp_path):
    """Two data dirs, each with its own Milvus Lite file, on one catalog would split the library in two."""
    from vidseek.engine import Engine
    from vidseek.settings import Settings

    url = postgres.new_database()
    with Engine(Settings(data_dir=tmp_path / "a", catalog_url=url)) as engine:
        said = engine.tenant().status()["catalog"]
        assert said.startswith("PostgreSQL (postgresql://vidseek:***@127.0.0.1:") and postgres.password not in said
    with Engine(Settings(data_dir=tmp_path / "a", catalog_url=url)):  # the same data dir again: fine
        pass
    with pytest.raises(StoreError, match="Milvus Lite serves one process") as refused:
        Engine(Settings(data_dir=tmp_path / "b", catalog_url=url))
    assert str(tmp_path / "a" / "milvus.db") in str(refused.value)
    Engine(Settings(data_dir=tmp_path / "b")).close()  # its lock was let go: the data dir opens on its own catalog
