"""The resident search process: `vidseek search` answers in a fraction of a second because the
models and the store stay open in a small server that the CLI starts on demand.

    info = ensure(settings)          # the live one, or a new `vidseek serve --resident`, or None
    Client(info["url"], info["token"]).search({"q": "red car"})

- It listens on a free loopback port and writes `server.json` (url, pid, "resident", a random token,
  mode 0600) into the data dir once its store is open; the CLI sends the token, which stands for the
  data dir's default tenant exactly as a local run does.
- It stops after `VIDSEEK_RESIDENT_IDLE` seconds without a request (and no indexing job running),
  and at once when another process needs the data dir (`DataDirLock` sends it SIGTERM): `vidseek
  index`, `vidseek serve`, or a Python script never find the data dir taken by it.
- A kill -9 leaves a stale server.json whose pid is gone (ignored) and no lock (the kernel drops it).
- Several terminals at once: `resident.lock` lets one of them start it; the others wait for it.
- It runs with the settings of the terminal that started it. Its server.json holds `env_key()` of
  them (the vidseek version and the VIDSEEK_* variables); a command run with other settings (say a
  new VIDSEEK_LLM_BASE_URL) stops it and starts one with its own, never gets answers from the old.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from vidseek.store.lock import SERVER_FILE, DataDirLock, server_info

START_LOCK = "resident.lock"
LOG_FILE = "resident.log"
# Opening the store of a big data dir and loading the query models (100k segments: about 70 s here,
# most of it Milvus Lite loading its collections), on a loaded machine.
START_TIMEOUT = 600.0
# What the client side reads, not the resident: changing these does not need a new resident.
_CLIENT_SIDE = frozenset({"VIDSEEK_DATA_DIR", "VIDSEEK_RESIDENT_IDLE", "VIDSEEK_API_KEY", "VIDSEEK_SERVER"})


def env_key(environ: dict[str, str] | None = None) -> str:
    """A digest of what a resident's answers depend on besides the data: the vidseek version and
    every VIDSEEK_* variable the server reads."""
    from vidseek import __version__

    environ = os.environ if environ is None else environ
    items = sorted((k, v) for k, v in environ.items() if k.startswith("VIDSEEK_") and k not in _CLIENT_SIDE)
    return hashlib.sha256(json.dumps([__version__, items]).encode()).hexdigest()[:16]


def usable(info: dict[str, Any] | None) -> bool:
    """A live server's info that this process may send its requests to: any `vidseek serve`, and a
    resident one started with this process's settings."""
    return info is not None and (not info.get("resident") or info.get("env") == env_key())


def ensure(data_dir: Path, idle: float, timeout: float = START_TIMEOUT,
           on_start: Any = None) -> dict[str, Any] | None:
    """server.json of the live server for `data_dir` (resident or not), starting a resident one if
    none runs; None when none could be started (the data dir is busy, or the process failed: its
    output is in resident.log), so the caller opens the data dir itself and reports what it finds.
    `on_start()` is called when this call starts one (the CLI says so: it can take a while)."""
    info = server_info(data_dir)
    if usable(info):
        return info
    if idle <= 0:
        return None  # none, or a resident with other settings: the caller opens the data dir (it yields)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:  # one terminal starts it; the others wait here, then find it running
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return server_info(data_dir)
                time.sleep(0.05)
        info = server_info(data_dir)
        if usable(info):
            return info
        if info is not None:  # a resident started with other settings (or an older vidseek)
            stop(data_dir)
        if DataDirLock(data_dir).busy():  # indexing (or a script) has it: a resident could not open it
            return None
        if on_start is not None:
            on_start()
        return _start(data_dir, deadline)
    finally:
        os.close(fd)


def _start(data_dir: Path, deadline: float) -> dict[str, Any] | None:
    log = open(data_dir / LOG_FILE, "wb")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidseek.cli", "serve", "--resident", "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "VIDSEEK_DATA_DIR": str(data_dir)})
    finally:
        log.close()
    while time.monotonic() < deadline:
        info = server_info(data_dir)
        if info is not None and info.get("pid") == proc.pid:
            return info
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def forget(data_dir: Path, info: dict[str, Any]) -> bool:
    """After a failed connection to the resident process `info`: True when it is gone (killed, or its
    pid reused by another program) and its server.json was removed, so `ensure` starts a new one."""
    if not info.get("resident"):
        return False
    if server_info(data_dir) == info and DataDirLock(data_dir).busy():
        return False  # still alive and holding the data dir: a real connection problem
    # gone (killed), stopping (the next open waits for it), or its pid reused by another program
    marker = data_dir / SERVER_FILE
    try:
        if json.loads(marker.read_text()) == info:
            marker.unlink()
    except (OSError, ValueError):
        pass
    return True


def stop(data_dir: Path, wait: float = 30.0) -> bool:
    """Stop the resident process of `data_dir` if one runs; True when one was stopped."""
    info = server_info(data_dir)
    if info is None or not info.get("resident"):
        return False
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    return False


def new_token() -> str:
    return "vsr_" + secrets.token_urlsafe(32)


def write_marker(data_dir: Path, info: dict[str, Any]) -> Path:
    """server.json, readable by the data dir's owner only when it holds a token; written whole."""
    marker = data_dir / SERVER_FILE
    tmp = marker.with_name(f".{SERVER_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if "token" in info else 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, marker)
    return marker


class Activity:
    """When the last request ended, and how many are in flight (fed by `ActivityMiddleware`)."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.in_flight = 0
        self.lock = threading.Lock()


class ActivityMiddleware:
    """ASGI middleware: counts every HTTP request into `activity`."""

    def __init__(self, app: Any, activity: Activity):
        self.app = app
        self.activity = activity

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        a = self.activity
        with a.lock:
            a.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with a.lock:
                a.in_flight -= 1
                a.last = time.monotonic()


class IdleStop:
    """Sends this process SIGTERM (uvicorn's graceful stop) after `idle` seconds with no request in
    flight and `busy()` false (an indexing job keeps it up)."""

    def __init__(self, activity: Activity, idle: float, busy: Any, poll: float = 1.0):
        self.activity, self.idle, self.busy, self.poll = activity, idle, busy, poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidseek-idle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(min(self.poll, self.idle)):
            if self.activity.in_flight or self.busy():
                self.activity.last = time.monotonic()
            elif time.monotonic() - self.activity.last >= self.idle:
                os.kill(os.getpid(), signal.SIGTERM)
                return
