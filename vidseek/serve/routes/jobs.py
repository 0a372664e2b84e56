"""Indexing jobs: list, get, cancel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from vidseek.serve.deps import CurrentTenant, RunnerDep
from vidseek.serve.schemas import JobOut, JobPath, LibraryQuery, errors

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


@router.get("")
def list_jobs(tenant: CurrentTenant, runner: RunnerDep, library_id: LibraryQuery = None,
              state: JobState | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[JobOut]:
    """The tenant's jobs, newest first, with live progress for the running one."""
    jobs = tenant.catalog.jobs(tenant.name, library_id, state, limit)
    return [JobOut.of(runner.view(j)) for j in jobs]


@router.get("/{job_id}", responses=errors(404))
def get_job(job_id: JobPath, tenant: CurrentTenant, runner: RunnerDep) -> JobOut:
    return JobOut.of(runner.view(tenant.catalog.job(job_id, tenant.name)))


@router.post("/{job_id}/cancel", responses=errors(404))
def cancel_job(job_id: JobPath, tenant: CurrentTenant, runner: RunnerDep) -> JobOut:
    return JobOut.of(runner.cancel(tenant.catalog.job(job_id, tenant.name)))
