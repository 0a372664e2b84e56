"""Model downloads from the Hugging Face hub, or the mirror in HF_ENDPOINT, through huggingface_hub itself.

Only the files a layout needs are fetched (allow_patterns), into a plain folder (`local_dir`) that
works as it is when copied to another machine. HF_ENDPOINT and HF_HUB_OFFLINE are read on every
call, not once at import as huggingface_hub does, so a test or a caller can change them later.

Usage:
    if not offline() and hub_reachable():
        folder = download("immich-app/ViT-B-32__openai", target, allow, ignore)
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse
from pathlib import Path

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "https://huggingface.co"


def endpoint() -> str:
    """The hub URL in use: HF_ENDPOINT, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    """True when HF_HUB_OFFLINE asks for no network at all."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """True if a TCP connection to the hub endpoint (HF_ENDPOINT) opens within `timeout`.

    Without this check huggingface_hub retries for ~30 s on every run of an offline machine.
    """
    url = urllib.parse.urlparse(endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def repo_files(repo_id: str, revision: str | None = None) -> list[str]:
    """Every file path in a hub repo (one listing call). Raises huggingface_hub's errors."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint()).list_repo_files(repo_id, revision=revision)


def download(repo_id: str, target: Path, allow: list[str], ignore: list[str], revision: str | None = None) -> Path:
    """Fetch the files of `repo_id` that match `allow` (and not `ignore`) into `target`; returns it.

    Files already there at the same commit are not fetched again; an interrupted download resumes.
    Raises huggingface_hub's errors (see `describe`).
    """
    from huggingface_hub import snapshot_download

    target.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s from %s into %s (%s)", repo_id, endpoint(), target, ", ".join(allow))
    path = snapshot_download(
        repo_id, revision=revision, local_dir=target, allow_patterns=allow, ignore_patterns=ignore or None,
        endpoint=endpoint(), max_workers=4,
    )  # fmt: skip
    return Path(path)


def describe(exc: Exception, repo_id: str) -> str:
    """One line on why a hub call failed, for a ModelUnavailableError."""
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if isinstance(exc, GatedRepoError):
        return f"{repo_id} is gated on {endpoint()}: accept its terms there and set HF_TOKEN ({text})"
    if isinstance(exc, RepositoryNotFoundError):
        return f"{endpoint()} has no repo {repo_id} (or it is private: set HF_TOKEN) ({text})"
    if isinstance(exc, LocalEntryNotFoundError):
        return f"Hugging Face hub unreachable at {endpoint()} and no downloaded copy ({text})"
    return f"download of {repo_id} from {endpoint()} failed ({text})"
