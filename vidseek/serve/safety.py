"""Guards the HTTP server puts around user input: paths under allowed roots, upload names and contents.

Plain functions without FastAPI, so they can be tested on their own. The server answers PathRejected
with 400 and UploadRejected with its `status`. Messages name the path as the user gave it and never
the server's real folders, which tenants must not learn.

    real = resolve_under_root(Path("/srv/videos"), "trip/day1.mp4")
    saved = save_upload(request_chunks, uploads, "旅行 视频.mp4", max_bytes=2 << 30)
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from vidseek.errors import VidseekError
from vidseek.media.probe import VIDEO_EXTENSIONS
from vidseek.media.sniff import SNIFF_BYTES, describe_non_media, sniff_media

NAME_MAX_CHARS = 120
# ext4 and most file systems allow 255 *bytes* per name; a Chinese character takes 3, and the
# " (12)" suffix and temporary names need room too.
NAME_MAX_BYTES = 200
_MAX_EXT = 16  # a longer "extension" is just part of the name
_DRIVE = re.compile(r"[A-Za-z]:")
_UNSAFE_RUN = re.compile(r"[^\w .\-()\[\]]+")  # \w is Unicode-aware: letters and digits of any script
_EXTENSIONS = {
    "mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "avi": ".avi", "wav": ".wav", "flv": ".flv", "ogg": ".ogg",
    "mpegts": ".ts", "mpeg": ".mpg", "asf": ".wmv", "mp3": ".mp3", "flac": ".flac", "h264": ".h264", "hevc": ".h265",
}  # fmt: skip


class PathRejected(VidseekError):
    """A user-given path is refused: `PathRejected("../x", "contains '..'")`. The server answers
    `status`: 400 for a path it will not follow, 404 for one that is not there."""

    def __init__(self, path: str, reason: str, status: int = 400):
        self.path = path
        self.reason = reason
        self.status = status
        super().__init__(f"path {path!r} refused: {reason}")  # repr shows control characters safely


class UploadRejected(VidseekError):
    """An upload is refused; `status` is the HTTP answer: 413 too large, 415 not media we index."""

    def __init__(self, message: str, status: int):
        self.status = status
        super().__init__(message)


def resolve_under_root(root: Path, relative: str) -> Path:
    """The real path of `relative` inside `root`, or PathRejected: `resolve_under_root(root, "trip/a.mp4")`.

    "" (or "." or "a//b") is fine; absolute paths, "..", backslashes, control characters, leftover
    percent-encoding and symlinks that lead out of the root are refused, as are missing paths.
    """
    problem = _path_problem(relative)
    if problem:
        raise PathRejected(str(relative), problem)
    try:
        base = Path(root).resolve(strict=True)
    except (OSError, RuntimeError):
        raise PathRejected(relative, "its media folder is not available on the server") from None
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    try:
        # Non-strict first: a symlink out of the root is refused whether or not its target exists,
        # so answers do not reveal which files exist outside the root.
        real = base.joinpath(*parts).resolve(strict=False)
    except (OSError, RuntimeError):  # symlink loops (RuntimeError before Python 3.13), names too long
        raise PathRejected(relative, "cannot be resolved (symlink loop or bad name)") from None
    if not real.is_relative_to(base):
        raise PathRejected(relative, "leads outside the allowed folder")
    try:
        return real.resolve(strict=True)
    except FileNotFoundError:
        raise PathRejected(relative, "does not exist", 404) from None
    except (OSError, RuntimeError):  # e.g. "file.mp4/x" (not a directory), no permission
        raise PathRejected(relative, "does not exist or cannot be read", 404) from None


def _path_problem(relative: object) -> str | None:
    if not isinstance(relative, str):
        return "is not text"
    if any(unicodedata.category(char) == "Cc" for char in relative):  # NUL, newlines, escapes, DEL, C1
        return "contains control characters"
    if relative.startswith(("/", "\\")) or _DRIVE.match(relative):
        return "is absolute; give a path relative to the root"
    if "\\" in relative:
        return "contains a backslash; separate folders with '/'"
    # The framework has decoded the URL once already; a '%XX' left over is a double-encoding trick.
    if unquote(relative) != relative:
        return "contains percent-encoding (%XX); send the path decoded"
    if ".." in relative.split("/"):
        return "contains '..'"
    return None


def sanitize_filename(name: str) -> str:
    """A safe, readable file name from a client-given one: `sanitize_filename("../x/旅行 视频.mp4")` -> "旅行 视频.mp4".

    Keeps the last path part; letters and digits of any script, space and . - _ ( ) [ ] survive,
    other runs become "_". No leading dots (hidden files) or dashes (read as options by tools); at most
    NAME_MAX_CHARS characters and NAME_MAX_BYTES UTF-8 bytes, keeping the extension. Falls back to "upload".
    """
    name = re.split(r"[/\\]", name)[-1]
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", name))
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))  # incl. bidi overrides
    name = _UNSAFE_RUN.sub("_", name).lstrip(". -").rstrip(". ")
    stem, ext = os.path.splitext(name)
    if len(ext) > _MAX_EXT:
        stem, ext = name, ""
    stem = stem[: NAME_MAX_CHARS - len(ext)]
    while len(stem.encode()) > NAME_MAX_BYTES - len(ext.encode()):
        stem = stem[:-1]
    stem = stem.rstrip(". ")
    return (stem or "upload") + ext


def save_upload(chunks: Iterable[bytes], folder: Path, filename: str, max_bytes: int) -> Path:
    """Store an upload under a safe, unused name in `folder`; returns the path. Blocking: call from a thread.

    `save_upload(iter([data]), Path("uploads"), "trip.mp4", 2 << 30)`. The name is sanitised, and an
    extension added when it is not one we index; "a.mp4" taken gives "a (1).mp4". Raises
    UploadRejected (413 over max_bytes, 415 not media); nothing is left behind then.
    """
    name = sanitize_filename(filename)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    temp = Path(temp_name)
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes owner-only files; the indexer may run as another user
        with os.fdopen(handle, "wb") as fh:
            kind = _receive(chunks, fh, name, max_bytes)
            fh.flush()
            os.fsync(fh.fileno())  # the file must be complete before it gets its visible name
        if os.path.splitext(name)[1].lower() not in VIDEO_EXTENSIONS:
            name += _EXTENSIONS[kind]  # the indexer picks files by extension
        return _claim_name(temp, folder, name)
    finally:
        temp.unlink(missing_ok=True)  # after os.link the temp is only a second name for the upload


def _receive(chunks: Iterable[bytes], fh: BinaryIO, name: str, max_bytes: int) -> str:
    """Write chunks to fh, refusing as early as possible; returns the sniffed kind."""
    head, size, kind = b"", 0, None
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise UploadRejected(f"{name} is larger than the upload limit of {_megabytes(max_bytes)}", 413)
        if kind is None:
            head += bytes(chunk[: SNIFF_BYTES - len(head)])
            if len(head) >= SNIFF_BYTES:
                kind = _sniffed(name, head)
        fh.write(chunk)
    return kind or _sniffed(name, head)


def _sniffed(name: str, head: bytes) -> str:
    kind = sniff_media(head)
    if kind is None:
        detected = describe_non_media(head)
        raise UploadRejected(f"{name} is not a video or audio file this server can index (detected: {detected})", 415)
    return kind


def _megabytes(size: int) -> str:
    megabytes = size / 2**20
    return f"{megabytes:,.0f} MB" if megabytes >= 10 else f"{megabytes:.3g} MB"


def _claim_name(temp: Path, folder: Path, name: str) -> Path:
    """Give temp the name `name`, or "stem (n).ext", never replacing a file that exists."""
    stem, ext = os.path.splitext(name)
    for number in range(10_000):
        target = folder / (name if number == 0 else f"{stem} ({number}){ext}")
        try:
            os.link(temp, target)  # atomic, and fails rather than replace an existing name
            return target
        except FileExistsError:
            continue
        except OSError:  # file systems without hard links (FAT, some network shares)
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))  # reserve the name
            except FileExistsError:
                continue
            try:
                os.replace(temp, target)  # replaces only the empty placeholder we just created
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            return target
    raise UploadRejected(f"too many uploads are named {name}; rename the file", 409)
