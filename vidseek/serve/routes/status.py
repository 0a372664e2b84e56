"""What is indexed: `GET /api/status` is `vidseek status` over HTTP (counts, hours, per-route
coverage, models; `?videos=true` adds one entry a video)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from vidseek.engine import Tenant
from vidseek.serve.deps import CurrentTenant, is_owner

router = APIRouter(tags=["status"])


def status_of(tenant: Tenant, videos: bool, owner: bool) -> dict[str, Any]:
    """The tenant's status. Server paths are for the data dir's owner (the local CLI's resident
    process); anyone else gets file names and video ids instead, as everywhere in the API."""
    info = tenant.status(videos)
    if owner:
        return info
    for key in ("data_dir", "store", "catalog"):
        info.pop(key, None)
    for entry in info["failed"] + info.get("video_list", []):
        entry["name"] = PurePath(entry.pop("path")).name
    info["incomplete"] = [PurePath(p).name for p in info["incomplete"]]
    info["copies"] = {PurePath(p).name: note for p, note in (info.get("copies") or {}).items()}
    return info


@router.get("/status")
async def status(request: Request, tenant: CurrentTenant,
                 videos: Annotated[bool, Query(description="also list every video and its route states")] = False,
                 ) -> dict:
    """Videos, hours, segments, per-route coverage (`done`, `missing`, `off`, ...), models."""
    return await run_in_threadpool(status_of, tenant, videos, is_owner(request))
