"""A local HTTP server that answers the Hugging Face hub's URL scheme for folders on disk.

What the installed huggingface_hub asks for (read from its snapshot_download, hf_hub_download,
HfApi.repo_info and list_repo_tree):

    GET  /api/models/{repo}[/revision/{rev}]         repo info: "sha" (the commit) and "siblings"
    GET  /api/models/{repo}/tree/{rev}[/{path}]       file list: type, path, size, oid (one page)
    HEAD /{repo}/resolve/{rev}/{path}                metadata: X-Repo-Commit, ETag, Content-Length
    GET  /{repo}/resolve/{rev}/{path}                the bytes

Older huggingface_hub versions list files from "siblings", newer ones from the tree. Unknown
repos and files get a 404 with the X-Error-Code the client maps to RepositoryNotFoundError /
EntryNotFoundError. Every request is logged in `requests` as (method, path).

Usage:
    with HubServer({"org/model": folder}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_API = re.compile(r"^/api/models/([^/]+/[^/]+?)(?:/(revision|tree)/([^/]+)(/.*)?)?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class HubServer:
    """Serves `repos` ({repo_id: folder}) at `url` on a free loopback port, in a thread."""

    def __init__(self, repos: dict[str, Path]):
        self.repos = {repo: _files(Path(folder)) for repo, folder in repos.items()}
        self.commits = {repo: hashlib.sha1(repr(sorted((n, _sha256(p)) for n, p in files.items())).encode())
                        .hexdigest() for repo, files in self.repos.items()}  # fmt: skip
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def downloaded(self) -> set[str]:
        """Repo-relative paths whose bytes were sent (GET on resolve)."""
        found = set()
        for method, path in self.requests:
            match = _RESOLVE.match(path)
            if method == "GET" and match:
                found.add(urllib.parse.unquote(match.group(3)))
        return found

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = urllib.parse.urlsplit(self.path).path
                server.requests.append((self.command, path))
                if (match := _API.match(path)) is not None:
                    return self._api(*match.groups())
                if (match := _RESOLVE.match(path)) is not None:
                    return self._resolve(match.group(1), urllib.parse.unquote(match.group(3)), body)
                self._error(404, "RepoNotFound", "no such route")

            def _api(self, repo: str, kind: str | None, revision: str | None, sub: str | None) -> None:
                if repo not in server.repos:
                    return self._error(404, "RepoNotFound", f"Repository {repo} not found")
                files = server.repos[repo]
                if kind == "tree":
                    prefix = urllib.parse.unquote(sub or "").strip("/")
                    entries = [{"type": "file", "path": name, "size": p.stat().st_size, "oid": _sha256(p)[:40]}
                               for name, p in files.items() if not prefix or name.startswith(prefix + "/")]  # fmt: skip
                    return self._json(repo, entries)
                info = {"id": repo, "modelId": repo, "sha": server.commits[repo], "private": False,
                        "siblings": [{"rfilename": name} for name in files]}  # fmt: skip
                self._json(repo, info)

            def _resolve(self, repo: str, name: str, body: bool) -> None:
                if repo not in server.repos:
                    return self._error(404, "RepoNotFound", f"Repository {repo} not found")
                path = server.repos[repo].get(name)
                if path is None:
                    return self._error(404, "EntryNotFound", f"{name} does not exist", repo)
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", server.commits[repo])
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _json(self, repo: str, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("X-Repo-Commit", server.commits[repo])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str, repo: str | None = None) -> None:
                data = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                if repo is not None:
                    self.send_header("X-Repo-Commit", server.commits[repo])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)

        return Handler
