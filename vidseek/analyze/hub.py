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
import re
import socket
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidseek.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "https://huggingface.co"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


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


def fetch_model_files(source: str, files: list[str], settings: Settings, setting: str,
                      optional: tuple[str, ...] | list[str] = ()) -> Path:
    """A folder holding `files` (those in `optional` may be missing): `source` itself if it is a
    folder, else a download of hub repo `source` into the model dir (once; a complete copy makes no
    network call). Usage: `fetch_model_files("intfloat/multilingual-e5-small", ["onnx/model.onnx",
    "tokenizer.json"], settings, "VIDSEEK_TEXT_MODEL")`."""
    from vidseek.errors import ModelUnavailableError

    path = Path(source).expanduser()
    required = [f for f in files if f not in optional]
    if path.is_dir():
        missing = [f for f in required if not (path / f).is_file()]
        if missing:
            raise ModelUnavailableError(f"{path}: missing {', '.join(missing)}. Fix: point {setting} at a folder "
                                        f"with {', '.join(required)}")
        return path
    if not _HUB_ID.match(source):
        raise ModelUnavailableError(f"{source}: neither a folder nor a Hugging Face repo id (org/name). "
                                    f"Fix: set {setting} to one of them")
    target = settings.model_dir / "hub" / source.replace("/", "--")
    if all((target / f).is_file() for f in required):
        return target
    fix = (f"run vidseek once on a machine with network (it downloads {source} into {target}), copy that "
           f"folder here and set {setting}={target}")
    if offline() or not hub_reachable():
        raise ModelUnavailableError(f"{source} is not downloaded and the Hugging Face hub ({endpoint()}) is "
                                    f"unreachable. Fix: {fix}")
    try:
        download(source, target, list(files), [])
    except Exception as exc:  # hub errors have no common base class
        raise ModelUnavailableError(f"{describe(exc, source)}. Fix: {fix}") from exc
    missing = [f for f in required if not (target / f).is_file()]
    if missing:
        raise ModelUnavailableError(f"{source} on {endpoint()} has no {', '.join(missing)}. Fix: set {setting} to "
                                    "a repo or folder with a sentence-encoder model.onnx and tokenizer.json")
    return target
