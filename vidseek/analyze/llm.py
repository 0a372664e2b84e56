"""A client for any OpenAI-compatible chat completions endpoint: Ollama, vLLM, llama.cpp server, OpenAI.

Usage: `ChatClient("http://localhost:11434/v1", "qwen2.5:7b-instruct").complete([{"role": "user", "content": "hi"}])`

- `stream` yields content deltas as the server sends them (Server-Sent Events, `\\n`, `\\r\\n` or `\\r` lines).
- Connect errors, timeouts, dropped connections and HTTP 429/500/502/503/504 are retried with exponential
  backoff and jitter (a `Retry-After` is honoured, capped) -- but never once a stream has yielded text, since
  the caller may already have shown it: that raises LLMError("... the stream broke after N characters ...").
- Other HTTP errors (400, 401, 404...) raise LLMError at once, with the server's own message.
- Timeouts: `timeout` seconds of silence between bytes (connecting: at most 10 s of it); `complete` also
  gives each attempt `timeout` seconds in total, so a server that trickles bytes cannot hold it forever.
- `complete_json(messages, schema)` asks for structured output, which servers spell differently:
  OpenAI, vLLM and Ollama take `response_format: {"type": "json_schema", ...}`; llama-cpp-python's
  server refuses that (a 500 naming response_format) but takes `{"type": "json_object", "schema": ...}`.
  It tries them in that order, then plain JSON mode, then none, and remembers per endpoint what worked.
- `temperature` (VIDSEEK_LLM_TEMPERATURE, default 0) is sent with every request that does not set its own.
- One ChatClient may be shared by threads: it holds one (thread-safe) httpx.Client; the structured-output
  style it learnt is one string, written once.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import time
from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from vidseek.errors import VidseekError

if TYPE_CHECKING:
    from vidseek.settings import Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# How to ask for JSON that follows a schema, best first; "none" = the prompt alone.
STRUCTURED_STYLES = ("json_schema", "json_object+schema", "json_object", "none")
_LEARNT: dict[str, str] = {}  # endpoint URL -> the style that worked there (this process)
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|schema|grammar", re.IGNORECASE)
MAX_WAIT = 8.0  # seconds: the longest single pause between attempts, Retry-After included
_EOL = re.compile(rb"\r\n|\r|\n")


class LLMError(VidseekError):
    """The LLM endpoint failed or refused; the message names the endpoint and what to do.

    Usage: `except LLMError as exc: log(exc.endpoint, exc.status, str(exc))`.
    """

    def __init__(self, message: str, endpoint: str | None = None, status: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class _Transient(Exception):
    """One attempt failed in a way worth retrying; `problem` becomes the LLMError if it was the last."""

    def __init__(self, problem: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(problem)
        self.problem = problem
        self.status = status
        self.retry_after = retry_after


class ChatClient:
    """Chat completions over HTTP with streaming, timeouts and retries.

    Usage: `ChatClient("http://localhost:11434/v1", "qwen2.5:7b").complete([{"role": "user", "content": "hi"}])`
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        temperature: float | None = None,
    ):
        self.settings_prefix = "VIDSEEK_LLM"  # named in error messages; the vision client says VIDSEEK_VLM
        if not base_url.startswith(("http://", "https://")):
            raise LLMError(
                f"the LLM base URL {base_url!r} is not an http(s) URL; "
                f"set {self.settings_prefix}_BASE_URL like http://localhost:11434/v1",
                base_url,
            )
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.max_wait = MAX_WAIT
        self.temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        self._http = httpx.Client(headers=headers, timeout=limits)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatClient | None:
        """The answer LLM, or None when `llm_base_url` is unset: `ChatClient.from_settings(Settings())`."""
        if not settings.llm_base_url:
            return None
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
            temperature=settings.llm_temperature,
        )

    @classmethod
    def vision_from_settings(cls, settings: Settings) -> ChatClient | None:
        """The captioning VLM (`vlm_*`; the key falls back to `llm_api_key`), or None when `vlm_base_url` is unset.

        Usage: `vlm = ChatClient.vision_from_settings(Settings())`.
        """
        if not settings.vlm_base_url:
            return None
        client = cls(
            settings.vlm_base_url,
            settings.vlm_model,
            settings.vlm_api_key or settings.llm_api_key,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
        )
        client.settings_prefix = "VIDSEEK_VLM"
        return client

    def complete(self, messages: list[dict], **params: Any) -> str:
        """The whole reply at once: `client.complete([{"role": "user", "content": "hi"}], temperature=0)`."""
        body = self._body(messages, params, stream=False)
        attempt = 0
        while True:
            try:
                return self._complete_once(body)
            except _Transient as exc:
                self._pause(attempt, exc)
            attempt += 1

    @property
    def structured_style(self) -> str | None:
        """The structured-output style this endpoint took (None until `complete_json` has run)."""
        return _LEARNT.get(self.url)

    def complete_json(self, messages: list[dict], schema: dict[str, Any], name: str = "reply",
                      **params: Any) -> tuple[str, str]:
        """The reply to a request for JSON following `schema`, and the style the server took:
        `text, style = client.complete_json(messages, Plan.model_json_schema(), "plan")`.

        A style the server refuses (an HTTP error naming response_format, json_schema or schema) is
        skipped at once, without retries, and the next is tried; the one that works is remembered
        for this endpoint, so later calls send it first."""
        learnt = _LEARNT.get(self.url)
        styles = STRUCTURED_STYLES[STRUCTURED_STYLES.index(learnt):] if learnt else STRUCTURED_STYLES
        for style in styles:
            extra = _response_format(style, name, schema)
            try:
                text = self._complete_once(self._body(messages, {**params, **extra}, stream=False))
            except (LLMError, _Transient) as exc:
                message = exc.problem if isinstance(exc, _Transient) else str(exc)
                if extra and _FORMAT_WORDS.search(message.split(": ", 1)[-1]) and exc.status not in (401, 403, 429):
                    continue  # this server does not take that spelling
                if isinstance(exc, LLMError):
                    raise
                text = self.complete(messages, **params, **extra)  # a transient failure: the usual retries
            _LEARNT[self.url] = style
            return text, style
        raise LLMError(f"the LLM at {self.url} refused every way of asking for JSON", self.url)  # "none" cannot

    def stream(self, messages: list[dict], **params: Any) -> Iterator[str]:
        """Content deltas as they arrive: `for text in client.stream(messages): print(text, end="")`."""
        body = self._body(messages, params, stream=True)
        sent = 0
        attempt = 0
        while True:
            try:
                with contextlib.closing(self._stream_once(body)) as deltas:
                    for delta in deltas:
                        sent += len(delta)
                        yield delta
                return
            except _Transient as exc:
                if sent:  # the caller may have shown the text already: a retry would repeat it
                    raise LLMError(
                        f"the stream from the LLM at {self.url} broke after {sent} characters: {exc.problem}; "
                        "ask again",
                        self.url,
                        exc.status,
                    ) from exc.__cause__
                self._pause(attempt, exc)
            attempt += 1

    def close(self) -> None:
        """Close the connection pool: `client.close()` (or use `with ChatClient(...) as client:`)."""
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChatClient({self.base_url!r}, {self.model!r})"

    # one attempt -------------------------------------------------------------------------------

    def _body(self, messages: list[dict], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        sampling = {"temperature": self.temperature} if self.temperature is not None else {}
        given = {k: v for k, v in params.items() if v is not None}  # temperature=None: the server's default
        return {"model": self.model, "messages": messages, **sampling, **given, "stream": stream}

    def _complete_once(self, body: dict[str, Any]) -> str:
        deadline = time.monotonic() + self.timeout
        raw = bytearray()
        with self._transport_errors(), self._http.stream("POST", self.url, json=body) as response:
            self._check_status(response)
            for chunk in response.iter_bytes():
                raw += chunk
                if time.monotonic() > deadline:
                    raise _Transient(self._timeout_problem("finish answering"))
        return self._message_content(self._json(bytes(raw)))

    def _stream_once(self, body: dict[str, Any]) -> Iterator[str]:
        with self._transport_errors(), self._http.stream("POST", self.url, json=body) as response:
            self._check_status(response)
            kind = response.headers.get("content-type", "")
            if kind.startswith(("application/json", "text/html")):
                content = self._message_content(self._json(response.read()))  # it ignored "stream": true
                if content:
                    yield content
                return
            finished = yield from self._deltas(_sse_data(_lines(response.iter_bytes())))
        if not finished:
            raise _Transient(f"the LLM at {self.url} ended the stream before it was done")

    def _deltas(self, events: Iterable[str]) -> Generator[str, None, bool]:
        """Content of choice 0 from each SSE data payload; returns whether the stream ended properly."""
        finished = False
        for data in events:
            if data.strip() == "[DONE]":
                return True
            chunk = self._json(data.encode())
            if not isinstance(chunk, dict) or chunk.get("error"):
                raise LLMError(
                    f"the LLM at {self.url} reported an error mid-stream: {_error_text(chunk, str(chunk))}; "
                    "check the server's log and ask again",
                    self.url,
                )
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                content = (choice.get("delta") or {}).get("content")
                if content and isinstance(content, str):
                    yield content
                finished = finished or bool(choice.get("finish_reason"))
        return finished

    def _check_status(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        response.read()
        status = response.status_code
        where = f"the LLM at {self.url} answered HTTP {status}: {_server_message(response)}"
        if status in RETRY_STATUSES:
            raise _Transient(f"{where}; the server is busy or failing, try again later", status, _retry_after(response))
        raise LLMError(f"{where}; {self._hint(status)}", self.url, status)

    def _hint(self, status: int) -> str:
        prefix = self.settings_prefix
        if status in (401, 403):
            return f"check {prefix}_API_KEY"
        if status == 404:
            return (
                f"check {prefix}_BASE_URL (OpenAI-compatible servers answer at .../v1/chat/completions) and that "
                f"the model {self.model!r} ({prefix}_MODEL) exists there (Ollama: `ollama pull {self.model}`)"
            )
        if status in (400, 413, 422):
            return "the server refused the request; if the prompt is too long, lower VIDSEEK_LLM_MAX_CONTEXT_TOKENS"
        return f"check {prefix}_BASE_URL and the server's log"

    @contextlib.contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """httpx failures as _Transient (worth a retry) or LLMError (not)."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Transient(
                f"cannot reach the LLM at {self.url} ({_describe(exc)}); is the server running? "
                f"Check {self.settings_prefix}_BASE_URL (e.g. http://localhost:11434/v1 for Ollama)"
            ) from exc
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
            raise _Transient(self._timeout_problem("answer")) from exc
        except httpx.TransportError as exc:  # dropped connection, broken chunked encoding...
            raise _Transient(f"the connection to the LLM at {self.url} broke ({_describe(exc)})") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"the request to the LLM at {self.url} failed: {_describe(exc)}", self.url) from exc

    def _timeout_problem(self, what: str) -> str:
        prefix = self.settings_prefix
        return (
            f"the LLM at {self.url} did not {what} within the {self.timeout:g} s timeout; the model may still be "
            f"loading or be too slow for this machine: raise {prefix}_TIMEOUT or use a smaller {prefix}_MODEL"
        )

    def _pause(self, attempt: int, exc: _Transient) -> None:
        """Sleep before retry number `attempt + 1`, or raise the final LLMError when none are left."""
        if attempt >= self.retries:
            tries = "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"
            raise LLMError(f"{exc.problem} (gave up after {tries})", self.url, exc.status) from exc.__cause__
        if exc.retry_after is not None:
            delay = min(self.max_wait, exc.retry_after)
        else:
            base = min(self.max_wait, self.backoff * 2**attempt)
            delay = base / 2 + random.uniform(0, base / 2)  # jitter: clients that failed together spread out
        time.sleep(delay)

    def _json(self, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise LLMError(
                f"the LLM at {self.url} did not answer with JSON ({raw[:120]!r}); is {self.settings_prefix}_BASE_URL "
                "an OpenAI-compatible endpoint (it usually ends in /v1)?",
                self.url,
            ) from None

    def _message_content(self, payload: Any) -> str:
        if isinstance(payload, dict) and payload.get("error"):
            raise LLMError(f"the LLM at {self.url} reported an error: {_error_text(payload)}", self.url)
        try:
            content = payload["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMError(
                f"the LLM at {self.url} answered without choices[0].message ({str(payload)[:200]}); "
                f"is {self.settings_prefix}_BASE_URL an OpenAI-compatible chat endpoint?",
                self.url,
            ) from None
        if isinstance(content, list):  # content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content if isinstance(content, str) else ""


def _response_format(style: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    if style == "json_schema":  # OpenAI, vLLM, Ollama
        return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}}
    if style == "json_object+schema":  # llama-cpp-python's server (a grammar made from the schema)
        return {"response_format": {"type": "json_object", "schema": schema}}
    if style == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


# Server-Sent Events ----------------------------------------------------------------------------


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines of an SSE body; a line ends at \\r\\n, \\n or \\r only (str.splitlines would also split at U+2028)."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        end = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)  # that \r may be half of a \r\n
        *lines, rest = _EOL.split(buffer[:end])
        buffer = rest + buffer[end:]
        for line in lines:
            yield line.decode("utf-8", "replace")
    if buffer:
        for line in _EOL.split(buffer):
            yield line.decode("utf-8", "replace")


def _sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each event: `data:` lines joined with \\n; comments and other fields are ignored."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a last event without its blank line
        yield "\n".join(data)


# error details -----------------------------------------------------------------------------------


def _error_text(payload: Any, fallback: str = "") -> str:
    """The server's message: OpenAI `{"error": {"message"}}`, Ollama `{"error": "..."}`, vLLM `{"message"}`."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail"):
            if payload.get(key):
                return str(payload[key])
    return fallback.strip()[:300] or "no details"


def _server_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return _error_text(payload, response.text)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (an HTTP date is ignored: plain backoff then)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(response.headers.get(name, "")) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
