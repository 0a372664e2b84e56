"""The caption route inside the indexer, and what captioning a library would cost before it runs.

Usage::

    sink = CaptionSink(captioner, row=lambda span: {...text row...}, store=indexer.store_text)
    for seg in segments:
        sink.add(seg)                          # one VLM call per shot keyframe; stops at the first failure
    state = sink.finish()                      # {"state": "done"|"failed", "version", "rows", "note"}

    plan = plan_captions(catalog, library.videos(), skip=settings.data_dir)
    print("\\n".join(plan.lines()))             # videos, keyframes, tokens, time, money
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidseek.analyze.captions import OUTPUT_TOKENS, PROMPT_TOKENS, TOKENS_PER_IMAGE
from vidseek.records import CAPTION, Segment, TextSpan
from vidseek.store.catalog import VideoRecord

SECONDS_PER_SHOT = 5.0  # for videos without stored shots: about one shot per 5 s (shots are cut at 10 s)


class CaptionSink:
    """Collects one caption row per shot; the first endpoint failure ends captioning of this video.

    Usage: `sink = CaptionSink(captioner, row, store); sink.add(segment); state = sink.finish()`.
    """

    def __init__(self, captioner: Any, row: Callable[[TextSpan], dict], store: Callable[[list[dict]], int]):
        self.captioner = captioner
        self.row = row
        self.store = store
        self.rows: list[dict] = []
        self.error: str | None = None

    def add(self, seg: Segment) -> bool:
        """Caption one shot's keyframe; False once the endpoint has failed (nothing more is sent)."""
        from vidseek.analyze.llm import LLMError  # httpx: only once captions are made

        if self.error is not None:
            return False
        try:
            text = self.captioner.caption(seg.keyframe)
        except LLMError as exc:
            self.error = str(exc)
            return False
        self.rows.append(self.row(TextSpan(CAPTION, seg.start, seg.end, text)))
        return True

    def finish(self) -> dict:
        """The route's state; rows are stored only when every shot got its caption."""
        version = self.captioner.version
        if self.error is not None:
            note = f"{self.error}; run `vidseek captions run` (or `vidseek index`) again to resume"
            return {"state": "failed", "version": version, "rows": 0, "note": note}
        return {"state": "done", "version": version, "rows": self.store(self.rows)}


@dataclass
class VideoCost:
    """One video that still needs captions: its keyframes, counted from stored shots or estimated."""

    path: str
    keyframes: int
    estimated: bool  # True: from the duration (no stored shots), not counted
    indexed: bool  # False: `vidseek index` must run first (or will caption it, with the route enabled)
    video_id: int | None = None


@dataclass
class CaptionPlan:
    """What captioning `videos` would cost. Usage: `plan.tokens`, `plan.cost`, `print(*plan.lines(), sep="\\n")`."""

    videos: list[VideoCost] = field(default_factory=list)
    tokens_per_image: int = TOKENS_PER_IMAGE
    seconds_per_call: float | None = None  # measured with one call (`--probe`), else unknown
    price_per_1k_tokens: float | None = None

    @property
    def keyframes(self) -> int:
        return sum(v.keyframes for v in self.videos)

    @property
    def tokens_per_keyframe(self) -> int:
        return self.tokens_per_image + PROMPT_TOKENS + OUTPUT_TOKENS

    @property
    def tokens(self) -> int:
        return self.keyframes * self.tokens_per_keyframe

    @property
    def seconds(self) -> float | None:
        return None if self.seconds_per_call is None else self.keyframes * self.seconds_per_call

    @property
    def cost(self) -> float | None:
        return None if self.price_per_1k_tokens is None else self.tokens / 1000 * self.price_per_1k_tokens

    def indexed(self) -> list[VideoCost]:
        return [v for v in self.videos if v.indexed]

    def lines(self) -> list[str]:
        """The estimate in plain words, one fact a line."""
        estimated = sum(v.keyframes for v in self.videos if v.estimated)
        waiting = len(self.videos) - len(self.indexed())
        out = [f"videos to caption   {len(self.videos)}" + (f" ({waiting} not indexed yet)" if waiting else ""),
               f"keyframes (calls)   {self.keyframes}" + (f" ({estimated} estimated from duration)" if estimated
                                                          else ""),
               f"tokens              ~{self.tokens:,} ({self.tokens_per_image} per image + {PROMPT_TOKENS} prompt + "
               f"{OUTPUT_TOKENS} answer, per keyframe)"]
        if self.seconds is not None:
            out.append(f"time                ~{_duration(self.seconds)} ({self.seconds_per_call:.2f} s per call, "
                       "one at a time)")
        else:
            out.append("time                unknown (add --probe to time one call against the endpoint)")
        if self.cost is not None:
            cost = f"{self.cost:,.2f}" if self.cost >= 1 else f"{self.cost:.2g}"
            out.append(f"cost                ~{cost} (at {self.price_per_1k_tokens:g} per 1k tokens)")
        return out

    def to_dict(self) -> dict:
        return {"videos": len(self.videos), "not_indexed": len(self.videos) - len(self.indexed()),
                "keyframes": self.keyframes, "tokens": self.tokens, "tokens_per_keyframe": self.tokens_per_keyframe,
                "seconds_per_call": self.seconds_per_call, "seconds": self.seconds, "cost": self.cost}


def needs_captions(video: VideoRecord, version: str | None) -> bool:
    """True when the caption route is missing, failed, or made by another model (when `version` is known)."""
    state = video.routes.get(CAPTION, {})
    return state.get("state") != "done" or (version is not None and state.get("version") != version)


def plan_captions(catalog: Any, videos: list[VideoRecord], skip: Path, paths: Iterable[str | Path] | None = None,
                  version: str | None = None) -> CaptionPlan:
    """Which of a library's `videos` (under `paths`, if given, plus files there not indexed yet; `skip` is
    the data dir, never scanned) need captions, and what that costs. `catalog` gives their stored shots."""
    chosen, new_files = _select(videos, skip, paths)
    todo = [v for v in chosen if v.status != "done" or needs_captions(v, version)]
    shots = catalog.segments_for(v.id for v in todo if v.status == "done")
    plan = CaptionPlan()
    for v in todo:
        count = len(shots.get(v.id, []))
        no_video = any(s.get("note") == "no video stream" for s in v.routes.values())
        if count or no_video:
            plan.videos.append(VideoCost(v.path, count, False, v.status == "done", v.id))
        else:
            plan.videos.append(VideoCost(v.path, _guess(v.duration), True, v.status == "done", v.id))
    for path in new_files:
        plan.videos.append(VideoCost(str(path), _guess(_duration_of(path)), True, False))
    return plan


def _select(videos: list[VideoRecord], skip: Path,
            paths: Iterable[str | Path] | None) -> tuple[list[VideoRecord], list[Path]]:
    """The library's videos under `paths` (all of them without paths), and files there it does not hold yet."""
    if paths is None:
        return videos, []
    from vidseek.index.scan import scan

    roots = [str(Path(p).expanduser().resolve()) for p in paths]
    chosen = [v for v in videos if any(v.path == r or v.path.startswith(r.rstrip("/") + "/") for r in roots)]
    known = {v.path for v in videos}
    files, _ = scan(roots, skip=skip)
    return chosen, [f for f in files if str(f) not in known]


def _guess(duration: float) -> int:
    """Keyframes a video of `duration` seconds will likely have: `_guess(60.0) == 12`."""
    return math.ceil(duration / SECONDS_PER_SHOT) if duration > 0 else 0


def _duration_of(path: Path) -> float:
    """Seconds of video in a file not indexed yet (0 when it has no video stream or cannot be read)."""
    from vidseek.errors import MediaError
    from vidseek.media.probe import probe

    try:
        info = probe(path)
    except MediaError:
        return 0.0
    return info.duration if info.has_video else 0.0


def _duration(seconds: float) -> str:
    """Seconds for people: `_duration(5400) == "1.5 h"`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
