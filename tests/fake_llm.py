"""A real OpenAI-compatible chat server for tests: real HTTP, real SSE streaming, deterministic replies.

Usage:
    with FakeLLM(reply=lambda request: "hello there") as fake:
        fake.script(fail(503), hang(2), reply("scripted"))   # one behaviour per request, then `reply`
        ChatClient(fake.url, "m").complete([{"role": "user", "content": "hi"}])
        fake.requests[-1].json["messages"]                    # what the client sent

Streams are chunked `text/event-stream`: a role-only chunk, content deltas of `chunk_size` characters,
a finish_reason chunk, `data: [DONE]`. `crlf=True` ends SSE lines with \\r\\n; `quirks=True` adds comments,
`event:`/`id:` fields, empty and null deltas, and data split over several `data:` lines.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    """What the server does for one request; made by `reply`, `fail`, `hang`, `drop_after`, `error_chunk`."""

    text: str | None = None  # the reply; None = the FakeLLM's `reply` callable
    status: int = 200
    body: Any = None  # error body: dict (sent as JSON) or str (sent as is)
    retry_after: str | None = None
    hang: float = 0.0  # seconds of silence before the response
    delay: float = 0.0  # seconds between stream chunks (or body pieces when not streaming)
    drop_after: int | None = None  # cut the connection after this many content chunks
    error_after: int | None = None  # stream an {"error": ...} event after this many content chunks


def reply(text: str, delay: float = 0.0) -> Behaviour:
    """Answer `text` (`delay` s between chunks)."""
    return Behaviour(text=text, delay=delay)


def fail(status: int, body: Any = None, retry_after: float | str | None = None) -> Behaviour:
    """Answer HTTP `status` with `body` (default: OpenAI's `{"error": {"message": ...}}`)."""
    body = {"error": {"message": f"fake failure {status}", "type": "fake"}} if body is None else body
    return Behaviour(status=status, body=body, retry_after=None if retry_after is None else str(retry_after))


def hang(seconds: float, text: str | None = None) -> Behaviour:
    """Say nothing for `seconds`, then answer normally (the client has usually given up by then)."""
    return Behaviour(text=text, hang=seconds)


def drop_after(n_chunks: int, text: str | None = None) -> Behaviour:
    """Close the connection after `n_chunks` content chunks (non-streaming: after part of the body)."""
    return Behaviour(text=text, drop_after=n_chunks)


def error_chunk(message: str, after: int = 1) -> Behaviour:
    """Stream `after` content chunks, then an `{"error": {"message": message}}` event."""
    return Behaviour(text=message, error_after=after)


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any = None


def echo(request: dict) -> str:
    """The default reply: `echo: <text of the last message>`."""
    content = (request.get("messages") or [{}])[-1].get("content", "")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return f"echo: {content}"


@dataclass
class FakeLLM:
    reply: Callable[[dict], str] = echo
    chunk_size: int = 3
    crlf: bool = False
    quirks: bool = False
    # Structured-output spellings it takes ("json_schema", "json_object+schema", "json_object"); others get
    # the 500 llama-cpp-python's server answers. None = it takes any.
    response_formats: tuple[str, ...] | None = None
    requests: list[Request] = field(default_factory=list)
    _queue: list[Behaviour] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, one per coming request; when the queue is empty, `reply` answers."""
        with self._lock:
            self._queue.extend(behaviours)

    def __enter__(self) -> FakeLLM:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.block_on_close = False  # do not wait for keep-alive connections on close
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _take(self, request: Request) -> Behaviour:
        with self._lock:
            self.requests.append(request)
            return self._queue.pop(0) if self._queue else Behaviour()


def _format_style(fmt: Any) -> str | None:
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return "json_object+schema" if "schema" in fmt else "json_object"
    return str(fmt.get("type"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # idle keep-alive connections end

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        fake: FakeLLM = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        payload = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        how = fake._take(Request(self.path, headers, payload))
        try:
            if self.path != "/v1/chat/completions":
                return self._json(404, {"error": {"message": f"no route {self.path}"}})
            style = _format_style(payload.get("response_format")) if isinstance(payload, dict) else None
            if style and fake.response_formats is not None and style not in fake.response_formats:
                return self._json(500, {"error": {"message": f"1 validation error for CreateChatCompletionRequest\n"
                                                  f"response_format: {style} is not supported", "type": "internal"}})
            if how.hang and fake._stop.wait(how.hang):  # shutting down
                self.close_connection = True
                return
            if how.status != 200:
                extra = {"Retry-After": how.retry_after} if how.retry_after else {}
                return self._json(how.status, how.body, extra)
            text = how.text if how.text is not None else fake.reply(payload)
            if payload.get("stream"):
                return self._stream(fake, how, text, payload)
            self._complete(how, text, payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first
            self.close_connection = True

    def _json(self, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _complete(self, how: Behaviour, text: str, payload: dict) -> None:
        message = {"role": "assistant", "content": text}
        body = _envelope(payload, "chat.completion", {"index": 0, "message": message, "finish_reason": "stop"})
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        pieces = [data[i : i + 16] for i in range(0, len(data), 16)] if how.delay or how.drop_after else [data]
        for n, piece in enumerate(pieces):
            if how.drop_after is not None and n >= how.drop_after:
                self.close_connection = True
                return
            self.wfile.write(piece)
            time.sleep(how.delay)

    def _stream(self, fake: FakeLLM, how: Behaviour, text: str, payload: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        eol = "\r\n" if fake.crlf else "\n"

        def send(data: Any, fields: str = "") -> None:
            lines = json.dumps(data, indent=1 if fake.quirks else None).split("\n") if data != "[DONE]" else [data]
            event = fields + "".join(f"data: {line}{eol}" for line in lines) + eol
            raw = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
            self.wfile.flush()

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return _envelope(payload, "chat.completion.chunk", {"index": 0, "delta": delta, "finish_reason": finish})

        send(chunk({"role": "assistant"}), f": keep-alive{eol}event: message{eol}id: 1{eol}" if fake.quirks else "")
        if fake.quirks:
            send(chunk({"content": ""}))
            send(chunk({"content": None}))
        pieces = [text[i : i + fake.chunk_size] for i in range(0, len(text), fake.chunk_size)]
        for n, piece in enumerate(pieces):
            if n == how.drop_after:
                self.close_connection = True  # no terminating chunk: the client sees a broken body
                return
            if n == how.error_after:
                send({"error": {"message": text, "type": "fake"}})
                break
            send(chunk({"content": piece}))
            time.sleep(how.delay)
        else:
            send(chunk({}, "stop"))
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")


def _envelope(payload: dict, kind: str, choice: dict) -> dict:
    model = payload.get("model", "fake-model")
    return {"id": "fake-1", "object": kind, "created": int(time.time()), "model": model, "choices": [choice]}
