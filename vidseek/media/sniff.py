"""Which container a file is, from its first bytes: the one rule the indexer and the server share.

A file is indexed only if it starts like a video or audio container FFmpeg reads, whatever its
extension says: a PNG renamed `.mp4` is refused by `vidseek index` (a skipped file, with the
reason) and by an upload (415) alike.

    kind = sniff_media(fh.read(SNIFF_BYTES))   # "mp4", "matroska", ... or None
"""

from __future__ import annotations

import codecs
from pathlib import Path

AUDIO_EXTENSIONS = frozenset({".mp3", ".wav", ".flac", ".m4a", ".ogg", ".opus"})
VIDEO_EXTENSIONS = (
    frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".flv", ".wmv", ".mpg", ".mpeg", ".ts", ".3gp",
               ".h264", ".h265"})
    | AUDIO_EXTENSIONS
)  # audio-only files are indexed for their speech


def is_video_candidate(path: str | Path) -> bool:
    """True when the extension is one we index (video, or audio for speech): `is_video_candidate("a.MP4")`.
    Here, not in `probe`, so that walking a folder does not load PyAV."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


SNIFF_BYTES = 512  # covers every signature below; MPEG-TS needs two 188-byte packets (M2TS: 4 more)
_ISO_IMAGE_BRANDS = frozenset(  # HEIF/AVIF/JPEG 2000 images and camera raws share mp4's box format
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
    + (b"jp2 ", b"jpx ", b"crx ")
)
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")  # old .mov files have no ftyp
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


def sniff_media(head: bytes) -> str | None:
    """The container kind from a file's first SNIFF_BYTES bytes, or None: `sniff_media(fh.read(SNIFF_BYTES))`.

    Kinds: mp4 (any ISO BMFF: mp4, m4a, 3gp...), mov, matroska (also WebM), avi, wav, flv, ogg, mpegts,
    mpeg, asf, mp3, flac, and raw h264 / hevc streams. HEIF/AVIF images share mp4's box format and are not media: None.
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
    return _elementary_stream(head)


def _elementary_stream(head: bytes) -> str | None:
    """A raw H.264 or H.265 stream (Annex B): a start code, then a parameter set, delimiter or SEI."""
    for start in (b"\x00\x00\x00\x01", b"\x00\x00\x01"):
        if head.startswith(start) and len(head) > len(start):
            nal = head[len(start)]
            if nal & 0x80:  # the forbidden zero bit
                return None
            if nal & 0x1F in (6, 7, 9):  # SEI, sequence parameter set, access unit delimiter
                return "h264"
            if (nal >> 1) & 0x3F in (32, 35, 39):  # video parameter set, delimiter, SEI
                return "hevc"
    return None


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then no reserved version, layer, bitrate or rate."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    # Layer 0 is reserved here but is how ADTS AAC looks; .aac is not an extension we index.
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def describe_non_media(head: bytes) -> str:
    """What a file that is not media seems to be, for the error: "a PNG image", "text"..."""
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
