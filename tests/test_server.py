"""The REST API over real HTTP: a `vidseek serve` subprocess, two tenants, Milvus Lite, real indexing.

Every endpoint is tried with the other tenant's key (refused as 404, or no results for search),
and every path-taking endpoint with traversal tricks (refused as 400/404, nothing outside served).
The suite runs twice: on the SQLite catalog, and on a real PostgreSQL server (VIDSEEK_CATALOG_URL).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.serverutil import Server, cli, make_key
from vidseek.media.synth import Scene, make_video

# Text-only routes keep indexing to ~1 s a clip; the visual route has its own tests.
FAST = {"routes": ["ocr", "title"]}


def _catalog_env(request, kind: str) -> dict[str, str]:
    """Nothing for the SQLite catalog; VIDSEEK_CATALOG_URL of a fresh PostgreSQL database otherwise."""
    return {} if kind == "sqlite" else {"VIDSEEK_CATALOG_URL": request.getfixturevalue("postgres").new_database()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """A server with tenants alice (videos from a server folder) and bob (an upload), both indexed.

    Both tenants own a clip that shows the same word, so a leak in search would show.
    """
    catalog = _catalog_env(request, request.param)
    root = tmp_path_factory.mktemp("server")
    media = root / "media" / "alice"
    make_video(media / "trip" / "lighthouse_alice.mp4", [Scene(2, (30, 30, 30)), Scene(3, (240, 240, 240),
                                                                                       text="LIGHTHOUSE")])
    make_video(media / "other.mp4", [Scene(2, (90, 20, 20), text="HARBOUR")])
    bob_file = make_video(root / "bob_src" / "lighthouse_bob.mp4", [Scene(3, (240, 240, 240), text="LIGHTHOUSE")])
    outside = root / "secret.mp4"  # a real video next to, not inside, the allowed root
    make_video(outside, [Scene(1, (0, 0, 0))])
    (media / "trip" / "escape.mp4").symlink_to(outside)
    (media / "up").symlink_to(root)

    data = root / "data"
    keys = {t: make_key(data, t, env=catalog) for t in ("alice", "bob")}
    env = {"VIDSEEK_MEDIA_ROOTS": str(media), "VIDSEEK_VISUAL_MODEL": str(root / "none"),
           "VIDSEEK_MAX_UPLOAD_MB": "1", **catalog}
    server = Server(data, env)
    try:
        a, b = server.client(keys["alice"]), server.client(keys["bob"])
        lib_a = a.post("/api/libraries", json={"name": "trips", "settings": FAST}).json()
        lib_b = b.post("/api/libraries", json={"name": "bobs", "settings": FAST}).json()
        added = a.post(f"/api/libraries/{lib_a['id']}/videos", json={"root": "alice", "path": "trip"})
        assert added.status_code == 202, added.text
        assert [j["source"] for j in added.json()["jobs"]] == ["alice/trip/lighthouse_alice.mp4"]  # no escape.mp4
        with open(bob_file, "rb") as fh:
            up = b.post(f"/api/libraries/{lib_b['id']}/uploads", files={"files": ("lighthouse_bob.mp4", fh)})
        assert up.status_code == 202, up.text
        for t in ("alice", "bob"):
            assert all(j["state"] == "done" for j in server.wait_jobs(keys[t])), server.log.read_text()
        yield {"server": server, "keys": keys, "alice": a, "bob": b, "lib_a": lib_a, "lib_b": lib_b,
               "root": root, "outside": outside}
    finally:
        server.stop()


def _ids(w, who: str) -> dict:
    c = w[who]
    lib = w["lib_a" if who == "alice" else "lib_b"]
    videos = c.get(f"/api/libraries/{lib['id']}/videos").json()
    jobs = c.get("/api/jobs").json()
    return {"library": lib["id"], "video": videos[0]["id"], "job": jobs[0]["id"]}


def test_keys_are_required_once_any_exists_and_wrong_keys_are_refused(world):
    server = world["server"]
    assert server.client().get("/api/health").json()["auth"] == "key"
    for client in (server.client(), server.client("vsk_wrong")):
        r = client.get("/api/libraries")
        assert r.status_code == 401 and "key" in r.json()["detail"]
    assert world["alice"].get("/api/me").json() == {"tenant": "alice"}


def test_each_tenant_finds_only_its_own_moments(world):
    for who, other in (("alice", "bob"), ("bob", "alice")):
        res = world[who].post("/api/search", json={"q": "lighthouse"}).json()
        names = {m["name"] for m in res["moments"]}
        assert names == {f"lighthouse_{who}.mp4"}, res
        assert res["moments"][0]["thumbnail_url"].startswith("/api/videos/")
        # even pointing the filters at the other tenant's library or video finds nothing
        theirs = _ids(world, other)
        for flt in ({"library_id": theirs["library"]}, {"video_id": theirs["video"]}):
            res = world[who].post("/api/search", json={"q": "lighthouse", **flt}).json()
            assert res["moments"] == [] and res["total"] == 0


def test_every_endpoint_refuses_the_other_tenants_resources(world):
    bob = _ids(world, "bob")
    alice = world["alice"]
    v, lib, job = bob["video"], bob["library"], bob["job"]
    attempts = [
        ("GET", f"/api/libraries/{lib}"), ("GET", f"/api/libraries/{lib}/videos"),
        ("GET", f"/api/videos/{v}"), ("GET", f"/api/videos/{v}/media"), ("GET", f"/api/videos/{v}/thumbnails/0"),
        ("GET", f"/api/videos/{v}/clip?start=0&end=2"), ("GET", f"/api/jobs/{job}"),
        ("POST", f"/api/jobs/{job}/cancel"), ("DELETE", f"/api/videos/{v}"), ("DELETE", f"/api/libraries/{lib}"),
    ]
    for method, url in attempts:
        r = alice.request(method, url)
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert set(r.json()) == {"detail"}
    r = alice.post(f"/api/libraries/{lib}/videos", json={"root": "alice", "path": "trip"})
    assert r.status_code == 404
    r = alice.post(f"/api/libraries/{lib}/uploads", files={"files": ("x.mp4", b"\x00" * 10)})
    assert r.status_code == 404
    # lists are scoped too
    assert all(j["library_id"] != lib for j in alice.get("/api/jobs").json())
    assert [x["name"] for x in alice.get("/api/libraries").json()] == ["trips"]
    # and bob still has everything
    assert world["bob"].get(f"/api/videos/{v}").status_code == 200
    assert world["bob"].get(f"/api/videos/{v}/media").status_code == 200


@pytest.mark.parametrize("path", [
    "../secret.mp4", "trip/../../secret.mp4", "/etc/passwd", str(Path("/etc").resolve()),
    "%2e%2e/secret.mp4", "%252e%252e/secret.mp4", "..%2fsecret.mp4", "trip\\..\\..\\secret.mp4",
    "trip/escape.mp4", "up/secret.mp4", "up", "trip/\x00.mp4",
])
def test_path_traversal_is_refused_on_every_path_taking_endpoint(world, path):
    alice, lib = world["alice"], world["lib_a"]["id"]
    r = alice.post(f"/api/libraries/{lib}/videos", json={"root": "alice", "path": path})
    assert r.status_code == 400, (path, r.text)
    assert str(world["root"]) not in r.text  # no server paths in errors
    r = alice.get("/api/roots/alice/entries", params={"path": path})
    assert r.status_code == 400, (path, r.text)


def test_unknown_roots_and_encoded_root_names_are_refused(world):
    alice, lib = world["alice"], world["lib_a"]["id"]
    for root in ("..", "../alice", "%2e%2e", "/", "bob"):
        r = alice.post(f"/api/libraries/{lib}/videos", json={"root": root, "path": ""})
        assert r.status_code == 404, (root, r.text)
    for url in ("/api/roots/..%2F..%2Fetc/entries", "/api/roots/%2e%2e/entries", "/api/roots/alice%2F..%2F../entries"):
        assert alice.get(url).status_code in (400, 404), url
    listing = alice.get("/api/roots/alice/entries", params={"path": ""}).json()
    assert listing["dirs"] == ["trip"] and [f["name"] for f in listing["files"]] == ["other.mp4"]  # no "up" link
    trip = alice.get("/api/roots/alice/entries", params={"path": "trip"}).json()
    assert [f["name"] for f in trip["files"]] == ["lighthouse_alice.mp4"]  # escape.mp4 leads out: hidden


def test_uploads_are_sniffed_size_limited_and_renamed_safely(world):
    bob, lib = world["bob"], world["lib_b"]["id"]
    r = bob.post(f"/api/libraries/{lib}/uploads", files={"files": ("notes.mp4", b"just some text\n" * 50)})
    assert r.status_code == 415 and "notes.mp4" in r.json()["detail"]
    big = b"\x00\x00\x00\x18ftypmp42" + os.urandom(2 << 20)
    r = bob.post(f"/api/libraries/{lib}/uploads", files={"files": ("big.mp4", big)})
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    src = next((world["root"] / "bob_src").glob("*.mp4"))
    with open(src, "rb") as fh:
        r = bob.post(f"/api/libraries/{lib}/uploads", files={"files": ("../../../evil name.mp4", fh)})
    assert r.status_code == 202
    job = r.json()["jobs"][0]
    assert job["source"] == "upload/evil name.mp4"
    uploads = world["server"].data / "uploads"
    assert (uploads / "bob" / str(lib) / "evil name.mp4").is_file()
    assert not (world["root"] / "evil name.mp4").exists()
    world["server"].wait_jobs(world["keys"]["bob"])


def test_media_supports_range_requests_and_thumbnails_are_jpeg(world):
    alice = world["alice"]
    vid = _ids(world, "alice")["video"]
    full = alice.get(f"/api/videos/{vid}/media")
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    part = alice.get(f"/api/videos/{vid}/media", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    detail = alice.get(f"/api/videos/{vid}").json()
    assert detail["segments"] and "path" not in detail and str(world["root"]) not in str(detail)
    assert set(detail["routes"]) == {"ocr", "title"}  # the library's own routes
    thumb = alice.get(detail["segments"][0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    clip = alice.get(f"/api/videos/{vid}/clip", params={"start": 1, "end": 4})
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
    bad = alice.get(f"/api/videos/{vid}/clip", params={"start": 4, "end": 1})
    assert bad.status_code == 400 and str(world["root"]) not in bad.json()["detail"]


def test_errors_are_json_sentences_without_tracebacks(world):
    alice = world["alice"]
    r = alice.post("/api/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    r = alice.post("/api/search", json={"q": "x", "limit": 0})
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    r = alice.post("/api/search", json={})  # a JSON search needs q (an image comes as a multipart form)
    assert r.status_code == 422 and "q" in r.json()["detail"]
    r = alice.post("/api/libraries", json={"name": "trips"})
    assert r.status_code == 409
    r = alice.post("/api/libraries", json={"name": "Bad Name!"})  # the schema's pattern
    assert r.status_code == 422 and "name" in r.json()["detail"]
    r = alice.get("/api/videos/999999")
    assert r.status_code == 404 and r.json() == {"detail": "video 999999 not found"}
    assert "Traceback" not in world["server"].log.read_text()


def test_jobs_cancel_and_library_delete_remove_everything(world):
    bob, lib_b = world["bob"], world["lib_b"]["id"]
    lib = bob.post("/api/libraries", json={"name": "scratch", "settings": FAST}).json()
    assert lib["settings"] == {"frame_rate": 1.0, "routes": ["ocr", "title"], "max_segment_seconds": 10.0,
                               "shot_threshold": 0.22}  # its overrides on top of the server's settings
    src = next((world["root"] / "bob_src").glob("*.mp4"))
    with open(src, "rb") as fh:
        job = bob.post(f"/api/libraries/{lib['id']}/uploads", files={"files": ("temp.mp4", fh)}).json()["jobs"][0]
    world["server"].wait_jobs(world["keys"]["bob"])
    res = bob.post("/api/search", json={"q": "lighthouse", "library_id": lib["id"]}).json()
    assert res["total"] == 1
    video_id = res["moments"][0]["video_id"]
    assert bob.delete(f"/api/libraries/{lib['id']}").status_code == 204
    assert bob.get(f"/api/videos/{video_id}").status_code == 404
    assert bob.post("/api/search", json={"q": "lighthouse", "library_id": lib["id"]}).json()["total"] == 0
    assert not (world["server"].data / "uploads" / "bob" / str(lib["id"])).exists()
    assert bob.post(f"/api/jobs/{job['id']}/cancel").status_code == 404  # went with its library
    assert bob.post("/api/search", json={"q": "lighthouse", "library_id": lib_b}).json()["total"] >= 1


def test_cli_goes_through_the_server_or_says_why_not(world):
    server, key = world["server"], world["keys"]["alice"]
    done = cli("search", "lighthouse", "--server", server.url, "--api-key", key, "--json")
    assert done.returncode == 0, done.stderr
    assert "lighthouse_alice.mp4" in done.stdout and "lighthouse_bob" not in done.stdout
    done = cli("index", str(world["root"]), "-d", str(server.data))
    assert done.returncode == 2 and f"served by `vidseek serve` at {server.url}" in done.stderr
    done = cli("search", "lighthouse", "-d", str(server.data))  # auto-detected server; it wants a key
    assert done.returncode == 2 and "401" in done.stderr and "key" in done.stderr


def test_single_user_mode_only_without_keys_and_only_on_loopback(tmp_path):
    data = tmp_path / "data"
    with Server(data, {"VIDSEEK_VISUAL_MODEL": str(tmp_path / "none")}) as server:
        assert server.client().get("/api/health").json()["auth"] == "local"
        assert server.client().get("/api/me").json() == {"tenant": "default"}
        done = cli("search", "anything", "-d", str(data))  # auto-detected (the lock is the server's), no key needed
        assert done.returncode == 0 and "nothing is indexed" in done.stderr, done.stderr  # as a local search says
    done = cli("serve", "-d", str(data), "--host", "0.0.0.0", "--port", "1", timeout=60)
    assert done.returncode == 2 and "without API keys" in done.stderr


def test_openapi_docs_are_served_without_a_cdn(world):
    client = world["server"].client()
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/libraries", "/api/videos/{video_id}/media", "/api/jobs/{job_id}/cancel"} <= set(
        spec["paths"])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_jobs_survive_a_server_restart(tmp_path, request, kind):
    """Stopping the server mid-queue loses nothing: interrupted and queued jobs run after a restart."""
    media = tmp_path / "media"
    for i in range(3):
        make_video(media / f"clip{i}.mp4", [Scene(2, (40 * i, 90, 90), text=f"PART{i}") for _ in range(4)])
    data = tmp_path / "data"
    env = {"VIDSEEK_MEDIA_ROOTS": str(media), "VIDSEEK_VISUAL_MODEL": str(tmp_path / "none"),
           **_catalog_env(request, kind)}
    with Server(data, env) as server, server.client() as c:
        lib = c.post("/api/libraries", json={"name": "r", "settings": FAST}).json()
        jobs = c.post(f"/api/libraries/{lib['id']}/videos", json={"root": "media", "path": ""}).json()["jobs"]
        assert len(jobs) == 3
        for _ in range(200):  # stop as soon as the first one runs
            if c.get(f"/api/jobs/{jobs[0]['id']}").json()["state"] != "queued":
                break
    with Server(data, env) as server, server.client() as c:
        final = server.wait_jobs(None)
        assert sorted(j["state"] for j in final) == ["done"] * 3, final
        res = c.post("/api/search", json={"q": "part2"}).json()
        assert [m["name"] for m in res["moments"]] == ["clip2.mp4"]
        assert len(c.get(f"/api/libraries/{lib['id']}/videos").json()) == 3


def test_a_killed_servers_job_is_taken_over_on_a_shared_catalog(tmp_path, request):
    """PostgreSQL catalog: kill -9 a server mid-job; the next server on it runs that job once its lease ends."""
    media = tmp_path / "media"
    make_video(media / "long.mp4", [Scene(2, (40 * i, 90, 90), text=f"PART{i}") for i in range(8)])
    make_video(media / "short.mp4", [Scene(2, (200, 90, 90), text="SHORT")])
    data = tmp_path / "data"
    env = {"VIDSEEK_MEDIA_ROOTS": str(media), "VIDSEEK_VISUAL_MODEL": str(tmp_path / "none"),
           "VIDSEEK_JOB_LEASE_SECONDS": "3", **_catalog_env(request, "postgresql")}
    first = Server(data, env)
    try:
        with first.client() as c:
            lib = c.post("/api/libraries", json={"name": "k", "settings": FAST}).json()
            jobs = c.post(f"/api/libraries/{lib['id']}/videos", json={"root": "media", "path": ""}).json()["jobs"]
            for _ in range(400):
                running = [j for j in c.get("/api/jobs").json() if j["state"] == "running"]
                if running:
                    break
                time.sleep(0.05)
        assert running, "no job started"
        first.proc.send_signal(signal.SIGKILL)  # no shutdown: the job stays 'running' with a stale heartbeat
        first.proc.wait(30)
    finally:
        first.stop()
    with Server(data, env) as second, second.client() as c:
        final = second.wait_jobs(None)
        assert sorted(j["state"] for j in final) == ["done", "done"], final
        assert {j["id"] for j in final} == {j["id"] for j in jobs}  # the same jobs, none twice
        assert c.post("/api/search", json={"q": "part7"}).json()["moments"][0]["name"] == "long.mp4"
        videos = c.get(f"/api/libraries/{lib['id']}/videos").json()
        assert sorted(v["name"] for v in videos) == ["long.mp4", "short.mp4"]
    assert "queued again" in second.log.read_text()
