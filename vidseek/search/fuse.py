"""Fuse per-route hits into one ranked list of moments.

Hits of the same video that overlap or nearly touch become one moment; its range is widened to
the enclosing shot boundaries. Route scores combine by noisy-OR (1 - prod(1 - s)), so agreement
between routes raises confidence while each score stays in 0..1 and the cutoff keeps its meaning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vidseek.records import FACE, SPEECH, TITLE, Evidence, Moment
from vidseek.store.shots import Shots

SPOKEN = frozenset({SPEECH})  # routes timed by their own words rather than by shots
MERGE_GAP = 1.5  # seconds between two hits that still count as one moment
CORE_RATIO = 0.6  # hits weaker than this share of a moment's best hit do not widen it


@dataclass
class ScoredHit:
    video_id: int
    route: str
    start: float
    end: float
    score: float
    text: str | None = None
    match: str | None = None  # text hits: lexical | semantic | both
    box: tuple[float, float, float, float] | None = None  # face hits: where, as fractions of the frame
    thumbnail: str | None = None  # face hits: their frame, with the box drawn
    face_id: int | None = None  # face hits: the track


def noisy_or(scores: Sequence[float]) -> float:
    prod = 1.0
    for s in scores:
        prod *= 1.0 - max(0.0, min(1.0, s))
    return 1.0 - prod


def promising(hits: list[ScoredHit], min_score: float) -> list[ScoredHit]:
    """Hits of videos whose best possible moment (all their routes' best hits fused) reaches
    `min_score`; the rest cannot produce a result, so their shots are never fetched."""
    best: dict[tuple[int, str], float] = {}
    for h in hits:
        key = (h.video_id, h.route)
        best[key] = max(best.get(key, 0.0), h.score)
    per_video: dict[int, list[float]] = defaultdict(list)
    for (vid, _), score in best.items():
        per_video[vid].append(score)
    keep = {vid for vid, scores in per_video.items() if noisy_or(scores) >= min_score and max(scores) > 0}
    return [h for h in hits if h.video_id in keep and h.score > 0]


def _clusters(hits: list[ScoredHit]) -> list[list[ScoredHit]]:
    """Group touching/overlapping hits, then keep each group's core (shots tile the timeline, so
    a strong shot always touches its neighbours; a weak neighbour must not stretch the moment)."""
    groups = _touching(hits)
    out = []
    for group in groups:
        best = max(h.score for h in group)
        core = [h for h in group if h.score >= CORE_RATIO * best]
        out.extend(_touching(core))
    return out


def _touching(hits: list[ScoredHit]) -> list[list[ScoredHit]]:
    hits = sorted(hits, key=lambda h: (h.start, h.end))
    out: list[list[ScoredHit]] = []
    end = float("-inf")
    for h in hits:
        if out and h.start <= end + MERGE_GAP:
            out[-1].append(h)
            end = max(end, h.end)
        else:
            out.append([h])
            end = h.end
    return out


def _best_per_route(hits: list[ScoredHit]) -> dict[str, ScoredHit]:
    best: dict[str, ScoredHit] = {}
    for h in hits:
        if h.route not in best or h.score > best[h.route].score:
            best[h.route] = h
    return best


def _is_video_level(h: ScoredHit, shots: Shots) -> bool:
    """Title hits, and text that spans the whole video (a watermark), say nothing about *when*."""
    if h.route == TITLE:
        return True
    return bool(len(shots)) and h.start <= shots.first_start + 0.01 and h.end >= shots.last_end - 0.5


def _moment(cluster: list[ScoredHit], video_level: list[ScoredHit], path: str,
            shots: Shots) -> Moment:
    best = _best_per_route(video_level)
    best.update({r: h for r, h in _best_per_route(cluster).items() if r not in best or h.score > best[r].score})
    start = min(h.start for h in cluster)
    end = max(h.end for h in cluster)
    if any(h.route not in SPOKEN for h in cluster):
        # Spoken words carry their own timestamps; widening them to the enclosing shots (up to
        # 10 s on a static scene) made speech moments several times longer than what was said.
        start, end = shots.snap(start, end)
    top = max(cluster, key=lambda h: h.score)
    evidence = [Evidence(h.route, h.score, h.start, h.end, h.text, h.match, h.box, h.thumbnail, h.face_id)
                for h in sorted(best.values(), key=lambda h: -h.score)]
    pos = shots.at((top.start + top.end) / 2)
    thumbnail = shots.thumbnail(pos) if pos is not None else None
    shot = shots.idx[pos] if thumbnail else None
    face = best.get(FACE)
    if face is not None and face.thumbnail and (top.route == FACE or thumbnail is None):
        thumbnail, shot = face.thumbnail, None  # the person's frame, with their face boxed
    return Moment(
        video_id=top.video_id, path=path, start=start, end=end,
        score=noisy_or([h.score for h in best.values()]), evidence=evidence,
        thumbnail=thumbnail, shot=shot,
    )


def fuse(
    hits: list[ScoredHit],
    paths: dict[int, str],
    shots_of: Callable[[int], Shots],
    per_video: int = 3,
) -> list[Moment]:
    """Group hits into moments, best first. `shots_of(video_id)` gives shot boundaries."""
    by_video: dict[int, list[ScoredHit]] = defaultdict(list)
    for h in hits:
        if h.video_id in paths:
            by_video[h.video_id].append(h)
    moments: list[Moment] = []
    audio_only: set[int] = set()
    for vid, vhits in by_video.items():
        segs = shots_of(vid)
        if not len(segs):
            audio_only.add(vid)
        whole = [h for h in vhits if _is_video_level(h, segs)]
        timed = [h for h in vhits if not _is_video_level(h, segs)]
        clusters = _clusters(timed) if timed else [whole]
        found = [_moment(c, whole, paths[vid], segs) for c in clusters]
        found.sort(key=lambda m: -m.score)
        moments.extend(found[:per_video])
    # Equal scores: a moment the user can watch beats the same words in an audio-only file.
    moments.sort(key=lambda m: (-round(m.score, 6), m.video_id in audio_only, m.path, m.start))
    return moments
