"""A small HTTP client for a running vidseek server, used by the CLI (`vidseek search --server URL`).

When a server owns a data dir it writes `server.json` there; `running_server` reads it so the CLI
can send its searches to the server instead of failing on the data dir lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidseek.errors import VidseekError
from vidseek.store.lock import SERVER_FILE, server_info

__all__ = ["SERVER_FILE", "Client", "ServerUnreachable", "running_server"]


class ServerUnreachable(VidseekError):
    """No connection to the server (it is gone, or not listening)."""


def running_server(data_dir: Path) -> str | None:
    """URL of the live server that owns `data_dir`, or None (no server, or it died without cleaning up)."""
    info = server_info(data_dir)
    return info["url"] if info else None


class Client:
    """Usage: `Client("http://127.0.0.1:8765", key).search({"q": "red car"})`."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0):
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ServerUnreachable(f"cannot reach the vidseek server at {self.url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise VidseekError(f"cannot reach the vidseek server at {self.url}: {exc}") from None
        if response.status_code >= 400:
            self._raise_for(response)
        return response.json() if response.content else None

    def _raise_for(self, response: Any) -> None:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:200]
        raise VidseekError(f"server {self.url} answered {response.status_code}: {detail}")

    def library_id(self, name: str) -> int:
        for lib in self._call("GET", "/api/libraries"):
            if lib["name"] == name:
                return lib["id"]
        raise VidseekError(f"the server has no library named {name!r}")

    def search(self, fields: dict[str, Any], image: Path | None = None, library: str | None = None,
               face: Path | None = None, clip: Path | None = None) -> dict:
        """POST /api/search with the given SearchIn fields (None values are left out), and an example
        image, a face photo or a clip as files."""
        body = {k: v for k, v in fields.items() if v is not None}
        if library:
            body["library_id"] = self.library_id(library)
        given = {name: path for name, path in (("image", image), ("face", face), ("clip", clip)) if path is not None}
        if not given:
            return self._call("POST", "/api/search", json=body)
        form = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in body.items()}
        files = {}
        for name, path in given.items():
            try:
                files[name] = (Path(path).name, Path(path).read_bytes())
            except OSError as exc:
                raise VidseekError(f"{path}: cannot read the {name} file ({exc.strerror})") from None
        return self._call("POST", "/api/search", data=form, files=files)

    def ask(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST /api/ask as Server-Sent Events: each event's JSON (`plan`, `citations`, `delta`...,
        `done`); an `error` event becomes a VidseekError."""
        import httpx

        try:
            with self.http.stream("POST", "/api/ask", json={**body, "stream": True}) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response)
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        event = json.loads("\n".join(data))
                        data = []
                        if event.get("type") == "error":
                            raise VidseekError(f"server {self.url}: {event.get('detail')}")
                        yield event
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ServerUnreachable(f"cannot reach the vidseek server at {self.url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise VidseekError(f"cannot reach the vidseek server at {self.url}: {exc}") from None

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict | None = None) -> Any:
        return self._call("POST", path, json=body or {})
