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
    """The API key from `Authorization: Bearer` or `X-API-Key`."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def current_tenant(request: Request) -> Tenant:
    authenticator: Authenticator = request.app.state.auth
    client = request.client.host if request.client else None
    name, why = authenticator.tenant(request_key(request), client, request.cookies.get(COOKIE))
    if name is None:
        raise HTTPException(401, why, headers={"WWW-Authenticate": "Bearer"})
    return request.app.state.engine.tenant(name)


def check_text_length(request: Request, field: str, text: str | None) -> None:
    """422 for a search text or question longer than VIDSEEK_MAX_QUERY_CHARS (the OpenAPI maxLength)."""
    limit = request.app.state.settings.max_query_chars
    if text is not None and len(text) > limit:
        raise HTTPException(422, f"invalid request: {field}: {len(text):,} characters; at most {limit:,} are "
                                 "accepted (VIDSEEK_MAX_QUERY_CHARS)")


EngineDep = Annotated[Engine, Depends(get_engine)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
def is_owner(request: Request) -> bool:
    """Whether the request carries the resident search process's token: the data dir's owner, the
    local CLI, which is shown what a local run shows (file paths)."""
    return request.app.state.auth.is_owner(request_key(request))


CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
