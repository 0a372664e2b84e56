"""Find the video files under the paths a user gives, and fingerprint them cheaply."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vidseek.media.sniff import VIDEO_EXTENSIONS, is_video_candidate

_CHUNK = 1 << 20


@dataclass
class ScanProblem:
    path: str
    problem: str


def scan(paths: Iterable[str | Path], skip: Path | None = None) -> tuple[list[Path], list[ScanProblem]]:
    """Expand files and folders (recursively) into video files, plus one problem per bad path.

    A file named explicitly is always kept (the decoder decides if it is media); inside folders
    only known video/audio extensions are picked, hidden folders and the data dir are skipped.
    """
    files: list[Path] = []
    problems: list[ScanProblem] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            problems.append(ScanProblem(str(p), "path does not exist"))
        elif p.is_dir():
            found = _walk(p, skip)
            if not found:
                exts = ", ".join(sorted(VIDEO_EXTENSIONS)[:8])
                problems.append(ScanProblem(str(p), f"no video files found in this folder (looked for {exts}, ...)"))
            files.extend(found)
        else:
            files.append(p.resolve())
    return list(dict.fromkeys(files)), problems


def _walk(root: Path, skip: Path | None) -> list[Path]:
    out = []
    skip = skip.resolve() if skip else None
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath).resolve()
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d) != skip)
        out.extend(here / f for f in sorted(filenames) if not f.startswith(".") and is_video_candidate(here / f))
    return out


def fingerprint(path: Path, size: int) -> str:
    """Content hash from the size and three 1 MiB samples (start, middle, end).

    Reading whole multi-GB files on every run would dominate incremental indexing; an edit
    that keeps the size and all three samples is vanishingly rare for video files.
    """
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as f:
        for offset in sorted({0, max(0, size // 2 - _CHUNK // 2), max(0, size - _CHUNK)}):
            f.seek(offset)
            h.update(f.read(_CHUNK))
    return h.hexdigest()


def title_text(path: Path, description: str | None = None) -> str:
    """The title route's text: file name words, parent folder, and the user's description."""
    stem = path.stem
    words = []
    for ch in stem:
        words.append(" " if ch in "_-.+()[]{}" else ch)
    name = "".join(words)
    # split camelCase so "NightMarket" matches "night market"
    name = "".join(" " + c if c.isupper() and i and name[i - 1].islower() else c for i, c in enumerate(name))
    parts = [name.strip(), path.parent.name.replace("_", " ")]
    if description:
        parts.append(description)
    return " | ".join(p for p in parts if p)
