"""Start a real `vidseek serve` in a subprocess for tests that speak HTTP to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

VIDSEEK = [sys.executable, "-m", "vidseek.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*VIDSEEK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class Server:
    """`with Server(data, env) as s: s.client(key).get("/api/health")`."""

    def __init__(self, data: Path, env: dict[str, str] | None = None, host: str = "127.0.0.1"):
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / f"server-{self.port}.log"
        data.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*VIDSEEK, "serve", "-d", str(data), "--host", host, "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready in {timeout} s: {self.log.read_text()}")

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def wait_jobs(self, key: str | None, timeout: float = 240) -> list[dict]:
        """Until no job of the tenant is queued or running; returns the jobs."""
        deadline = time.monotonic() + timeout
        with self.client(key) as c:
            while time.monotonic() < deadline:
                jobs = c.get("/api/jobs").json()
                if not any(j["state"] in ("queued", "running") for j in jobs):
                    return jobs
                time.sleep(0.5)
        raise TimeoutError(f"jobs still running after {timeout} s: {jobs}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_key(data: Path, tenant: str, *extra: str, env: dict | None = None) -> str:
    done = cli("keys", "create", "--tenant", tenant, "-d", str(data), *extra, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]
