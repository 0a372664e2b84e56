"""Read and check an evaluation queries file (JSONL, one query object per line).

Usage::

    queries = load_queries("queries.jsonl")   # raises QueryFileError("queries.jsonl:3: ...") on a bad line

A line looks like::

    {"id": "q001", "query": "the red boat leaves the harbour", "image": null, "videos": ["harbour/boat_01.mp4"],
     "start": 3.0, "end": 8.5, "lang": "en", "routes": ["speech"]}

* `query` text and/or `image` (a path relative to the JSONL file's folder): at least one.
* `videos`: the expected video(s), relative to the media root; `[]` = out-of-library (the right
  answer is "no match").
* `start`/`end` (optional, both or neither): the expected moment in the first expected video.
* `lang` (optional), `routes` (optional tags from visual/speech/ocr/title/caption) and `tags` (optional
  free labels, e.g. `paraphrase`, `crosslingual`) group the results.
* `id` is optional (default `L<line>`) and must be unique. Other keys are kept in `extra`, unchecked.
  Blank lines are skipped.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidseek.errors import VidseekError
from vidseek.records import ROUTES

KNOWN_KEYS = ("id", "query", "image", "videos", "start", "end", "lang", "routes", "tags")


_TAG = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class QueryFileError(VidseekError):
    """A queries file cannot be used; the message names file:line and the problem."""


@dataclass
class EvalQuery:
    """One checked query. `image` is resolved against the file's folder; `videos` stay relative."""

    id: str
    text: str | None
    videos: list[str]
    image: Path | None = None
    start: float | None = None
    end: float | None = None
    lang: str | None = None
    tags: list[str] = field(default_factory=list)
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_library(self) -> bool:
        return bool(self.videos)

    @property
    def has_moment(self) -> bool:
        return self.start is not None and self.end is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "query": self.text, "image": str(self.image) if self.image else None,
                "videos": self.videos, "start": self.start, "end": self.end, "lang": self.lang,
                "routes": [t for t in self.tags if t in ROUTES], "tags": [t for t in self.tags if t not in ROUTES]}


def load_queries(path: str | Path) -> list[EvalQuery]:
    """Parse and validate every line; the first problem raises QueryFileError naming file:line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise QueryFileError(f"{path}: no such queries file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryFileError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    queries: list[EvalQuery] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        q = parse_query(raw, where, path.parent, number)
        if q.id in seen:
            raise QueryFileError(f"{where}: duplicate id {q.id!r} (first used on line {seen[q.id]})")
        seen[q.id] = number
        queries.append(q)
    if not queries:
        raise QueryFileError(f"{path}: no queries in the file (expected one JSON object per line)")
    return queries


def parse_query(raw: str, where: str, folder: Path, line: int = 0) -> EvalQuery:
    """One JSONL line -> EvalQuery; `where` ("file:line") prefixes every error."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise QueryFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise QueryFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")

    def fail(problem: str) -> QueryFileError:
        return QueryFileError(f"{where}: {problem}")

    qid = obj.get("id", f"L{line}")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or str(qid).strip() == "":
        raise fail('"id" must be a non-empty string')
    text = _optional_str(obj, "query", fail)
    image = _optional_str(obj, "image", fail)
    if not (text and text.strip()) and not image:
        raise fail('give "query" text, an "image", or both')
    image_path = None
    if image:
        image_path = (folder / image).expanduser().resolve()
        if not image_path.is_file():
            raise fail(f'"image" file not found: {image_path}')
    videos = obj.get("videos")
    if not isinstance(videos, list) or not all(isinstance(v, str) and v.strip() for v in videos):
        raise fail('"videos" must be a list of video paths (an empty list for an out-of-library query)')
    start, end = _moment(obj, fail)
    if start is not None and not videos:
        raise fail('"start"/"end" given for an out-of-library query (empty "videos")')
    lang = _optional_str(obj, "lang", fail)
    tags = obj.get("routes") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail('"routes" must be a list of route names')
    unknown = [t for t in tags if t not in ROUTES]
    if unknown:
        raise fail(f'unknown route {unknown[0]!r} in "routes"; choose from {", ".join(ROUTES)}')
    labels = obj.get("tags") or []
    if not isinstance(labels, list) or not all(isinstance(t, str) and _TAG.match(t) for t in labels):
        raise fail('"tags" must be a list of short labels (letters, digits, - and _), e.g. ["paraphrase"]')
    tags = list(dict.fromkeys([*tags, *labels]))
    extra = {k: v for k, v in obj.items() if k not in KNOWN_KEYS}
    return EvalQuery(id=str(qid), text=text.strip() if text else None, videos=[v.strip() for v in videos],
                     image=image_path, start=start, end=end, lang=lang, tags=list(tags), line=line, extra=extra)


def _optional_str(obj: dict, key: str, fail) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(f'"{key}" must be a string or null, got {type(value).__name__}')
    return value or None


def _moment(obj: dict, fail) -> tuple[float | None, float | None]:
    start, end = obj.get("start"), obj.get("end")
    if start is None and end is None:
        return None, None
    if start is None or end is None:
        raise fail('give both "start" and "end" (seconds), or neither')
    for key, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail(f'"{key}" must be a number of seconds, got {value!r}')
    if start < 0 or end <= start:
        raise fail(f'"start" must be >= 0 and less than "end" (got {start} .. {end})')
    return float(start), float(end)
