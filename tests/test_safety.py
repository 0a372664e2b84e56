"""Server guards on real files: paths under a root, upload names, content sniffing, saving, clip export."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from vidseek.errors import MediaError, VidseekError
from vidseek.media.clip import CLIP_MAX_SECONDS, export_clip, reencode_clip
from vidseek.media.frames import sample_frames
from vidseek.media.probe import probe
from vidseek.media.synth import Scene, make_audio, make_video
from vidseek.serve.safety import (
    NAME_MAX_BYTES,
    NAME_MAX_CHARS,
    SNIFF_BYTES,
    PathRejected,
    UploadRejected,
    resolve_under_root,
    sanitize_filename,
    save_upload,
    sniff_media,
)

SECONDS, FPS = 12, 25


def grey(second: int) -> int:
    """The grey level of second `second` in the GOP video, so a frame tells where it came from."""
    return 20 + 15 * second


def make_gop_video(path: Path, seconds: int = SECONDS, fps: int = FPS) -> Path:
    """H.264 + AAC with a keyframe exactly every second (synth.make_video has no GOP setting)."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.codec_context.gop_size = fps
        video.options = {"preset": "ultrafast", "sc_threshold": "0"}  # no extra keyframes at cuts
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for index in range(seconds * fps):
            image = np.full((120, 160, 3), grey(index // fps), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        tone = np.sin(np.arange(seconds * 16000, dtype=np.float32) * 0.1).reshape(1, -1) * 0.2
        sound = av.AudioFrame.from_ndarray(tone.astype(np.float32), format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 16000, 0
        container.mux(audio.encode(sound))
        container.mux(audio.encode())
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("safety-media")


@pytest.fixture(scope="module")
def gop_video(media: Path) -> Path:
    return make_gop_video(media / "gop.mp4")


@pytest.fixture(scope="module")
def small_mp4(media: Path) -> Path:
    return make_video(media / "small.mp4", [Scene(1, (200, 30, 30))], size=(64, 48))


def head_of(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


# resolve_under_root ------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with trip/day1.mp4 and 旅行/视频.mp4; secret.txt and private/ lie outside it."""
    root = tmp_path / "root"
    (root / "trip").mkdir(parents=True)
    (root / "trip" / "day1.mp4").write_bytes(b"video")
    (root / "旅行").mkdir()
    (root / "旅行" / "视频.mp4").write_bytes(b"video")
    (root / "100% fun.mp4").write_bytes(b"video")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "x.mp4").write_bytes(b"secret video")
    return root


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("trip/day1.mp4", "trip/day1.mp4"),
        ("trip//day1.mp4", "trip/day1.mp4"),
        ("./trip/./day1.mp4", "trip/day1.mp4"),
        ("trip/", "trip"),
        ("", "."),
        (".", "."),
        ("旅行/视频.mp4", "旅行/视频.mp4"),
        ("100% fun.mp4", "100% fun.mp4"),  # a lone % that decodes to nothing is just a character
    ],
)
def test_resolve_accepts_paths_inside_the_root(tree: Path, relative: str, expected: str) -> None:
    resolved = resolve_under_root(tree, relative)
    assert resolved == (tree / expected).resolve()
    assert resolved.is_absolute()


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("../x", "'..'"),
        ("../secret.txt", "'..'"),
        ("a/../../x", "'..'"),
        ("trip/..", "'..'"),
        ("/etc/passwd", "absolute"),
        ("\\etc\\passwd", "absolute"),
        ("C:\\x", "absolute"),
        ("c:/x", "absolute"),
        ("C:x", "absolute"),
        ("a\\..\\b", "backslash"),
        ("trip\\day1.mp4", "backslash"),
        ("%2e%2e/x", "percent-encoding"),
        ("%2E%2E%2Fsecret.txt", "percent-encoding"),
        ("trip%2Fday1.mp4", "percent-encoding"),
        ("%252e%252e/x", "percent-encoding"),
        ("..%2fsecret.txt", "percent-encoding"),
        ("a\x00b", "control characters"),
        ("trip/day1.mp4\x00.txt", "control characters"),
        ("a\nb", "control characters"),
        ("a\x7fb", "control characters"),
    ],
)
def test_resolve_refuses_traversal_tricks(tree: Path, relative: str, reason: str) -> None:
    with pytest.raises(PathRejected, match=reason) as caught:
        resolve_under_root(tree, relative)
    assert caught.value.path == relative
    assert isinstance(caught.value, VidseekError)


def test_resolve_refuses_symlinks_out_of_the_root(tree: Path) -> None:
    outside = tree.parent
    (tree / "leak.txt").symlink_to(outside / "secret.txt")
    (tree / "private").symlink_to(outside / "private", target_is_directory=True)
    (tree / "trip" / "up").symlink_to("../..", target_is_directory=True)  # relative link climbing out
    for relative in ("leak.txt", "private", "private/x.mp4", "trip/up", "trip/up/secret.txt"):
        with pytest.raises(PathRejected, match="outside the allowed folder") as caught:
            resolve_under_root(tree, relative)
        assert str(outside) not in str(caught.value)  # tenants never learn server paths
    # Out and back in again is judged by where it really ends up.
    assert resolve_under_root(tree, "trip/up/root/trip") == (tree / "trip").resolve()


def test_resolve_outside_link_is_refused_the_same_whether_or_not_its_target_exists(tree: Path) -> None:
    # Otherwise "does not exist" vs "outside" would reveal which files exist outside the root.
    (tree / "dangling").symlink_to(tree.parent / "no-such-file")
    with pytest.raises(PathRejected, match="outside"):
        resolve_under_root(tree, "dangling")


def test_resolve_follows_symlinks_that_stay_inside(tree: Path) -> None:
    (tree / "latest.mp4").symlink_to(tree / "trip" / "day1.mp4")
    (tree / "shortcut").symlink_to("trip", target_is_directory=True)
    assert resolve_under_root(tree, "latest.mp4") == (tree / "trip" / "day1.mp4").resolve()
    assert resolve_under_root(tree, "shortcut/day1.mp4") == (tree / "trip" / "day1.mp4").resolve()


def test_resolve_root_given_through_a_symlink(tree: Path) -> None:
    alias = tree.parent / "alias"
    alias.symlink_to(tree, target_is_directory=True)
    assert resolve_under_root(alias, "trip/day1.mp4") == (tree / "trip" / "day1.mp4").resolve()


@pytest.mark.parametrize("relative", ["missing.mp4", "trip/missing/x.mp4", "trip/day1.mp4/x"])
def test_resolve_refuses_missing_paths(tree: Path, relative: str) -> None:
    with pytest.raises(PathRejected, match="does not exist") as caught:
        resolve_under_root(tree, relative)
    assert str(tree) not in str(caught.value)


def test_resolve_refuses_symlink_loops_and_missing_roots(tree: Path) -> None:
    (tree / "loop").symlink_to(tree / "loop")
    with pytest.raises(PathRejected):
        resolve_under_root(tree, "loop")
    with pytest.raises(PathRejected, match="not available") as caught:
        resolve_under_root(tree / "gone", "")
    assert "gone" not in str(caught.value)


# sanitize_filename -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("trip.mp4", "trip.mp4"),
        ("旅行 视频.mp4", "旅行 视频.mp4"),
        ("Ça va – été.mov", "Ça va _ été.mov"),
        ("/home/alice/videos/trip.mp4", "trip.mp4"),
        ("C:\\Users\\bob\\clip.avi", "clip.avi"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        (".bashrc", "bashrc"),
        ("...hidden.mp4", "hidden.mp4"),
        ("  spaced   out \t name .mp4", "spaced out name.mp4"),
        ("旅行\u3000视频.mp4", "旅行 视频.mp4"),  # ideographic space
        ("a<b>c:d|e?f*.mp4", "a_b_c_d_e_f_.mp4"),
        ("rm -rf $(x).mp4", "rm -rf _(x).mp4"),
        ("-option.mp4", "option.mp4"),
        ("clip [1080p] (final).mkv", "clip [1080p] (final).mkv"),
        ("e\u0301te\u0301.mp4", "été.mp4"),  # NFC: combining accents join their letters
        ("bell\x07\x00name.mp4", "bellname.mp4"),
        ("evil\u202egpj.exe", "evilgpj.exe"),  # right-to-left override dropped: no spoofed extension
        ("", "upload"),
        ("..", "upload"),
        ("///", "upload"),
        ("\x00\x01", "upload"),
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


def test_sanitize_caps_long_names_keeping_the_extension() -> None:
    long = sanitize_filename("x" * 500 + ".mp4")
    assert len(long) == NAME_MAX_CHARS and long.endswith("x.mp4")
    chinese = sanitize_filename("视" * 500 + ".mp4")  # 3 bytes a character: the byte cap applies first
    assert chinese.endswith("视.mp4") and len(chinese.encode()) <= NAME_MAX_BYTES
    assert len(chinese) <= NAME_MAX_CHARS
    odd_extension = sanitize_filename("a." + "b" * 300)
    assert len(odd_extension) == NAME_MAX_CHARS


# sniff_media -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("a.mp4", lambda p: make_video(p, [Scene(1)], size=(64, 48)), "mp4"),
        ("a.mov", lambda p: make_video(p, [Scene(1)], size=(64, 48)), "mov"),
        ("a.mkv", lambda p: make_video(p, [Scene(1)], size=(64, 48)), "matroska"),
        ("a.webm", lambda p: make_video(p, [Scene(1)], size=(64, 48), codec="libvpx-vp9"), "matroska"),
        ("a.avi", lambda p: make_video(p, [Scene(1)], size=(64, 48), codec="mpeg4"), "avi"),
        ("a.ts", lambda p: make_video(p, [Scene(1)], size=(64, 48)), "mpegts"),
        ("a.flv", lambda p: make_video(p, [Scene(1)], size=(64, 48), codec="flv"), "flv"),
        ("a.wav", lambda p: make_audio(p, 1, tone_hz=440), "wav"),
        ("a.flac", lambda p: make_audio(p, 1, tone_hz=440), "flac"),
        ("a.mp3", lambda p: make_audio(p, 1, tone_hz=440), "mp3"),
        ("a.m4a", lambda p: make_audio(p, 1, tone_hz=440), "mp4"),
    ],
)
def test_sniff_real_files(media: Path, name: str, make, kind: str) -> None:
    path = make(media / "sniff" / name)
    assert sniff_media(head_of(path)) == kind


def test_sniff_mp3_without_id3_tag(media: Path) -> None:
    data = make_audio(media / "tagged.mp3", 1, tone_hz=440).read_bytes()
    assert data[:3] == b"ID3"
    tag_size = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])  # syncsafe integer
    assert sniff_media(data[tag_size : tag_size + SNIFF_BYTES]) == "mp3"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"OggS\x00\x02" + bytes(58), "ogg"),
        (b"\x00\x00\x01\xba\x44" + bytes(59), "mpeg"),
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c" + bytes(48), "asf"),
        (b"\x00\x00\x00\x08wide" + bytes(56), "mov"),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(52), "mov"),
        (b"\x00\x00\x00\x18ftyp3gp4" + bytes(52), "mp4"),
        (b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(48), "avi"),
        ((b"\x00\x00\x00\x00\x47" + bytes(187)) * 2, "mpegts"),  # M2TS: 192-byte packets
    ],
)
def test_sniff_signatures(head: bytes, kind: str) -> None:
    assert sniff_media(head) == kind


@pytest.mark.parametrize(
    "head",
    [
        b"These are meeting notes, not a video.\n" * 20,
        b"",
        b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic" + bytes(40),  # HEIF photo
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + bytes(40),  # AVIF image
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(48),
        b"\x89PNG\r\n\x1a\n" + bytes(56),
        b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(54),
        b"\xff\xf1\x50\x80" + bytes(60),  # ADTS AAC: layer bits 0 are reserved for MPEG audio
        b"%PDF-1.7\n" + bytes(55),
        b"GGGG" + b"x" * 300,  # one 0x47 is not a transport stream
    ],
)
def test_sniff_rejects_non_media(head: bytes) -> None:
    assert sniff_media(head) is None


def test_sniff_text_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes\n" * 100, encoding="utf-8")
    assert sniff_media(head_of(notes)) is None


# save_upload -------------------------------------------------------------------------------------


def chunked(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []  # includes hidden temp files


def test_save_upload_stores_under_the_sanitised_name(tmp_path: Path, small_mp4: Path) -> None:
    data = small_mp4.read_bytes()
    folder = tmp_path / "uploads" / "7"  # created on demand
    saved = save_upload(chunked(data), folder, "C:\\Users\\me\\旅行 视频.mp4", max_bytes=len(data))
    assert saved == folder / "旅行 视频.mp4"
    assert saved.read_bytes() == data
    assert stat.S_IMODE(saved.stat().st_mode) == 0o644
    assert listing(folder) == ["旅行 视频.mp4"]
    assert probe(saved).has_video


def test_save_upload_duplicate_names_get_numbers(tmp_path: Path, small_mp4: Path) -> None:
    data = small_mp4.read_bytes()
    names = [save_upload([data], tmp_path, "a.mp4", 10**9).name for _ in range(3)]
    assert names == ["a.mp4", "a (1).mp4", "a (2).mp4"]
    assert all((tmp_path / name).read_bytes() == data for name in names)
    assert listing(tmp_path) == ["a (1).mp4", "a (2).mp4", "a.mp4"]


def test_save_upload_never_overwrites_without_hard_links(
    tmp_path: Path, small_mp4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # what FAT and some network shares answer

    (tmp_path / "a.mp4").write_bytes(b"keep me")
    monkeypatch.setattr(os, "link", no_links)
    saved = save_upload([small_mp4.read_bytes()], tmp_path, "a.mp4", 10**9)
    assert saved.name == "a (1).mp4" and saved.read_bytes() == small_mp4.read_bytes()
    assert (tmp_path / "a.mp4").read_bytes() == b"keep me"
    assert listing(tmp_path) == ["a (1).mp4", "a.mp4"]


def test_save_upload_adds_an_extension_the_indexer_picks_up(tmp_path: Path, small_mp4: Path) -> None:
    assert save_upload([small_mp4.read_bytes()], tmp_path, "video", 10**9).name == "video.mp4"
    assert save_upload([small_mp4.read_bytes()], tmp_path, "clip.bin", 10**9).name == "clip.bin.mp4"
    assert save_upload([small_mp4.read_bytes()], tmp_path, "", 10**9).name == "upload.mp4"


def test_save_upload_sniffs_across_tiny_chunks(tmp_path: Path, small_mp4: Path) -> None:
    data = small_mp4.read_bytes()
    saved = save_upload(chunked(data, size=7), tmp_path, "tiny.mp4", 10**9)
    assert saved.read_bytes() == data


def test_save_upload_too_large_is_413_and_leaves_nothing(tmp_path: Path, small_mp4: Path) -> None:
    data = small_mp4.read_bytes()
    received = []

    def stream() -> Iterator[bytes]:
        for chunk in chunked(data, size=100):
            received.append(chunk)
            yield chunk

    with pytest.raises(UploadRejected, match=r"big.mp4 is larger than the upload limit of [\d.]+ MB") as caught:
        save_upload(stream(), tmp_path / "up", "big.mp4", max_bytes=1000)
    assert caught.value.status == 413
    assert listing(tmp_path / "up") == []
    assert len(received) == 11  # stops reading at the chunk that crosses the limit


def test_save_upload_limit_message_in_megabytes(tmp_path: Path) -> None:
    huge = (2 << 30) + 1

    class Chunk(bytes):
        """A one-byte chunk claiming a huge length, so the test does not allocate 2 GiB."""

        def __len__(self) -> int:
            return huge

    with pytest.raises(UploadRejected, match="limit of 2,048 MB") as caught:
        save_upload([Chunk(b"x")], tmp_path, "big.mp4", max_bytes=2 << 30)
    assert caught.value.status == 413
    assert listing(tmp_path) == []


def test_save_upload_text_named_mp4_is_415_and_leaves_nothing(tmp_path: Path) -> None:
    text = b"These are meeting notes, not a video.\n" * 100
    with pytest.raises(UploadRejected) as caught:
        save_upload(chunked(text), tmp_path, "notes.mp4", max_bytes=10**9)
    assert caught.value.status == 415
    assert str(caught.value) == "notes.mp4 is not a video or audio file this server can index (detected: text)"
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "detected"),
    [(b"", "an empty file"), (b"\x89PNG\r\n\x1a\n" + bytes(600), "a PNG image"), (bytes(range(256)) * 3, "binary")],
)
def test_save_upload_415_names_what_it_found(tmp_path: Path, data: bytes, detected: str) -> None:
    with pytest.raises(UploadRejected, match=f"detected: .*{detected}") as caught:
        save_upload([data] if data else [], tmp_path, "x.mp4", max_bytes=10**9)
    assert caught.value.status == 415
    assert listing(tmp_path) == []


def test_save_upload_client_disconnect_leaves_nothing(tmp_path: Path, small_mp4: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield small_mp4.read_bytes()[:4000]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        save_upload(broken(), tmp_path, "a.mp4", max_bytes=10**9)
    assert listing(tmp_path) == []


# export_clip -------------------------------------------------------------------------------------


def test_export_clip_cuts_at_the_keyframe_and_plays(gop_video: Path, tmp_path: Path) -> None:
    out = export_clip(gop_video, 4.0, 8.0, tmp_path / "clips" / "clip.mp4")  # folder made on demand
    assert out == tmp_path / "clips" / "clip.mp4"
    info = probe(out)
    assert 3.0 <= info.duration <= 6.0
    assert info.has_video and info.has_audio
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")  # copied, not re-encoded
    frames = list(sample_frames(out, fps=1))
    assert frames[0].time == pytest.approx(0.0, abs=0.05)  # rebased to start near 0
    assert abs(int(frames[0].image.mean()) - grey(4)) <= 6  # the keyframe at 4 s opens the clip
    assert abs(int(frames[-1].image.mean()) - grey(7)) <= 6


def test_reencode_clip_starts_on_the_exact_frame(gop_video: Path, tmp_path: Path) -> None:
    info = probe(reencode_clip(gop_video, 5.6, 7.5, tmp_path / "exact.mp4"))
    assert info.duration == pytest.approx(1.9, abs=0.15) and (info.video_codec, info.audio_codec) == ("h264", "aac")
    frames = list(sample_frames(tmp_path / "exact.mp4", fps=5))
    assert abs(int(frames[0].image.mean()) - grey(5)) <= 6  # 5.6 s is still second 5...
    switch = next(f.time for f in frames if abs(int(f.image.mean()) - grey(6)) <= 6)
    assert switch == pytest.approx(0.4, abs=0.21)  # ...and second 6 begins 0.4 s in, not 1.0 s as from the keyframe
    with pytest.raises(MediaError, match="bad clip range"):
        reencode_clip(gop_video, 3, 2, tmp_path / "bad.mp4")
    assert not (tmp_path / "bad.mp4").exists()


def test_export_clip_starts_at_the_keyframe_before_start(gop_video: Path, tmp_path: Path) -> None:
    info = probe(export_clip(gop_video, 5.6, 6.5, tmp_path / "clip.mp4"))
    assert 1.3 <= info.duration <= 1.8  # from the keyframe at 5 s to 6.5 s
    first = next(sample_frames(tmp_path / "clip.mp4"))
    assert abs(int(first.image.mean()) - grey(5)) <= 6


def test_export_clip_end_past_the_media_stops_at_its_end(gop_video: Path, tmp_path: Path) -> None:
    info = probe(export_clip(gop_video, 10.0, 30.0, tmp_path / "tail.mp4"))
    assert info.duration == pytest.approx(2.0, abs=0.15)


def test_export_clip_from_matroska(media: Path, tmp_path: Path) -> None:
    source = make_video(media / "scenes.mkv", [Scene(2, (200, 30, 30)), Scene(2, (30, 30, 200))], size=(64, 48))
    info = probe(export_clip(source, 0.0, 3.0, tmp_path / "from-mkv.mp4"))
    assert info.has_video and 2.5 <= info.duration <= 3.5


def test_export_clip_audio_only(media: Path, tmp_path: Path) -> None:
    source = make_audio(media / "tone.m4a", 5, tone_hz=440)
    info = probe(export_clip(source, 1.0, 3.0, tmp_path / "tone.mp4"))
    assert info.has_audio and not info.has_video
    assert info.duration == pytest.approx(2.0, abs=0.2)


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (8.0, 4.0, "bad clip range"),
        (4.0, 4.0, "bad clip range"),
        (-1.0, 2.0, "bad clip range"),
        (float("nan"), 3.0, "bad clip range"),
        (0.0, float("inf"), "bad clip range"),
        (0.0, CLIP_MAX_SECONDS + 1.0, f"longer than the {CLIP_MAX_SECONDS} s limit"),
        (50.0, 60.0, "past the end"),
    ],
)
def test_export_clip_bad_ranges(gop_video: Path, tmp_path: Path, start: float, end: float, problem: str) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(MediaError, match=problem) as caught:
        export_clip(gop_video, start, end, out)
    assert caught.value.path == str(gop_video)
    assert not out.exists()


def test_export_clip_custom_limit(gop_video: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="longer than the 2 s limit"):
        export_clip(gop_video, 0.0, 3.0, tmp_path / "x.mp4", max_seconds=2)


def test_export_clip_codec_mp4_cannot_hold(media: Path, tmp_path: Path) -> None:
    vp8 = make_video(media / "vp8.webm", [Scene(2, (30, 200, 30))], size=(64, 48), codec="libvpx")
    out = tmp_path / "vp8.mp4"
    with pytest.raises(MediaError, match="mp4 cannot hold its video codec vp8"):
        export_clip(vp8, 0.0, 1.0, out)
    assert not out.exists()


def test_export_clip_not_media(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 50)
    with pytest.raises(MediaError, match="not a media file"):
        export_clip(notes, 0.0, 1.0, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
