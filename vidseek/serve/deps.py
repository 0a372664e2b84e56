"""FastAPI dependencies: the engine, the job runner, and the tenant behind each request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from vidseek.engine import Engine, Tenant
from vidseek.serve.auth import COOKIE, Authenticator
from vidseek.serve.jobs import JobRunner


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def request_key(request: Request) -> str | None:
    """The API key from `Authorization: Bearer`, `X-API-Key`, or the web page's cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE) or None


def current_tenant(request: Request) -> Tenant:
    authenticator: Authenticator = request.app.state.auth
    client = request.client.host if request.client else None
    name, why = authenticator.tenant(request_key(request), client)
    if name is None:
        raise HTTPException(401, why, headers={"WWW-Authenticate": "Bearer"})
    return request.app.state.engine.tenant(name)


EngineDep = Annotated[Engine, Depends(get_engine)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
