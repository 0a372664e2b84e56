"""Domain exceptions. Each message names the file or setting at fault and what to do next.

They become CLI messages in `vidseek.cli` and HTTP errors in the server, never earlier.
"""

from __future__ import annotations

from pathlib import Path


class VidseekError(Exception):
    """Base class for every error vidseek raises on purpose."""


class MediaError(VidseekError):
    """A file cannot be decoded as a video (empty, truncated, not media, unsupported codec...)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelUnavailableError(VidseekError):
    """A configured model cannot be loaded; the message says which setting points at a local copy."""


class DataDirLockedError(VidseekError):
    """Another process holds the data directory (Milvus Lite allows one process per data dir)."""


class StoreError(VidseekError):
    """The vector/text store failed or is misconfigured."""


class QueryError(VidseekError):
    """A search request is invalid (empty query, bad filter, bad limit...)."""


class UnreadableImage(QueryError):
    """The example image of a search is not one vidseek can decode (the server answers 415)."""


class NotFoundError(VidseekError):
    """A library, video or job does not exist (or belongs to another tenant, which looks the same)."""


class ConflictError(VidseekError):
    """The request clashes with what exists (a library name taken, a job already queued...)."""


class Cancelled(VidseekError):
    """Indexing of a file was cancelled by the user; its partial rows are removed."""
