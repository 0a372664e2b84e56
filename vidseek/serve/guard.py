"""What every request passes before a route sees it: the Host and Origin it claims, and its rate.

- **Host** (DNS rebinding): a page on a hostile domain that resolves to 127.0.0.1 reaches a
  loopback server with `Host: evil.example`. A server bound to loopback answers only to loopback
  names and addresses, its bind address and VIDSEEK_ALLOWED_HOSTS; others get 421.
- **Origin** (cross-site requests): a POST or DELETE from a browser page must come from the same
  origin as its Host, or from an allowed host; others get 403. Requests without Origin (the CLI,
  curl, scripts) are not browsers' cross-site requests and pass.
- **Rate**: a token bucket per API key (per session, or per client address without one):
  VIDSEEK_RATE_LIMIT requests a second, bursts of VIDSEEK_RATE_BURST. Over it: 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from vidseek.serve.auth import COOKIE

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_BUCKETS = 10_000


def host_name(authority: str) -> str:
    """'Example.org:8765' -> 'example.org', '[::1]:80' -> '::1'."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    if authority.count(":") == 1:
        return authority.split(":", 1)[0]
    return authority


def _loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """Which Host headers a server answers to: `HostPolicy("127.0.0.1", ["search.lan"]).allows("search.lan:80")`."""

    def __init__(self, bind_host: str, allowed: list[str]):
        self.allowed = {host_name(h) for h in allowed if h != "*"}
        self.any = "*" in allowed
        bind = host_name(bind_host)
        self.loopback = _loopback_name(bind)
        if bind not in ("0.0.0.0", "::", ""):
            self.allowed.add(bind)
        # Bound to every interface with no names configured: clients reach it by addresses and names
        # this process cannot know, and keys are required there, so any Host is answered.
        self.open = self.any or (not self.loopback and not allowed and bind in ("0.0.0.0", "::", ""))

    def allows(self, authority: str) -> bool:
        if self.open:
            return True
        name = host_name(authority)
        return name in self.allowed or _loopback_name(name)


class Guard:
    """ASGI middleware applying HostPolicy, the Origin rule and the rate limit (to /api only)."""

    def __init__(self, app, policy: HostPolicy, rate: float, burst: int):
        self.app = app
        self.policy = policy
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # who -> (tokens, when)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        refusal = self._refusal(scope["method"], host, headers.get("origin"))
        if refusal is None and self.rate > 0 and scope["path"].startswith("/api/"):
            wait = self._take(self._who(scope, headers))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                refusal = JSONResponse(
                    {"detail": f"too many requests: this key may send {self.rate:g} a second (bursts of "
                               f"{self.burst}; VIDSEEK_RATE_LIMIT, VIDSEEK_RATE_BURST); retry in {seconds} s"},
                    status_code=429, headers={"Retry-After": str(seconds)})
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, method: str, host: str, origin: str | None) -> JSONResponse | None:
        if not self.policy.allows(host):
            shown = host_name(host)[:100] or "(none)"
            return JSONResponse({"detail": f"this server does not answer to host {shown!r}; if that name is "
                                 "yours, add it to VIDSEEK_ALLOWED_HOSTS"}, status_code=421)
        if origin is not None and method in _UNSAFE and not self._same_or_allowed(origin, host):
            return JSONResponse({"detail": f"cross-site request from origin {origin[:100]!r} refused; if that "
                                 "site is yours, add its host to VIDSEEK_ALLOWED_HOSTS"}, status_code=403)
        return None

    def _same_or_allowed(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin)
        if not parts.scheme or not parts.netloc:  # "null" (sandboxed frames, file:// pages) and junk
            return False
        if parts.netloc.lower() == host.strip().lower():
            return True
        name = host_name(parts.netloc)
        return self.policy.any or name in self.policy.allowed

    def _who(self, scope, headers: dict[str, str]) -> str:
        token = headers.get("authorization") or headers.get("x-api-key") or _cookie(headers.get("cookie", ""))
        if token:
            return "k" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
        client = scope.get("client")
        return "a" + (client[0] if client else "?")

    def _take(self, who: str) -> float:
        """Take one token; 0 if there was one, else the seconds until there is."""
        now = time.monotonic()
        tokens, then = self._buckets.get(who, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= _MAX_BUCKETS and who not in self._buckets:
            self._forget(now)
        self._buckets[who] = (tokens - 1, now)
        return 0.0

    def _forget(self, now: float) -> None:
        """Drop buckets that have refilled (they hold no state worth keeping)."""
        full = self.burst / self.rate
        self._buckets = {w: (t, at) for w, (t, at) in self._buckets.items() if now - at < full}
        if len(self._buckets) >= _MAX_BUCKETS:  # a flood of distinct clients: start over rather than grow
            self._buckets.clear()


def _cookie(header: str) -> str | None:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None
