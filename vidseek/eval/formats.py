"""Convert public benchmark annotations into the `vidseek eval` queries JSONL.

Usage::

    conv = msrvtt_queries("MSRVTT/videos/all", ["MSRVTT_JSFUSION_test.csv"])
    write_jsonl(conv.queries, "msrvtt-1k.jsonl")
    vidseek corpus import charades-sta charades_sta_test.txt --videos Charades_v1_480 -o charades.jsonl

**MSR-VTT 1k-A** (text -> video retrieval; video level only: no start/end). Accepted annotation files
(the kind is told by the suffix):

* ``MSRVTT_JSFUSION_test.csv`` (columns ``key,vid_key,video_id,sentence``): the 1,000 test videos
  and one caption each — the standard 1k-A protocol, one query per row.
* A caption JSON: ``MSRVTT_data.json`` / ``test_videodatainfo.json`` (an object with ``"sentences":
  [{"video_id", "caption"}]`` and optionally ``"videos": [{"video_id", "split"}]``), or a plain list
  of ``{"video_id", "caption"}`` objects. With the CSV: one query per caption of the CSV's 1,000
  videos (~20 each). Alone: one query per caption of the ``split == "test"`` videos (all videos if
  there is no split) that are present in the video folder.

**Charades-STA** (moment retrieval): ``charades_sta_test.txt`` lines ``VIDEO_ID START END##sentence``
(e.g. ``3MSZA 24.3 30.4##person turn a light on.``) and the Charades video folder holding
``VIDEO_ID.mp4``. One query per line, with start/end.

Videos are looked up by file stem anywhere under the video folder (any video extension); captions
whose video is missing are skipped and counted. Written paths are relative to the JSONL's folder,
so `vidseek eval` finds them without --media.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidseek.errors import VidseekError

FORMATS = ("msrvtt", "charades-sta")


@dataclass
class Converted:
    """Queries ready for JSONL, and the video ids the annotations named but the folder lacks."""

    queries: list[dict[str, Any]] = field(default_factory=list)
    missing_videos: list[str] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)  # "file:line: why", kept out of the queries


class VideoFolder:
    """Video files under a folder by stem: `VideoFolder(d).relative("video7579", base)` -> "all/video7579.mp4"."""

    def __init__(self, folder: str | Path):
        self.root = Path(folder).expanduser().resolve()
        if not self.root.is_dir():
            raise VidseekError(f"{self.root}: no such video folder")
        from vidseek.media.probe import VIDEO_EXTENSIONS  # PyAV: only when converting

        self.by_stem: dict[str, Path] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                p = Path(dirpath) / f
                if p.suffix.lower() in VIDEO_EXTENSIONS:
                    self.by_stem.setdefault(p.stem, p)

    def relative(self, video_id: str, base: Path | None = None) -> str | None:
        """The video's path relative to `base` (default: the folder), POSIX style; None if absent."""
        path = self.by_stem.get(video_id)
        if path is None:
            return None
        return Path(os.path.relpath(path, (base or self.root).resolve())).as_posix()


def msrvtt_queries(videos: str | Path, annotations: Sequence[str | Path], relative_to: Path | None = None,
                   max_queries: int | None = None) -> Converted:
    """MSR-VTT 1k-A queries from a JSFusion CSV and/or a caption JSON (see the module doc)."""
    csv_files = [Path(a) for a in annotations if Path(a).suffix.lower() == ".csv"]
    json_files = [Path(a) for a in annotations if Path(a).suffix.lower() == ".json"]
    other = [str(a) for a in annotations if Path(a).suffix.lower() not in (".csv", ".json")]
    if other or not annotations or len(csv_files) > 1 or len(json_files) > 1:
        raise VidseekError("msrvtt takes MSRVTT_JSFUSION_test.csv and/or one caption JSON (MSRVTT_data.json, "
                           f"test_videodatainfo.json); got {[str(a) for a in annotations]}")
    folder = VideoFolder(videos)
    rows = _jsfusion_rows(csv_files[0]) if csv_files else None
    if json_files:
        captions, test_ids = _caption_json(json_files[0])
        wanted = list(dict.fromkeys(v for v, _, _ in rows)) if rows is not None else test_ids
        order = {v: i for i, v in enumerate(wanted)} if wanted is not None else None
        pairs = [(v, f"msrvtt-{v}-{n}", c) for n, (v, c) in enumerate(captions)
                 if order is None or v in order]
        if order is not None:
            pairs.sort(key=lambda p: order[p[0]])
        if rows is None and order is None:  # no split info: what the folder holds is the test set
            pairs = [p for p in pairs if p[0] in folder.by_stem]
    else:
        pairs = rows or []
    return _assemble(folder, pairs, relative_to, max_queries, lambda vid, text: {"query": text})


def _jsfusion_rows(path: Path) -> list[tuple[str, str, str]]:
    """(video_id, query id, sentence) per CSV row."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"video_id", "sentence"} <= set(reader.fieldnames):
                raise VidseekError(f"{path}: expected a CSV with columns key,vid_key,video_id,sentence "
                                   f"(MSRVTT_JSFUSION_test.csv), got {reader.fieldnames}")
            return [(r["video_id"].strip(), (r.get("key") or f"msrvtt-{r['video_id']}").strip(),
                     r["sentence"].strip()) for r in reader if r.get("video_id") and r.get("sentence")]
    except OSError as exc:
        raise VidseekError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _caption_json(path: Path) -> tuple[list[tuple[str, str]], list[str] | None]:
    """(video_id, caption) pairs, and the test split's video ids (None when the file has no split)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VidseekError(f"{path}: not a readable JSON file ({exc})") from None
    sentences = data.get("sentences") if isinstance(data, dict) else data
    if not isinstance(sentences, list) or not all(isinstance(s, dict) and "video_id" in s for s in sentences):
        raise VidseekError(f'{path}: expected {{"sentences": [{{"video_id", "caption"}}, ...]}} '
                           '(MSRVTT_data.json / test_videodatainfo.json) or a list of {"video_id", "caption"}')
    captions = [(str(s["video_id"]), str(s.get("caption") or s.get("sentence") or "").strip()) for s in sentences]
    videos = data.get("videos") if isinstance(data, dict) else None
    test_ids = None
    if isinstance(videos, list) and any(isinstance(v, dict) and "split" in v for v in videos):
        test_ids = [str(v["video_id"]) for v in videos if isinstance(v, dict) and v.get("split") == "test"]
    return [(v, c) for v, c in captions if c], test_ids


def charades_sta_queries(videos: str | Path, annotations: Sequence[str | Path], relative_to: Path | None = None,
                         max_queries: int | None = None) -> Converted:
    """Charades-STA moment queries from `VIDEO_ID START END##sentence` files (see the module doc)."""
    if not annotations:
        raise VidseekError("charades-sta needs an annotation file such as charades_sta_test.txt")
    folder = VideoFolder(videos)
    entries: list[tuple[str, str, tuple[str, float, float]]] = []
    bad: list[str] = []
    for ann in map(Path, annotations):
        try:
            lines = ann.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise VidseekError(f"{ann}: cannot read it as UTF-8 text ({exc})") from None
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            parsed = _charades_line(raw)
            if parsed is None:
                raise VidseekError(f"{ann}:{number}: expected 'VIDEO_ID START END##sentence', "
                                   f"got {raw.strip()[:80]!r}")
            vid, start, end, sentence = parsed
            if end <= max(start, 0.0):
                bad.append(f"{ann}:{number}: empty moment {start}..{end}")
                continue
            entries.append((vid, f"{vid}-{number}", (sentence.strip(), max(start, 0.0), end)))
    conv = _assemble(folder, entries, relative_to, max_queries,
                     lambda vid, item: {"query": item[0], "start": item[1], "end": item[2]})
    conv.skipped_lines = bad
    return conv


def _charades_line(raw: str) -> tuple[str, float, float, str] | None:
    head, sep, sentence = raw.partition("##")
    parts = head.split()
    if not sep or not sentence.strip() or len(parts) != 3:
        return None
    try:
        return parts[0], float(parts[1]), float(parts[2]), sentence
    except ValueError:
        return None


def _assemble(folder: VideoFolder, entries: Iterable[tuple[str, str, Any]], relative_to: Path | None,
              max_queries: int | None, fields) -> Converted:
    """Queries for the entries whose video is in the folder; the others' ids go to `missing_videos`."""
    conv = Converted()
    missing: dict[str, None] = {}
    for vid, qid, item in entries:
        rel = folder.relative(vid, relative_to)
        if rel is None:
            missing[vid] = None
            continue
        if max_queries is not None and len(conv.queries) >= max_queries:
            continue
        conv.queries.append({"id": qid, **fields(vid, item), "videos": [rel], "lang": "en", "routes": ["visual"]})
    conv.missing_videos = list(missing)
    if not conv.queries:
        first = next(iter(missing), None)
        hint = f" (looked for {first}.mp4 ...)" if first else ""
        raise VidseekError(f"no annotated video was found under {folder.root}{hint}")
    return conv


def write_jsonl(queries: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """One JSON object per line, UTF-8, non-ASCII kept readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    return path
