"""Learn what a media file holds (duration, size, rotation, streams) and reject files we cannot use.

Every failure becomes one `MediaError(path, problem)` whose problem is a short human sentence, so
the CLI can list skipped files and the reasons without a traceback.

    info = probe("clip.mp4")   # VideoInfo(duration=12.0, width=640, height=360, ...)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.logging

from vidseek.errors import MediaError
from vidseek.media.sniff import (  # noqa: F401 - the extensions are re-exported here
    AUDIO_EXTENSIONS,
    SNIFF_BYTES,
    VIDEO_EXTENSIONS,
    describe_non_media,
    is_video_candidate,
    sniff_media,
)
from vidseek.records import VideoInfo

# Leading bytes of containers FFmpeg reads; a file that starts like one but does not open is damaged.
_MAGIC = (b"\x1aE\xdf\xa3", b"RIFF", b"FLV", b"OggS", b"ID3", b"fLaC", b"\x00\x00\x01\xba", b"0&\xb2u")
_FIRST_FRAME_PACKETS = 500  # give up looking for a decodable first frame after this many packets


def _open_options() -> dict[str, str]:
    """Keywords for `av.open` so that titles and tags that are not UTF-8 cannot fail a file.

    PyAV < 19 decodes metadata strictly unless told otherwise; PyAV 19 always decodes it with
    surrogateescape and no longer accepts the `metadata_errors` keyword at all."""
    try:
        major = int(av.__version__.split(".")[0])
    except ValueError:  # a development build: assume the current API
        return {}
    return {"metadata_errors": "ignore"} if major < 19 else {}


OPEN_OPTIONS = _open_options()


def probe(path: str | Path) -> VideoInfo:
    """Open, validate and describe a media file: `probe("clip.mp4").duration`. Raises MediaError."""
    path = Path(path)
    with open_media(path) as container:
        video = video_stream(container)
        audio = _usable_audio(path, container, video is None)
        if video is None and audio is None:
            raise MediaError(path, "no video or audio stream")
        rotation, width, height = 0, 0, 0
        if video is not None:
            first = _first_frame(path, container, video)
            rotation = clockwise_rotation(first)
            width, height = display_size(first.width, first.height, video.sample_aspect_ratio, rotation)
        _check_complete(path, container)
        duration = _duration(path, container, video or audio)
        return VideoInfo(
            path=path,
            duration=duration,
            width=width,
            height=height,
            fps=float(video.average_rate or 0) if video is not None else 0.0,
            rotation=rotation,
            has_video=video is not None,
            has_audio=audio is not None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


@contextlib.contextmanager
def open_media(path: Path) -> Iterator[av.container.InputContainer]:
    """Open `path` for reading, turning every way that fails into a MediaError with a clear problem."""
    if not path.exists():
        raise MediaError(path, "file not found")
    if path.is_dir():
        raise MediaError(path, "is a directory, not a media file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if sniff_media(head) is None:  # the server's upload rule too: a PNG named .mp4 is not a 0.04 s video
        raise MediaError(path, f"not a media file (it is {describe_non_media(head)}, not a video or audio container)")
    try:
        container = av.open(str(path), **OPEN_OPTIONS)
    except av.error.FFmpegError as exc:
        raise MediaError(path, _open_problem(path, exc)) from exc
    try:
        yield container
    finally:
        container.close()


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first real video stream; cover art in music files (attached pictures) does not count."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def clockwise_rotation(frame: av.VideoFrame) -> int:
    """Degrees (0/90/180/270) to turn the decoded picture clockwise so it stands upright."""
    # FFmpeg reports the display matrix as a counter-clockwise angle in [-180, 180].
    return int(round(-frame.rotation / 90.0)) % 4 * 90


def display_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    """Width and height as shown to a viewer: non-square pixels stretched, then rotated."""
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * sar))
    return (height, width) if rotation in (90, 270) else (width, height)


def require_decoder(path: Path, stream: av.video.stream.VideoStream | None) -> av.video.stream.VideoStream:
    """The stream itself if FFmpeg can decode it, else a MediaError naming what is missing."""
    if stream is None:
        raise MediaError(path, "no video stream (audio only?)")
    if stream.codec_context is None:
        raise MediaError(path, f"unsupported video codec {_undecodable_codec(path, stream.index)}")
    return stream


def _open_problem(path: Path, exc: av.error.FFmpegError) -> str:
    with path.open("rb") as fh:
        head = fh.read(512)
    if head[4:8] == b"ftyp" or head.startswith(_MAGIC):
        return f"truncated or corrupt media file ({_ffmpeg_reason(exc)})"
    if _looks_like_text(head):
        return "not a media file (it contains text)"
    return f"not a media file (FFmpeg cannot read its format: {_ffmpeg_reason(exc)})"


def _ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    return (exc.strerror or type(exc).__name__).rstrip(".")


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _usable_audio(
    path: Path, container: av.container.InputContainer, required: bool
) -> av.audio.stream.AudioStream | None:
    """The first audio stream we can decode. Undecodable audio only fails the file if it is all there is."""
    for stream in container.streams.audio:
        if stream.codec_context is not None:
            return stream
        if required:
            raise MediaError(path, f"unsupported audio codec {_undecodable_codec(path, stream.index)}")
    return None


def _first_frame(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.VideoFrame:
    """Decode the first picture: opening succeeds on files whose video data is damaged or missing."""
    require_decoder(path, stream)
    errors = 0
    try:
        for count, packet in enumerate(container.demux(stream)):
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError:
                errors += 1
                frames = []
            if frames:
                return frames[0]
            if count >= _FIRST_FRAME_PACKETS:
                break
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"truncated or corrupt video ({_ffmpeg_reason(exc)})") from exc
    if errors:
        raise MediaError(path, f"truncated or corrupt video (no frame decodes, {errors} bad packets)")
    raise MediaError(path, "truncated or corrupt video (the video stream has no frames)")


def _undecodable_codec(path: Path, index: int) -> str:
    """Name the codec FFmpeg has no decoder for; PyAV hides it, but FFmpeg's own log names it."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs, av.open(str(path), **OPEN_OPTIONS):
            pass
    except av.error.FFmpegError:
        return "(unknown)"
    finally:
        av.logging.set_level(level)
    for _, _, message in logs:
        # e.g. "Could not find codec parameters for stream 0 (Video: none (ZQ42 / 0x3234515A), ..."
        match = re.search(rf"stream {index} \((?:Video|Audio): ([^,]+)", message)
        if match:
            name = match.group(1)
            tag = re.match(r"none \((\w+)", name)
            return tag.group(1) if tag else name.split(" ")[0]
    return "(unknown)"


def _check_complete(path: Path, container: av.container.InputContainer) -> None:
    """An index (mp4 moov, mkv cues) pointing past the end of the file means the file was cut short."""
    size = path.stat().st_size
    for stream in container.streams:
        entries = stream.index_entries
        if len(entries) and entries[-1].pos + entries[-1].size > size:
            end = entries[-1].pos + entries[-1].size
            problem = f"truncated or corrupt media file (its index needs {end} bytes, the file has {size})"
            raise MediaError(path, problem)


def _duration(path: Path, container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """Seconds of media: the container's figure, else the stream's, else a read to the end."""
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return _read_to_end(path, stream.index)


def _read_to_end(path: Path, index: int) -> float:
    """Last packet timestamp, or packets / frame rate for raw streams without timestamps.

    Demuxing without decoding finds where the stream ends much more cheaply than decoding.
    """
    with av.open(str(path), **OPEN_OPTIONS) as container:
        stream = container.streams[index]
        start = stream.start_time or 0
        end, packets = start, 0
        try:
            for packet in container.demux(stream):
                packets += packet.size > 0
                if packet.pts is not None:
                    end = max(end, packet.pts + (packet.duration or 0))
        except av.error.FFmpegError:
            pass  # a damaged tail still leaves us the last good timestamp
        seconds = float((end - start) * (stream.time_base or 0))
        rate = (stream.average_rate or stream.guessed_rate) if stream.type == "video" else None
        if seconds <= 0 and rate:
            seconds = float(packets / rate)
        return seconds
