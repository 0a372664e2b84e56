"""Ask the library: an answer with timestamped citations, streamed as Server-Sent Events.

`POST /api/ask {"question": "...", "library_id": 3}` answers `text/event-stream` with one event per
step (`plan`, `citations`, `delta`..., `reset` if the LLM broke off, `done`); `"stream": false`
gives the final answer as one JSON object instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field
from starlette.concurrency import iterate_in_threadpool

from vidseek.answer.ask import Asker
from vidseek.engine import Tenant
from vidseek.errors import VidseekError
from vidseek.serve.deps import CurrentTenant, check_text_length
from vidseek.serve.schemas import MAX_ID, NOT_BLANK, StrictJSON, Text, errors

router = APIRouter(tags=["ask"])


class AskIn(StrictJSON):
    question: Text = Field(description="A question in Chinese or English; at most VIDSEEK_MAX_QUERY_CHARS "
                           "characters, not only spaces", pattern=NOT_BLANK)
    library_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    stream: bool = Field(default=True, description="Server-Sent Events (default) or one JSON answer")
    llm: bool = Field(default=True, description="Use the configured LLM; false = extractive answer")


def _links(tenant: Tenant, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citations as the web page needs them: media and thumbnail URLs, no server paths."""
    videos = tenant.catalog.videos_by_ids((c["video_id"] for c in citations), tenant.name)
    shots = tenant.catalog.shots_for(videos.values())
    out = []
    for c in citations:
        c = {k: v for k, v in c.items() if k not in ("path", "thumbnail")}
        c["media_url"] = f"/api/videos/{c['video_id']}/media"
        shot = shots.get(c["video_id"])
        pos = shot.at((c["start"] + c["end"]) / 2) if shot is not None else None
        c["thumbnail_url"] = (f"/api/videos/{c['video_id']}/thumbnails/{shot.idx[pos]}"
                              if pos is not None and shot.thumbnail(pos) else None)
        out.append(c)
    return out


def _public(tenant: Tenant, event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") == "citations":
        return {**event, "citations": _links(tenant, event["citations"])}
    if event.get("type") == "done":
        answer = dict(event["answer"])
        answer["citations"] = _links(tenant, answer["citations"])
        return {**event, "answer": answer}
    return event


_ASK_DOC = {200: {"description": "`stream: true`: Server-Sent Events (`plan`, `citations`, `delta`..., `done`, or "
                   "`error`); `stream: false`: the answer as one JSON object",
                   "content": {"text/event-stream": {"schema": {
                       "type": "object", "description": "one event: its name and its JSON data",
                       "properties": {"event": {"type": "string"}, "data": {"type": "string"}}}},
                               "application/json": {"schema": {"type": "object"}}}}}


@router.post("/ask", response_class=StreamingResponse, responses={**_ASK_DOC, **errors(404)})
async def ask(body: AskIn, request: Request, tenant: CurrentTenant):
    """Answer from the tenant's videos; every claim cites moments as [n]."""
    check_text_length(request, "question", body.question)
    client = request.app.state.llm if body.llm else None  # one client (connection pool) per server
    asker = Asker(tenant, request.app.state.engine.settings, client)
    where = {"library_id": body.library_id} if body.library_id is not None else None
    if body.library_id is not None:
        tenant.library(body.library_id)  # 404 for another tenant's library
    if not body.stream:
        answer = await run_in_threadpool(asker.ask, body.question, where)
        return JSONResponse(_public(tenant, {"type": "done", "answer": answer.to_dict()})["answer"])
    events = asker.stream(body.question, where)
    first = await run_in_threadpool(next, events)  # a bad question fails here, as a plain JSON error

    async def sse() -> AsyncIterator[str]:
        try:
            yield _frame(_public(tenant, first))
            async for event in iterate_in_threadpool(events):
                if await request.is_disconnected():
                    break
                yield _frame(_public(tenant, event))
        except VidseekError as exc:  # after the headers went out, an error is one more event
            yield _frame({"type": "error", "detail": str(exc)})

    return StreamingResponse(sse(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _frame(event: dict[str, Any]) -> str:
    return f"event: {event.get('type', 'message')}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
