"""Health, the web page's session cookie, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

import vidseek
from vidseek.serve.auth import COOKIE, hash_key
from vidseek.serve.deps import CurrentTenant, EngineDep

router = APIRouter(tags=["session"])


class KeyIn(BaseModel):
    key: str


@router.get("/health")
def health(request: Request) -> dict:
    """Liveness, version, and whether this server wants a key ("key") or is in single-user mode ("local")."""
    mode = "local" if request.app.state.auth.local_mode() else "key"
    return {"status": "ok", "version": vidseek.__version__, "auth": mode}


@router.post("/session", status_code=204)
def login(body: KeyIn, engine: EngineDep, request: Request) -> Response:
    """Check a key and keep it in an HttpOnly cookie, so thumbnails and video work in the browser."""
    if engine.catalog.tenant_for_key(hash_key(body.key)) is None:
        raise HTTPException(401, "invalid API key")
    response = Response(status_code=204)
    response.set_cookie(COOKIE, body.key, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        max_age=30 * 24 * 3600)
    return response


@router.delete("/session", status_code=204)
def logout() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE)
    return response


@router.get("/me")
def me(tenant: CurrentTenant) -> dict:
    return {"tenant": tenant.name}
