"""The FastAPI application: REST API under /api, the web page at /, OpenAPI at /docs.

    app = create_app(Settings(data_dir="./data"))   # run with uvicorn; `vidseek serve` does it

One process owns the data dir (Milvus Lite allows no other); indexing runs in a worker thread of
that process, searches in the request threads. While it runs, `server.json` in the data dir tells
the CLI where to send its requests.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import vidseek
from vidseek.analyze.llm import ChatClient
from vidseek.engine import Engine
from vidseek.errors import (
    ConflictError,
    MediaError,
    NotFoundError,
    QueryError,
    StoreError,
    UnreadableImage,
    VidseekError,
)
from vidseek.serve import openapi
from vidseek.serve import resident as resident_mode
from vidseek.serve.auth import Authenticator
from vidseek.serve.guard import Guard, HostPolicy
from vidseek.serve.jobs import JobRunner
from vidseek.serve.routes import ask, jobs, libraries, people, search, session, status, videos
from vidseek.serve.safety import PathRejected, UploadRejected
from vidseek.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

def create_app(settings: Settings, bound_to_loopback: bool = True, url: str | None = None,
               bind_host: str = "127.0.0.1", resident_idle: float | None = None) -> FastAPI:
    """The app for one data dir; `url` is written to server.json for the CLI to find. With
    `resident_idle` it is the CLI's resident search process (see `vidseek.serve.resident`): it stops
    after that many idle seconds and takes the token in server.json as the default tenant's."""
    token = resident_mode.new_token() if resident_idle is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(settings, resident=resident_idle is not None)
        try:
            engine.store  # noqa: B018 - open Milvus now, not in the first request
            app.state.engine = engine
            app.state.auth = Authenticator(engine.catalog, bound_to_loopback, resident_token=token)
            app.state.runner = JobRunner(engine)
            app.state.llm = ChatClient.from_settings(settings)  # None: extractive answers
            if resident_idle is None:  # the CLI's resident process only searches: jobs wait for `vidseek serve`
                app.state.runner.start()
            else:
                _warm_up(engine)  # before server.json: the CLI's first search waits for this, not a timeout
            marker = None
            if url:
                info: dict = {"url": url, "pid": os.getpid()}
                if token is not None:
                    info |= {"resident": True, "token": token, "idle_seconds": resident_idle,
                             "env": resident_mode.env_key()}
                marker = resident_mode.write_marker(settings.data_dir, info)
            idle = None
            if resident_idle is not None and activity is not None:
                idle = resident_mode.IdleStop(activity, resident_idle, lambda: app.state.runner.busy)
                idle.start()
            try:
                yield
            finally:
                if idle is not None:
                    idle.close()
                if marker is not None and _ours(marker):
                    marker.unlink(missing_ok=True)
                app.state.runner.stop()
                if app.state.llm is not None:
                    app.state.llm.close()
        finally:
            engine.close()

    app = FastAPI(title="vidseek", version=vidseek.__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Multimodal video search: find the moments that match a sentence or an image.")
    app.state.settings = settings
    app.state.max_upload_bytes = settings.max_upload_mb * 1024 * 1024
    for module in (session, libraries, videos, jobs, search, ask, people, status):
        app.include_router(module.router, prefix="/api")
    _add_error_handlers(app)
    app.add_middleware(UploadLimit, max_bytes=app.state.max_upload_bytes)
    app.add_middleware(Guard, policy=HostPolicy(bind_host, settings.allowed_hosts), rate=settings.rate_limit,
                       burst=settings.rate_burst)  # runs first (but for the resident's activity count)
    activity = None
    if resident_idle is not None:  # added last: outermost, every request counts as activity
        activity = resident_mode.Activity()
        app.add_middleware(resident_mode.ActivityMiddleware, activity=activity)
    openapi.install(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    _add_docs(app)
    return app


def _warm_up(engine: Engine) -> None:
    """Load the collections and the query models with one search (a reopened Lite file of 100k
    segments takes about a minute to load); a failure here is the first real search's to report."""
    try:
        engine.store.warm()
        engine.tenant().search("warm up").limit(1).to_list()
    except Exception:  # noqa: BLE001 - the same error reaches the first request, with its handler
        log.warning("warming up the resident search process failed", exc_info=True)


def _ours(marker: Path) -> bool:
    """Whether server.json is still this process's (a newer server may have replaced it)."""
    try:
        return json.loads(marker.read_text()).get("pid") == os.getpid()
    except (OSError, ValueError, AttributeError):
        return False


def _add_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts served from this server, not a CDN:
    self-hosted machines are often offline."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-static", StaticFiles(directory=assets), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="vidseek API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="vidseek API",
                              redoc_js_url="/docs-static/redoc.standalone.js", with_google_fonts=False)


_STATUS = ((UnreadableImage, 415), (NotFoundError, 404), (ConflictError, 409), (QueryError, 400), (MediaError, 400),
           (StoreError, 503))


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is `{"detail": "<sentence>"}`; server paths and tracebacks stay in the server log."""

    @app.exception_handler(VidseekError)
    async def domain_error(request: Request, exc: VidseekError) -> JSONResponse:
        status = exc.status if isinstance(exc, (UploadRejected, PathRejected)) else next(
            (code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        message = exc.problem if isinstance(exc, MediaError) else str(exc)  # MediaError text starts with the path
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        detail = "invalid request: " + "; ".join(parts)
        detail = detail.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate in a field name
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the methods of one route; a path may have several
            methods = _methods_for(request)
            headers["Allow"] = ", ".join(methods)
            listed = methods[0] if len(methods) == 1 else f"{', '.join(methods[:-1])} or {methods[-1]}"
            detail = f"{request.method} is not allowed here; use {listed}"
            return JSONResponse({"detail": detail}, status_code=405, headers=headers)
        detail = str(exc.detail).encode("utf-8", "replace").decode("utf-8")  # user text may hold lone surrogates
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error; the server log has the details"}, status_code=500)


def _methods_for(request: Request) -> list[str]:
    """Every method the OpenAPI document names for this request's path (what Allow must list)."""
    app = request.app
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = [(re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
                  {m.upper() for m in item})
                 for path, item in app.openapi().get("paths", {}).items()]
        app.state.allow_table = table
    methods = set().union(*(m for rx, m in table if rx.match(request.url.path)))
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods) or ["GET", "HEAD"]


class UploadLimit:
    """ASGI middleware: refuse an upload as soon as its body passes the size limit, before the
    multipart parser spools it all to disk (Content-Length is checked first, then the bytes)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.allowed = max_bytes + 1024 * 1024  # room for the multipart framing

    def _message(self) -> str:
        return f"upload larger than the {self.max_bytes // (1024 * 1024)} MB limit (VIDSEEK_MAX_UPLOAD_MB)"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/uploads"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.allowed:
            await JSONResponse({"detail": self._message()}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.allowed:
                raise UploadRejected(self._message(), 413)
            return message

        await self.app(scope, counted, send)
