"""The audit's defects D1-D9 (issue 9), each against a real `vidseek serve`, plus the Host, Origin
and rate guards on their own. Every test here failed before its fix."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.serverutil import Server, cli, make_key
from vidseek.errors import QueryError
from vidseek.media.synth import Scene, make_video
from vidseek.serve.guard import Guard, HostPolicy
from vidseek.serve.routes.videos import valid_range

FAST = {"routes": ["ocr", "title"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    media = root / "media"
    make_video(media / "harbour.mp4", [Scene(2, (240, 240, 240), text="HARBOUR")])
    (media / "loop").symlink_to(media / "loop")  # D4
    (media / "sub").mkdir()
    (media / "sub" / "again").symlink_to(media / "sub")  # a loop through a parent: fine to list
    data = root / "data"
    key = make_key(data, "alice")
    env = {"VIDSEEK_MEDIA_ROOTS": str(media), "VIDSEEK_VISUAL_MODEL": str(root / "none")}
    server = Server(data, env)
    try:
        c = server.client(key)
        lib = c.post("/api/libraries", json={"name": "clips", "settings": FAST}).json()
        added = c.post(f"/api/libraries/{lib['id']}/videos", json={"root": "media", "path": "harbour.mp4"})
        assert added.status_code == 202, added.text
        assert all(j["state"] == "done" for j in server.wait_jobs(key))
        video = c.get(f"/api/libraries/{lib['id']}/videos").json()[0]
        yield {"server": server, "key": key, "c": c, "lib": lib["id"], "video": video["id"], "root": root,
               "media": media}
    finally:
        server.stop()


def _no_tracebacks(world) -> None:
    log = world["server"].log.read_text()
    assert "Traceback" not in log and "internal server error" not in log, log[-3000:]


def test_d1_ids_beyond_sqlite_integers_are_422_not_500(world):
    c, huge = world["c"], "99999999999999999999999"
    for method, url in [("GET", f"/api/videos/{huge}"), ("GET", f"/api/libraries/{huge}"), ("GET", f"/api/jobs/{huge}"),
                        ("DELETE", f"/api/libraries/{huge}"), ("GET", f"/api/videos/{huge}/media"),
                        ("GET", f"/api/videos/{2**63}/thumbnails/{huge}"), ("POST", f"/api/jobs/{2**63}/cancel"),
                        ("GET", f"/api/jobs?library_id={huge}")]:
        r = c.request(method, url)
        assert r.status_code == 422, (method, url, r.status_code, r.text)
    r = c.post("/api/search", json={"q": "harbour", "video_id": int(huge)})
    assert r.status_code == 422 and "video_id" in r.json()["detail"]
    _no_tracebacks(world)


def test_d2_search_offsets_are_bounded(world):
    c = world["c"]
    r = c.get("/api/search", params={"q": "dog", "offset": 10001})
    assert r.status_code == 422 and "offset" in r.json()["detail"]
    r = c.post("/api/search", json={"q": "harbour", "offset": 9900, "limit": 100})
    assert r.status_code == 200 and r.json()["moments"] == []
    _no_tracebacks(world)


def test_d2_the_python_api_bounds_the_window_and_filter_lists(tmp_path):
    from vidseek import Engine
    from vidseek.settings import Settings

    with Engine(Settings(data_dir=tmp_path / "d")) as engine:
        search = engine.tenant("default").search("dog").offset(9990).limit(20)
        with pytest.raises(QueryError, match="at most the first 10,000"):
            search.to_list()
        with pytest.raises(QueryError, match="at most 10,000"):
            engine.tenant("default").search("dog").where(video_id=list(range(10_001)))


def test_d3_lone_surrogates_are_422_everywhere(world):
    c, lib = world["c"], world["lib"]
    raw = {"content-type": "application/json"}
    cases = [("/api/search", '{"q": "\\ud800"}'),
             (f"/api/libraries/{lib}/videos", '{"root": "media", "path": "\\ud800"}'),
             ("/api/ask", '{"question": "\\udfff what?", "stream": true}'), ("/api/libraries", '{"name": "\\ud800"}'),
             ("/api/libraries", '{"name": "ok", "settings": {"\\ud800": 1}}'), ("/api/session", '{"key": "\\ud800"}')]
    for url, body in cases:
        r = c.post(url, content=body.encode(), headers=raw)
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
    _no_tracebacks(world)


def test_d4_a_symlink_loop_does_not_break_the_folder_browser(world):
    c = world["c"]
    r = c.get("/api/roots/media/entries")
    assert r.status_code == 200, r.text
    listing = r.json()
    assert "loop" not in listing["dirs"] and "sub" in listing["dirs"]
    assert [f["name"] for f in listing["files"]] == ["harbour.mp4"]
    assert c.get("/api/roots/media/entries", params={"path": "sub"}).status_code == 200
    r = c.get("/api/roots/media/entries", params={"path": "loop"})
    assert r.status_code in (400, 404) and "loop" in r.json()["detail"]
    _no_tracebacks(world)


def test_d5_index_and_upload_refuse_an_image_renamed_mp4_alike(world, tmp_path):
    fake = tmp_path / "holiday.mp4"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(fake, format="PNG")
    done = cli("index", str(fake), "-d", str(tmp_path / "data"), env={"VIDSEEK_ROUTES": "title"})
    assert "holiday.mp4" in done.stdout + done.stderr and "PNG image" in done.stdout + done.stderr, done
    status = json.loads(cli("status", "--json", "-d", str(tmp_path / "data")).stdout)
    assert status["videos"] == 0 and [f["path"] for f in status["failed"]] == [str(fake)]
    assert "PNG image" in status["failed"][0]["error"]
    with open(fake, "rb") as fh:
        r = world["c"].post(f"/api/libraries/{world['lib']}/uploads", files={"files": ("holiday.mp4", fh)})
    assert r.status_code == 415 and "PNG image" in r.json()["detail"]


def test_d6_query_length_is_limited_and_not_echoed(world):
    c = world["c"]
    started = time.monotonic()
    r = c.post("/api/search", json={"q": "dog " * 1_000_000})
    assert r.status_code == 422 and "VIDSEEK_MAX_QUERY_CHARS" in r.json()["detail"]
    assert len(r.content) < 1000 and time.monotonic() - started < 10
    r = c.get("/api/search", params={"q": "x" * 1001})
    assert r.status_code == 422
    r = c.post("/api/ask", json={"question": "why " * 300})
    assert r.status_code == 422
    r = c.get("/api/search", params={"q": "harbour", "per_video": 51})
    assert r.status_code == 422
    r = c.post("/api/search", json={"q": "harbour", "routes": ["ocr"] * 8})  # more names than routes
    assert r.status_code == 422
    ok = c.post("/api/search", json={"q": "harbour " * 100})
    assert ok.status_code == 200


def test_d7_openapi_matches_the_responses(world):
    c = world["c"]
    spec = c.get("/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorOut"]["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"400", "422", "429"} <= codes, (method, path, codes)
            if path not in ("/api/health", "/api/session"):
                assert "401" in codes and op["security"], (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
    uploads = spec["paths"]["/api/libraries/{library_id}/uploads"]["post"]
    assert {"413", "415"} <= set(uploads["responses"]) and "multipart/form-data" in uploads["requestBody"]["content"]
    ask = spec["paths"]["/api/ask"]["post"]["responses"]["200"]["content"]
    assert {"text/event-stream", "application/json"} <= set(ask)
    q = next(p for p in spec["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "q")
    assert q["schema"]["minLength"] == 1 and q["schema"]["maxLength"] == 1000
    # a 422 really is {"detail": "<sentence>"}, as documented
    r = c.post("/api/search", json={"q": "x", "limit": 0})
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    r = c.get("/api/search", params={"q": ""})
    assert r.status_code == 422
    # OPTIONS (or any method a path lacks) answers 405 naming every method of that path
    r = c.options(f"/api/libraries/{world['lib']}")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}, r.headers["allow"]
    r = c.put("/api/session")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"POST", "DELETE"}


def test_d8_a_library_needs_a_route(world):
    r = world["c"].post("/api/libraries", json={"name": "empty", "settings": {"routes": []}})
    assert r.status_code == 422 and "routes" in r.json()["detail"]


def test_d8_an_invalid_range_gets_the_whole_file(world):
    c, vid = world["c"], world["video"]
    full = c.get(f"/api/videos/{vid}/media")
    for header in ("bytes=5-2", "bytes=abc", "items=0-10", "bytes="):
        r = c.get(f"/api/videos/{vid}/media", headers={"Range": header})
        assert r.status_code == 200 and r.content == full.content, header
    r = c.get(f"/api/videos/{vid}/media", headers={"Range": "bytes=5-9"})
    assert r.status_code == 206 and r.content == full.content[5:10]
    r = c.get(f"/api/videos/{vid}/media", headers={"Range": f"bytes={len(full.content) + 10}-"})
    assert r.status_code == 416


@pytest.mark.parametrize(("header", "valid"), [
    ("bytes=0-99", True), ("bytes=100-", True), ("bytes=-500", True), ("bytes=0-1, 5-9", True),
    ("bytes=5-2", False), ("bytes=", False), ("bytes=a-b", False), ("items=0-1", False), ("bytes=0-1,", False),
    ("bytes=--1", False),
])
def test_valid_range(header: str, valid: bool) -> None:
    assert valid_range(header) is valid


def test_d8_the_session_cookie_is_an_opaque_revocable_id(world):
    server, key = world["server"], world["key"]
    with httpx.Client(base_url=server.url) as browser:
        r = browser.post("/api/session", json={"key": key})
        assert r.status_code == 204
        cookie = r.cookies["vidseek_session"]
        assert cookie.startswith("vss_") and key not in r.headers["set-cookie"]
        assert "Secure" not in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert browser.get("/api/me").json() == {"tenant": "alice"}
        assert browser.delete("/api/session").status_code == 204
    with httpx.Client(base_url=server.url, cookies={"vidseek_session": cookie}) as replay:
        r = replay.get("/api/me")
        assert r.status_code == 401 and "session" in r.json()["detail"]  # ended on the server, not only here
    # behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from loopback) the cookie is Secure
    r = httpx.post(server.url + "/api/session", json={"key": key}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["set-cookie"]


def test_d8_revoking_a_key_ends_its_sessions(world):
    server = world["server"]
    key = make_key(server.data, "carol")
    with httpx.Client(base_url=server.url) as browser:
        assert browser.post("/api/session", json={"key": key}).status_code == 204
        assert browser.get("/api/me").json() == {"tenant": "carol"}
        listed = cli("keys", "list", "-d", str(server.data)).stdout.splitlines()
        key_id = next(line.split()[0] for line in listed if line.split()[1:2] == ["carol"])
        assert cli("keys", "revoke", key_id, "-d", str(server.data)).returncode == 0
        assert browser.get("/api/me").status_code == 401


def test_d8_a_video_deleted_while_indexing_ends_its_job_as_cancelled_with_a_note(world, tmp_path):
    c = world["c"]
    long = make_video(world["media"] / "long.mp4", [Scene(2, (40 * (i % 6), 90, 90), text=f"PART{i}")
                                                   for i in range(30)])
    lib = c.post("/api/libraries", json={"name": "deleting", "settings": {"routes": ["ocr"]}}).json()
    job = c.post(f"/api/libraries/{lib['id']}/videos", json={"root": "media", "path": "long.mp4"}).json()["jobs"][0]
    deadline = time.monotonic() + 120
    video = None
    while time.monotonic() < deadline and video is None:
        videos = c.get(f"/api/libraries/{lib['id']}/videos").json()
        video = videos[0] if videos else None
        time.sleep(0.1)
    assert video is not None, "the job never started"
    r = c.delete(f"/api/videos/{video['id']}")
    assert r.status_code == 204, (r.text, video, c.get(f"/api/jobs/{job['id']}").json())
    final = c.get(f"/api/jobs/{job['id']}").json()
    assert final["state"] == "cancelled" and "deleted" in final["error"], final
    assert c.get(f"/api/videos/{video['id']}").status_code == 404
    long.unlink()


def test_d9_single_user_mode_refuses_other_hosts_and_cross_site_writes(tmp_path):
    with Server(tmp_path / "data", {"VIDSEEK_VISUAL_MODEL": str(tmp_path / "none"),
                                    "VIDSEEK_ALLOWED_HOSTS": "vidseek.lan"}) as server:
        c = server.client()
        assert c.get("/api/me").json() == {"tenant": "default"}
        r = c.get("/api/me", headers={"Host": "evil.example:8765"})  # DNS rebinding
        assert r.status_code == 421 and "VIDSEEK_ALLOWED_HOSTS" in r.json()["detail"]
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 421
        assert c.get("/api/me", headers={"Host": "vidseek.lan"}).status_code == 200
        assert c.get("/api/me", headers={"Host": "localhost:1234"}).status_code == 200
        r = c.post("/api/libraries", json={"name": "x"}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "origin" in r.json()["detail"]
        r = c.post("/api/libraries", json={"name": "x"}, headers={"Origin": "null"})
        assert r.status_code == 403
        r = c.post("/api/libraries", json={"name": "x"}, headers={"Origin": server.url})  # the web page itself
        assert r.status_code == 201
        assert c.get("/api/libraries", headers={"Origin": "http://evil.example"}).status_code == 200  # reads: CORS


# the guard on its own --------------------------------------------------------------------------
def _guarded(policy: HostPolicy, rate: float, burst: int) -> TestClient:
    app = Starlette(routes=[Route("/api/x", lambda r: PlainTextResponse("ok"), methods=["GET", "POST"])])
    return TestClient(Guard(app, policy, rate, burst), base_url="http://127.0.0.1")


@pytest.mark.parametrize(("bind", "allowed", "host", "ok"), [
    ("127.0.0.1", [], "127.0.0.1:8765", True), ("127.0.0.1", [], "localhost", True),
    ("127.0.0.1", [], "[::1]:80", True),
    ("127.0.0.1", [], "app.localhost", True), ("127.0.0.1", [], "evil.example", False), ("127.0.0.1", [], "", False),
    ("127.0.0.1", [], "127.0.0.1.evil.example", False), ("127.0.0.1", ["Search.LAN"], "search.lan:443", True),
    ("0.0.0.0", [], "anything.example", True), ("0.0.0.0", ["search.lan"], "other.example", False),
    ("192.168.1.5", [], "192.168.1.5:8765", True), ("192.168.1.5", [], "evil.example", False),
    ("127.0.0.1", ["*"], "evil.example", True),
])
def test_host_policy(bind: str, allowed: list[str], host: str, ok: bool) -> None:
    assert HostPolicy(bind, allowed).allows(host) is ok


def test_rate_limit_is_per_key_with_retry_after() -> None:
    client = _guarded(HostPolicy("127.0.0.1", []), rate=1.0, burst=3)
    alice = {"Authorization": "Bearer vsk_alice"}
    assert [client.get("/api/x", headers=alice).status_code for _ in range(3)] == [200, 200, 200]
    r = client.get("/api/x", headers=alice)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "VIDSEEK_RATE_LIMIT" in r.json()["detail"]
    assert client.get("/api/x", headers={"Authorization": "Bearer vsk_bob"}).status_code == 200  # its own bucket
    time.sleep(1.1)
    assert client.get("/api/x", headers=alice).status_code == 200  # refilled


def test_rate_limit_zero_is_off() -> None:
    client = _guarded(HostPolicy("127.0.0.1", []), rate=0, burst=1)
    assert all(client.get("/api/x").status_code == 200 for _ in range(50))
