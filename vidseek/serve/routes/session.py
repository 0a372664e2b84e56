"""Health, the web page's session cookie, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import Field

import vidseek
from vidseek.serve.auth import COOKIE, SESSION_SECONDS, hash_key, new_session
from vidseek.serve.deps import CurrentTenant, EngineDep
from vidseek.serve.schemas import StrictJSON, Text, errors

router = APIRouter(tags=["session"])


class KeyIn(StrictJSON):
    key: Text = Field(max_length=200)


@router.get("/health")
def health(request: Request) -> dict:
    """Liveness, version, and whether this server wants a key ("key") or is in single-user mode ("local")."""
    mode = "local" if request.app.state.auth.local_mode() else "key"
    return {"status": "ok", "version": vidseek.__version__, "auth": mode}


@router.post("/session", status_code=204, responses=errors(401))
def login(body: KeyIn, engine: EngineDep, request: Request) -> Response:
    """Check a key and start a session: an HttpOnly cookie holding an opaque, revocable id (not the key),
    so thumbnails and video work in the browser. `Secure` when the request came over TLS."""
    session = new_session(engine.catalog, body.key)
    if session is None:
        raise HTTPException(401, "invalid API key")
    response = Response(status_code=204)
    response.set_cookie(COOKIE, session, httponly=True, samesite="strict", secure=_over_tls(request),
                        max_age=SESSION_SECONDS, path="/")
    return response


def _over_tls(request: Request) -> bool:
    """https here, or behind a proxy that said so (uvicorn's --proxy-headers sets the scheme from
    X-Forwarded-Proto for trusted proxies; VIDSEEK_COOKIE_SECURE=true forces it)."""
    return request.url.scheme == "https" or request.app.state.settings.cookie_secure


@router.delete("/session", status_code=204)
def logout(request: Request, engine: EngineDep) -> Response:
    """End the session (the id stops working on the server, not just in this browser)."""
    session = request.cookies.get(COOKIE)
    if session:
        engine.catalog.end_session(hash_key(session))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/me")
def me(tenant: CurrentTenant) -> dict:
    return {"tenant": tenant.name}
