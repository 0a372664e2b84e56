"""Find copies: where a clip (or a re-cut of it) appears in the library, and groups of near-identical videos.

Two steps, as in industrial copy detection: about one textured frame a second of the query, in each of
its crop and mirror variants, asks Milvus for its nearest stored frame codes by Hamming distance;
videos with enough hits at a consistent time offset become candidates (`vote_candidates`), and only
those have their whole stored fingerprint aligned with the query (`vidseek.analyze.dna.align`), which
decides, and says which range matches which.

    for c in find_copies(store, catalog, "default", fingerprint_file("clip.mp4")):
        print(c.path, c.alignment.ref_start, c.alignment.ref_end)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from vidseek.analyze.dna import (
    DNA_VERSION,
    VOTE_BITS,
    Alignment,
    Fingerprint,
    align,
    probe_codes,
    vote_candidates,
)
from vidseek.store.catalog import Catalog
from vidseek.store.milvus import MilvusStore

NEIGHBOURS = 16  # stored frame codes fetched per probe code
CANDIDATES = 20  # videos whose whole fingerprint is aligned with the query
# Query frames that ask the index (each in all its crop and mirror variants: 242 codes a frame with
# crop codes): about one a second for a short clip, spread thinner over a long one. A copy shares
# the query's timeline, so frames spread over the whole query still meet it.
QUERY_FRAMES = 48


@dataclass
class CopyMatch:
    """One indexed video that holds (part of) the query's picture."""

    video_id: int
    path: str
    alignment: Alignment
    library_id: int | None = None

    @property
    def score(self) -> float:
        return float(self.alignment.score)

    def describe(self) -> str:
        a = self.alignment
        how = ", mirrored" if a.mirrored else ""
        return (f"{a.query_start:.1f}-{a.query_end:.1f} s here = {a.ref_start:.1f}-{a.ref_end:.1f} s there{how}, "
                f"score {a.score:.2f}")

    def to_dict(self) -> dict:
        a = self.alignment
        return {"video_id": self.video_id, "library_id": self.library_id, "path": self.path,
                "score": round(float(a.score), 4), "query_start": round(float(a.query_start), 2),
                "query_end": round(float(a.query_end), 2), "start": round(float(a.ref_start), 2),
                "end": round(float(a.ref_end), 2), "mirrored": bool(a.mirrored)}


def _rate(fp: Fingerprint, frames: int) -> float:
    return min(1.0, frames / max(float(fp.duration), 1.0))


def _candidates(store: MilvusStore, tenant: str, query: Fingerprint, flt: str, exclude: set[int],
                frames: int = QUERY_FRAMES, cropped_frames: int | None = None) -> list[int]:
    """Videos whose stored frame codes answer many of the query's probe codes at one time offset.

    `frames` ask as they are and mirrored; `cropped_frames` of them (default: all) also in every crop
    variant, which costs 121 times more a frame."""
    if cropped_frames is None or query.probes is None:
        probes = probe_codes(query, per_second=_rate(query, frames))
    else:
        plain = replace(query, probes=None, grids=None)
        probes = probe_codes(plain, per_second=_rate(query, frames))
        probes += probe_codes(query, per_second=_rate(query, cropped_frames))
    if not probes:
        return []
    found = store.search_dna([code for _, code in probes], NEIGHBOURS, tenant, flt, max_bits=VOTE_BITS)
    hits = ((q_time, video_id, ref_time, bits) for (q_time, _), row in zip(probes, found)
            for video_id, ref_time, bits in row if video_id not in exclude)
    return [int(v) for v, _ in vote_candidates(hits, limit=CANDIDATES)]


def find_copies(store: MilvusStore, catalog: Catalog, tenant: str, query: Fingerprint,
                exclude: Iterable[int] = (), limit: int = 20, flt: str = "",
                frames: int = QUERY_FRAMES, cropped_frames: int | None = None) -> list[CopyMatch]:
    """Indexed videos of the tenant that hold the query's picture, best first, with the aligned ranges.

    A query with crop codes (`fingerprint_file`, or a builder with `probes=True`) also finds copies
    that were cropped; one without them, only copies of the same framing."""
    candidates = _candidates(store, tenant, query, flt, set(exclude), frames, cropped_frames)
    if not candidates:
        return []
    stored = catalog.fingerprints(tenant, candidates)
    videos = catalog.videos_by_ids(candidates, tenant)
    out = []
    for video_id in candidates:
        version, data = stored.get(video_id, (None, None))
        if version != DNA_VERSION or video_id not in videos:
            continue  # made by another fingerprint version: `vidseek index` renews it
        found = align(query, Fingerprint.from_bytes(data))
        if found is not None:
            v = videos[video_id]
            out.append(CopyMatch(video_id, v.path, found, v.library_id))
    out.sort(key=lambda c: (-c.score, c.path))
    return out[:limit]


@dataclass
class CopyGroup:
    """Videos that are copies of each other (directly or through another member), with what they share:
    `shared` holds one dict per pair (a, b, a_start, a_end, b_start, b_end, score, mirrored)."""

    videos: list[int]
    paths: dict[int, str]
    shared: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"videos": [{"video_id": v, "path": self.paths[v]} for v in self.videos], "shared": self.shared}


def _pair(a: int, b: int, q: tuple[float, float], r: tuple[float, float], score: float, mirrored: bool) -> dict:
    """One shared segment, oriented from the lower video id to the higher."""
    if a > b:
        a, b, q, r = b, a, r, q
    return {"a": a, "b": b, "a_start": round(float(q[0]), 2), "a_end": round(float(q[1]), 2),
            "b_start": round(float(r[0]), 2), "b_end": round(float(r[1]), 2), "score": round(float(score), 4),
            "mirrored": bool(mirrored)}


def duplicate_groups(store: MilvusStore, catalog: Catalog, tenant: str,
                     library_id: int | None = None) -> list[CopyGroup]:
    """Groups of the tenant's videos (optionally of one library) that share picture, largest first.

    Two sources: the copies each video's indexing found (its frames then carried crop codes, so cropped
    copies are among them), and the stored fingerprints searched against each other (same framing)."""
    flt = f"library_id == {int(library_id)}" if library_id is not None else ""
    videos = {v.id: v for v in catalog.videos(tenant, library_id, status="done")}
    pairs: dict[tuple[int, int], dict] = {}
    for v in videos.values():
        for c in v.routes.get("dna", {}).get("copies") or []:
            other = c.get("video_id") if isinstance(c, dict) else None
            if other in videos and other != v.id:
                p = _pair(v.id, other, (c["query_start"], c["query_end"]), (c["start"], c["end"]), c["score"],
                          c["mirrored"])
                pairs.setdefault((p["a"], p["b"]), p)
    for video_id, (version, data) in sorted(catalog.fingerprints(tenant, videos).items()):
        if version != DNA_VERSION:
            continue
        for c in find_copies(store, catalog, tenant, Fingerprint.from_bytes(data), exclude={video_id}, flt=flt):
            a = c.alignment
            if c.video_id in videos:
                p = _pair(video_id, c.video_id, (a.query_start, a.query_end), (a.ref_start, a.ref_end), a.score,
                          a.mirrored)
                pairs.setdefault((p["a"], p["b"]), p)
    parent = {v: v for v in videos}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(b)] = root(a)
    members: dict[int, list[int]] = defaultdict(list)
    for v in parent:
        members[root(v)].append(v)
    groups = []
    for ids in members.values():
        if len(ids) < 2:
            continue
        ids.sort()
        inside = set(ids)
        groups.append(CopyGroup(ids, {i: videos[i].path for i in ids},
                                [p for (a, _), p in sorted(pairs.items()) if a in inside]))
    groups.sort(key=lambda g: (-len(g.videos), g.videos[0]))
    return groups
