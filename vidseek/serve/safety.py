"""Guards the HTTP server puts around user input: paths under allowed roots, upload names and contents.

Plain functions without FastAPI, so they can be tested on their own. The server answers PathRejected
with 400 and UploadRejected with its `status`. Messages name the path as the user gave it and never
the server's real folders, which tenants must not learn.

    real = resolve_under_root(Path("/srv/videos"), "trip/day1.mp4")
    saved = save_upload(request_chunks, uploads, "旅行 视频.mp4", max_bytes=2 << 30)
"""

from __future__ import annotations

import codecs
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

SNIFF_BYTES = 512  # covers every signature below; MPEG-TS needs two 188-byte packets (M2TS: 4 more)
NAME_MAX_CHARS = 120
# ext4 and most file systems allow 255 *bytes* per name; a Chinese character takes 3, and the
# " (12)" suffix and temporary names need room too.
NAME_MAX_BYTES = 200
_MAX_EXT = 16  # a longer "extension" is just part of the name
_DRIVE = re.compile(r"[A-Za-z]:")
_UNSAFE_RUN = re.compile(r"[^\w .\-()\[\]]+")  # \w is Unicode-aware: letters and digits of any script
_ISO_IMAGE_BRANDS = frozenset(  # HEIF/AVIF/JPEG 2000 images and camera raws share mp4's box format
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
    + (b"jp2 ", b"jpx ", b"crx ")
)
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")  # old .mov files have no ftyp
_EXTENSIONS = {
    "mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "avi": ".avi", "wav": ".wav", "flv": ".flv", "ogg": ".ogg",
    "mpegts": ".ts", "mpeg": ".mpg", "asf": ".wmv", "mp3": ".mp3", "flac": ".flac",
}  # fmt: skip
_NOT_MEDIA = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)


class PathRejected(VidseekError):
    """A user-given path is refused: `PathRejected("../x", "contains '..'")`. The server answers 400."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
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
        raise PathRejected(relative, "does not exist") from None
    except (OSError, RuntimeError):  # e.g. "file.mp4/x" (not a directory), no permission
        raise PathRejected(relative, "does not exist or cannot be read") from None


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


def sniff_media(head: bytes) -> str | None:
    """The container kind from a file's first SNIFF_BYTES bytes, or None: `sniff_media(fh.read(SNIFF_BYTES))`.

    Kinds: mp4 (any ISO BMFF: mp4, m4a, 3gp...), mov, matroska (also WebM), avi, wav, flv, ogg, mpegts,
    mpeg, asf, mp3, flac. HEIF/AVIF images share mp4's box format and are not media: None.
    """
    head = bytes(head)
    if head[4:8] == b"ftyp":
        if head[8:12] in _ISO_IMAGE_BRANDS:
            return None
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "mov"
    if head[:4] in (b"RIFF", b"RF64"):
        return {b"AVI ": "avi", b"WAVE": "wav"}.get(head[8:12])
    prefixes = (
        (b"\x1a\x45\xdf\xa3", "matroska"), (b"FLV\x01", "flv"), (b"OggS", "ogg"), (b"fLaC", "flac"), (b"ID3", "mp3"),
        (b"\x00\x00\x01\xba", "mpeg"), (b"\x00\x00\x01\xb3", "mpeg"), (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf"),
    )  # fmt: skip
    for magic, kind in prefixes:
        if head.startswith(magic):
            return kind
    if len(head) > 188 and head[0] == head[188] == 0x47:  # a sync byte every 188-byte packet
        return "mpegts"
    if len(head) > 196 and head[4] == head[196] == 0x47:  # M2TS (Blu-ray, AVCHD): 4-byte prefix per packet
        return "mpegts"
    if _mpeg_audio_frame(head):
        return "mp3"
    return None


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then no reserved version, layer, bitrate or rate."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    # Layer 0 is reserved here but is how ADTS AAC looks; .aac is not an extension we index.
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _describe(head: bytes) -> str:
    """What a non-media upload seems to be, for the 415 message."""
    if not head:
        return "an empty file"
    if head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "an image"
    for magic, what in _NOT_MEDIA:
        if head.startswith(magic):
            return what
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # tolerates a character cut at the end
    except UnicodeDecodeError:
        return "unknown binary data"
    return "text" if b"\x00" not in head else "unknown binary data"


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
        detected = _describe(head)
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
