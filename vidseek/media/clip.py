"""Cut a time range out of a media file into an mp4.

    export_clip("trip.mp4", 12.0, 20.0, Path("/tmp/clip.mp4"))     # stream copy: fast, lossless; from the
                                                                    # keyframe at or before 12 s
    reencode_clip("trip.mp4", 12.0, 20.0, Path("/tmp/clip.mp4"))   # frame-accurate: H.264 + AAC, slower
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av

from vidseek.errors import MediaError
from vidseek.media.probe import open_media, video_stream

CLIP_MAX_SECONDS = 300


def export_clip(
    path: str | Path, start: float, end: float, out: str | Path, max_seconds: float = CLIP_MAX_SECONDS
) -> Path:
    """Copy [start, end] seconds of `path` (main video + first audio stream) into the mp4 `out`.

    `export_clip("a.mkv", 4, 8, Path("cut.mp4"))`. Without re-encoding a clip can only begin on a
    keyframe, so it may start up to one GOP early. Raises MediaError for a bad range or a file whose
    codecs mp4 cannot hold; `out` is removed again on failure.
    """
    return _cut(_copy_range, path, start, end, out, max_seconds)


def reencode_clip(
    path: str | Path, start: float, end: float, out: str | Path, max_seconds: float = CLIP_MAX_SECONDS
) -> Path:
    """[start, end] of `path` decoded and encoded again (H.264 + AAC mp4), so it begins on the frame at
    `start`, not on a keyframe: `reencode_clip("a.mkv", 4.2, 8, Path("cut.mp4"))`. Slower than
    export_clip, and lossy; any codec FFmpeg decodes will do. `out` is removed again on failure."""
    return _cut(_reencode_range, path, start, end, out, max_seconds)


def _cut(write, path: str | Path, start: float, end: float, out: str | Path, max_seconds: float) -> Path:
    """Check the range, then `write(path, source, start, end, out)`; no partial `out` is left behind."""
    path, out = Path(path), Path(out)
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or start >= end:
        raise MediaError(path, f"bad clip range: start {start:g} s, end {end:g} s (need 0 <= start < end)")
    if end - start > max_seconds:
        raise MediaError(path, f"clip of {end - start:g} s is longer than the {max_seconds:g} s limit")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open_media(path) as source:
            write(path, source, start, end, out)
    except av.error.FFmpegError as exc:  # _copy_range turns its own into MediaError; this is the encoder's
        out.unlink(missing_ok=True)
        reason = (exc.strerror or type(exc).__name__).rstrip(".")
        raise MediaError(path, f"cannot cut this file ({reason})") from exc
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


def _reencode_range(path: Path, source: av.container.InputContainer, start: float, end: float, out: Path) -> None:
    video = video_stream(source)
    audio = next(iter(source.streams.audio), None)
    main = video or audio
    if main is None:
        raise MediaError(path, "no video or audio stream to cut")
    origin = source.start_time / av.time_base if source.start_time is not None else 0.0
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as sink:
        v_out = a_out = resampler = None
        if video is not None:
            rate = Fraction(video.average_rate or 25).limit_denominator(1001)
            v_out = sink.add_stream("libx264", rate=rate)
            ctx = video.codec_context
            v_out.width, v_out.height = ctx.width - ctx.width % 2, ctx.height - ctx.height % 2
            v_out.pix_fmt = "yuv420p"
            v_out.options = {"preset": "veryfast", "crf": "20"}
        if audio is not None:
            a_rate = audio.rate or 48000
            a_out = sink.add_stream("aac", rate=a_rate)
            a_out.layout = "stereo" if audio.layout.nb_channels > 1 else "mono"
            resampler = av.AudioResampler(format="fltp", layout=a_out.layout.name, rate=a_rate)
        _seek_keyframe(source, main, origin + start)
        frames, samples, done = 0, 0, set()
        wanted = {s.index for s in (video, audio) if s is not None}
        for frame in source.decode(*[s for s in (video, audio) if s is not None]):
            if frame.time is None:
                continue
            seconds = frame.time - origin
            index = video.index if isinstance(frame, av.VideoFrame) else audio.index
            if seconds >= end:
                done.add(index)
                if done >= wanted:
                    break
                continue
            if isinstance(frame, av.VideoFrame) and v_out is not None:
                if seconds < start - 0.5 / float(v_out.codec_context.framerate or 25):
                    continue
                picture = frame.reformat(width=v_out.width, height=v_out.height, format="yuv420p")
                picture.pts, picture.time_base = frames, Fraction(1, 1) / v_out.codec_context.framerate
                frames += 1
                sink.mux(v_out.encode(picture))
            elif isinstance(frame, av.AudioFrame) and a_out is not None:
                if seconds + frame.samples / frame.sample_rate <= start:
                    continue
                for chunk in resampler.resample(frame):
                    chunk.pts, chunk.time_base = samples, Fraction(1, a_out.rate)
                    samples += chunk.samples
                    sink.mux(a_out.encode(chunk))
        if not frames and not samples:
            raise MediaError(path, f"nothing to cut: no frames between {start:g} s and {end:g} s")
        if v_out is not None:
            sink.mux(v_out.encode())
        if a_out is not None:
            sink.mux(a_out.encode())


def _copy_range(path: Path, source: av.container.InputContainer, start: float, end: float, out: Path) -> None:
    main = video_stream(source) or next(iter(source.streams.audio), None)
    if main is None or main.time_base is None:
        raise MediaError(path, "no video or audio stream to cut")
    audio = next(iter(source.streams.audio), None)
    inputs = [main] if audio is None or audio is main else [main, audio]
    # Seconds in the API count from the container's start, as frame times do (frames._origin).
    origin = source.start_time / av.time_base if source.start_time is not None else 0.0
    if source.duration and start >= source.duration / av.time_base:
        raise MediaError(path, f"nothing to cut: {start:g} s is past the end ({source.duration / av.time_base:g} s)")
    try:
        with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as sink:
            outputs = {}
            for stream in inputs:
                try:
                    # opaque copies the decoder context: no encoder of that codec has to exist.
                    outputs[stream.index] = sink.add_stream_from_template(stream, opaque=True)
                except ValueError:  # PyAV's check that the muxer can hold the codec
                    codec = stream.codec_context.name if stream.codec_context else stream.codec_tag
                    problem = f"cannot cut without re-encoding: mp4 cannot hold its {stream.type} codec {codec}"
                    raise MediaError(path, problem) from None
            _seek_keyframe(source, main, origin + start)
            shift, written = None, 0  # shift: seconds of the first copied keyframe, which becomes time 0
            for packet in source.demux(inputs):
                if packet.dts is None or packet.pts is None or packet.time_base is None:
                    continue  # demuxer flush packets carry no data
                seconds = float(packet.dts * packet.time_base) - origin
                if packet.stream is main:
                    if seconds >= end:
                        break  # dts only grows, so every later packet would show after `end`
                    if shift is None:
                        if not packet.is_keyframe:
                            continue  # the seek landed between keyframes; a clip must open on one
                        shift = seconds
                if shift is None or not shift <= seconds < end:
                    continue  # audio from before the first keyframe or after the end
                offset = round((shift + origin) / packet.time_base)
                packet.pts, packet.dts = packet.pts - offset, packet.dts - offset
                packet.stream = outputs[packet.stream.index]
                sink.mux(packet)
                written += 1
            if not written:
                raise MediaError(path, f"nothing to cut: no packets between {start:g} s and {end:g} s")
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"cannot cut this file ({(exc.strerror or type(exc).__name__).rstrip('.')})") from exc


def _seek_keyframe(source: av.container.InputContainer, main: av.stream.Stream, target: float) -> None:
    """Seek so the next keyframe of `main` shows at or before `target` (container seconds).

    Some demuxers (MPEG-TS) land on the keyframe after the target, so step back until one does.
    """
    back = 0.0
    while True:
        at = round(max(0.0, target - back) / main.time_base)
        source.seek(at, stream=main, backward=True, any_frame=False)
        key = next((p for p in source.demux(main) if p.is_keyframe and p.pts is not None), None)
        if key is None or float(key.pts * key.time_base) <= target + 1e-3 or target - back <= 0:
            source.seek(at, stream=main, backward=True, any_frame=False)
            return
        back = back * 2 or 1.0
