"""Indexing jobs: list, get, cancel."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from vidseek.serve.deps import CurrentTenant, RunnerDep
from vidseek.serve.schemas import JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


@router.get("")
def list_jobs(tenant: CurrentTenant, runner: RunnerDep, library_id: int | None = None,
              state: JobState | None = None, limit: int = 200) -> list[JobOut]:
    """The tenant's jobs, newest first, with live progress for the running one."""
    jobs = tenant.catalog.jobs(tenant.name, library_id, state, min(max(limit, 1), 1000))
    return [JobOut.of(runner.view(j)) for j in jobs]


@router.get("/{job_id}")
def get_job(job_id: int, tenant: CurrentTenant, runner: RunnerDep) -> JobOut:
    return JobOut.of(runner.view(tenant.catalog.job(job_id, tenant.name)))


@router.post("/{job_id}/cancel")
def cancel_job(job_id: int, tenant: CurrentTenant, runner: RunnerDep) -> JobOut:
    return JobOut.of(runner.cancel(tenant.catalog.job(job_id, tenant.name)))
