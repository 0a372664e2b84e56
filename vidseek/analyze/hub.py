"""Model files from a local folder or a Hugging Face hub repo, cached in the model dir.

Usage: `folder = fetch_model_files("intfloat/multilingual-e5-small", ["onnx/model.onnx", "tokenizer.json"],
settings=settings, setting="VIDSEEK_TEXT_MODEL")`. Honours HF_ENDPOINT and HF_HUB_OFFLINE; an offline
machine with a complete cached copy makes no network call.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from vidseek.errors import ModelUnavailableError
from vidseek.settings import Settings

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def hub_reachable(timeout: float = 3.0) -> bool:
    """True if a TCP connection to the Hugging Face endpoint (HF_ENDPOINT) opens within `timeout`."""
    url = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def cache_folder(settings: Settings, repo_id: str) -> Path:
    return settings.model_dir / "hub" / repo_id.replace("/", "--")


def fetch_model_files(source: str, files: Sequence[str], settings: Settings, setting: str,
                      optional: Sequence[str] = ()) -> Path:
    """A folder holding `files` (those in `optional` may be missing): `source` itself if it is a
    folder, else a download of hub repo `source` into the model dir (once)."""
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
    target = cache_folder(settings, source)
    if all((target / f).is_file() for f in required):
        return target
    _download(source, list(files), target, setting)
    missing = [f for f in required if not (target / f).is_file()]
    if missing:
        raise ModelUnavailableError(f"{source} on the hub has no {', '.join(missing)}. Fix: set {setting} to a repo "
                                    "or folder in a layout vidseek reads (`vidseek models list`)")
    return target


def _download(repo_id: str, files: list[str], target: Path, setting: str) -> None:
    fix = (f"run vidseek once on a machine with network (it downloads {repo_id} into {target}), copy that "
           f"folder here and set {setting}={target}")
    if os.environ.get("HF_HUB_OFFLINE") or not hub_reachable():
        raise ModelUnavailableError(f"{repo_id} is not downloaded and the Hugging Face hub is unreachable. Fix: {fix}")
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, allow_patterns=files, local_dir=str(target))
    except Exception as exc:  # hub errors have no common base class
        first = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise ModelUnavailableError(f"downloading {repo_id} failed ({first}). Fix: {fix}") from exc
