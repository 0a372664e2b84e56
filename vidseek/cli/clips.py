"""`vidseek cut N` and `vidseek open N`: the N-th moment of the last search, cut into a file or shown
in a player at its start.

Every `vidseek search` keeps its results in the data dir (`last-search.json`), numbered as printed,
so `vidseek search "night ferry"` then `vidseek cut 2 -o ferry.mp4` or `vidseek open 1` work.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vidseek.cli.common import DataDir, fail, load_settings, one_line, out
from vidseek.cli.results import LAST_SEARCH
from vidseek.errors import VidseekError

# Players that can start at a time, and how to say it; the first one installed is used.
PLAYERS = (("mpv", "mpv --start={start} {path}"), ("vlc", "vlc --start-time={start} {path}"),
           ("ffplay", "ffplay -ss {start} {path}"), ("mplayer", "mplayer -ss {start} {path}"))


def _moment(data_dir: Path | None, n: int) -> tuple[dict[str, Any], Any]:
    settings = load_settings(data_dir)
    saved = settings.data_dir / LAST_SEARCH
    try:
        last = json.loads(saved.read_text())
    except (OSError, ValueError):
        raise VidseekError(f"no search to take result {n} from in {settings.data_dir}; run `vidseek search ...` "
                           "first") from None
    moments = last.get("moments") or []
    if not 1 <= n <= len(moments):
        raise VidseekError(f"the last search ({last.get('query')!r}) has {len(moments)} result(s); "
                           f"pick 1 to {len(moments)}" if moments else "the last search found nothing")
    moment = moments[n - 1]
    if not moment.get("path"):
        moment["path"] = _path_of(settings, moment.get("video_id"))
    if not Path(moment["path"]).is_file():
        raise VidseekError(f"{moment['path']} is no longer there (moved or deleted since the search)")
    return moment, settings


def _path_of(settings: Any, video_id: int | None) -> str:
    """A server-backed search lists no paths: the server's catalog (same data dir) has them."""
    from vidseek.store.catalog import Catalog, catalog_target

    target = catalog_target(settings)
    if video_id is None or (isinstance(target, Path) and not target.is_file()):
        raise VidseekError("that result came from a remote server; download it from its /api/videos/<id>/clip")
    catalog = Catalog(target, read_only=True)
    try:  # the data dir is this user's: any tenant's video is theirs to cut
        video = next((v for t in catalog.tenants() if (v := catalog.get(video_id, t)) is not None), None)
    finally:
        catalog.close()
    if video is None:
        raise VidseekError(f"video {video_id} is not in this data dir's catalog any more")
    return video.path


def cut(
    n: Annotated[int, typer.Argument(help="A result number of the last `vidseek search`")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The mp4 to write (default: "  # noqa: UP045
                                                   "NAME_START-END.mp4 here)")] = None,
    reencode: Annotated[bool, typer.Option("--reencode", help="Frame-accurate: decode and encode again (slower); "
                                           "default: stream copy from the keyframe at or before the start")] = False,
    pad: Annotated[float, typer.Option(help="Seconds added before and after the moment")] = 0.0,
    data_dir: DataDir = None,
) -> None:
    """Cut result N of the last search into an mp4: `vidseek cut 2 -o ferry.mp4`."""
    from vidseek.media.clip import export_clip, reencode_clip

    try:
        moment, _ = _moment(data_dir, n)
        start, end = max(0.0, moment["start"] - pad), moment["end"] + pad
        target = output or Path(f"{Path(moment['path']).stem}_{start:.0f}-{end:.0f}.mp4")
        done = (reencode_clip if reencode else export_clip)(moment["path"], start, end, target)
    except VidseekError as exc:
        fail(exc, 1)
    how = "re-encoded" if reencode else "stream copy, from the keyframe at or before the start"
    out.print(f"wrote {one_line(done)} ({one_line(Path(moment['path']).name)} {start:.1f}–{end:.1f} s, {how})",
              highlight=False)


def open_moment(
    n: Annotated[int, typer.Argument(help="A result number of the last `vidseek search`")],
    player: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_PLAYER", help="Command with {path}, {start}, "  # noqa: UP045
                                                  "{end}, e.g. 'mpv --start={start} {path}'")] = None,
    data_dir: DataDir = None,
) -> None:
    """Play result N of the last search from its start in a video player (mpv, VLC, ffplay...)."""
    try:
        moment, _ = _moment(data_dir, n)
        command, seeks = _player_command(player, moment)
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # the player outlives this command
    except OSError as exc:
        fail(VidseekError(f"cannot start the player ({exc}); set VIDSEEK_PLAYER, e.g. 'mpv --start={{start}} "
                          "{{path}}'"), 1)
    except VidseekError as exc:
        fail(exc, 1)
    at = f"at {moment['start']:.1f} s" if seeks else f"from the beginning: seek to {moment['start']:.1f} s yourself"
    out.print(f"opening {one_line(Path(moment['path']).name)} {at} ({one_line(command[0])})", highlight=False)


def _player_command(template: str | None, moment: dict[str, Any]) -> tuple[list[str], bool]:
    """The argv to run, and whether it starts at the moment (a desktop opener cannot)."""
    values = {"path": moment["path"], "start": f"{moment['start']:.2f}", "end": f"{moment['end']:.2f}"}
    if template is None:
        template = next((t for name, t in PLAYERS if shutil.which(name)), None)
    if template is not None:
        try:
            argv = [part.format(**values) for part in shlex.split(template)]
        except (KeyError, IndexError, ValueError) as exc:
            raise VidseekError(f"VIDSEEK_PLAYER {template!r} is not a usable command template ({exc}); use "
                               "{path}, {start} and {end}") from None
        return argv, "{start}" in template
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:
        raise VidseekError("no video player found (mpv, vlc, ffplay, mplayer, xdg-open); install one or set "
                           "VIDSEEK_PLAYER")
    return [opener, moment["path"]], False
