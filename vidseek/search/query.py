"""The one search path used by the Python API, the CLI and the server.

Usage::

    lib.search("a dog on a skateboard").routes("visual", "speech").limit(5).to_list()
    Search(SearchDeps(settings, catalog, lambda: store, analyzers), "default", "狗").to_list()

Text routes match by words (BM25 recall, re-scored by query coverage) and by meaning (a text
embedding searched in the same Milvus request, scored against unrelated background sentences), and
each hit carries one calibrated score from both (`settings.text_match`: hybrid, lexical, semantic).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidseek.errors import ModelUnavailableError, QueryError, UnreadableImage
from vidseek.index.analyzers import TEXT_EMBEDDER, Analyzers
from vidseek.records import DNA, FACE, OPTIONAL_ROUTES, ROUTES, TEXT_ROUTES, VISUAL, Evidence, Moment
from vidseek.search.fuse import ScoredHit, fuse, promising
from vidseek.search.scoring import QueryTerms, hybrid_score, row_tokens, text_score
from vidseek.settings import Settings
from vidseek.store.catalog import Catalog, VideoRecord
from vidseek.store.milvus import MilvusStore, StoredHit
from vidseek.text import normalize, spelled_words

MATCH_MODES = ("hybrid", "lexical", "semantic")
MAX_WINDOW = 10_000  # offset + limit: how deep a search may page
MAX_FILTER_IDS = 10_000  # ids in one where(video_id=[...]) or where(library_id=[...])


@dataclass
class SearchDeps:
    """What a search reads: settings, the catalog, the store (opened on first use) and the models."""

    settings: Settings
    catalog: Catalog
    store: Callable[[], MilvusStore]
    analyzers: Analyzers


def _load_image(image: np.ndarray | bytes | str | Path) -> np.ndarray:
    """An example image as RGB uint8, from an array, encoded bytes or a file path (clear error if unreadable)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] < 3:
            raise QueryError(f"the query image must be an RGB array (H, W, 3), got shape {image.shape}")
        return np.ascontiguousarray(image[..., :3]).astype(np.uint8, copy=False)
    import io

    from PIL import Image, UnidentifiedImageError

    name = "the query image" if isinstance(image, bytes) else str(image)
    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as picture:
            return np.asarray(picture.convert("RGB"))
    except FileNotFoundError:
        raise QueryError(f"{name}: file not found") from None
    except UnidentifiedImageError:
        raise UnreadableImage(f"{name}: not an image vidseek can read (JPEG, PNG, WebP, GIF, BMP...)") from None
    except Image.DecompressionBombError:
        raise UnreadableImage(f"{name}: too many pixels to be a photo (over {Image.MAX_IMAGE_PIXELS:,})") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged files
        raise UnreadableImage(f"{name}: a damaged image ({type(exc).__name__}: {str(exc)[:120]})") from None


@dataclass
class SearchTrace:
    """What happened during one search, for --verbose / JSON output and benchmarks."""

    routes_used: list[str] = field(default_factory=list)
    routes_skipped: dict[str, str] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    text_match: str = "hybrid"  # what the text routes actually did (lexical when the embedder is unavailable)
    notes: list[str] = field(default_factory=list)  # e.g. why matching by meaning was off


class Search:
    """A chainable query. Builder methods validate, store and return `self`."""

    def __init__(self, deps: SearchDeps, tenant: str, text: str | None = None,
                 image: np.ndarray | bytes | str | Path | None = None,
                 face: np.ndarray | bytes | str | Path | None = None,
                 clip: str | Path | None = None):
        self._text = (text or "").strip()
        if not self._text and image is None and face is None and clip is None:
            raise QueryError("the query is empty: give a sentence or keywords to search for, an example image, "
                             "a face photo or a clip")
        if clip is not None and (self._text or image is not None or face is not None):
            raise QueryError("a clip is searched on its own (it finds copies of its picture); leave out the text, "
                             "image and face")
        self._deps = deps
        settings = deps.settings
        self._tenant = tenant
        self._image = _load_image(image) if image is not None else None
        self._face = _load_image(face) if face is not None else None
        self._clip = Path(clip) if clip is not None else None
        self.face_box: tuple[int, int, int, int] | None = None  # the face searched for, in the photo's pixels
        self._limit = 10
        self._offset = 0
        self._min_score = settings.min_score
        self._match = settings.text_match
        self._routes: list[str] = [r for r in ROUTES if r in settings.routes and r != DNA]
        # Neither .routes() nor VIDSEEK_ROUTES chose: the optional text routes (captions) are searched too,
        # which costs nothing until some video has rows for them (they only widen the BM25 route filter).
        explicit = "routes" in settings.model_fields_set
        self._optional: list[str] = [] if explicit else [r for r in OPTIONAL_ROUTES if r not in self._routes]
        self._path_prefix: str | None = None
        self._video_ids: list[int] | None = None
        self._library_ids: list[int] | None = None
        self._min_duration: float | None = None
        self._max_duration: float | None = None
        self._added_after: float | None = None
        self._added_before: float | None = None
        self._per_video = 3
        self.trace = SearchTrace()
        self.total = 0  # moments above the cutoff before limit/offset, set by to_list()

    def limit(self, n: int) -> Search:
        if n < 1 or n > 1000:
            raise QueryError(f"limit must be between 1 and 1000, got {n}")
        self._limit = n
        return self

    def offset(self, n: int) -> Search:
        if n < 0:
            raise QueryError(f"offset must be 0 or more, got {n}")
        self._offset = n
        return self

    def min_score(self, score: float) -> Search:
        if not 0.0 <= score <= 1.0:
            raise QueryError(f"min_score must be between 0 and 1, got {score}")
        self._min_score = score
        return self

    @property
    def cutoff(self) -> float:
        """The min_score applied: the one given, or the calibrated default."""
        return self._min_score

    def routes(self, *routes: str) -> Search:
        unknown = [r for r in routes if r not in ROUTES]
        if unknown or not routes:
            raise QueryError(f"unknown route(s) {unknown}; choose from {list(ROUTES)}")
        self._routes = list(routes)
        self._optional = []
        return self

    def match(self, mode: str) -> Search:
        """How text routes match: "hybrid" (words and meaning, the default), "lexical" or "semantic"."""
        if mode not in MATCH_MODES:
            raise QueryError(f"unknown text match {mode!r}; choose from {list(MATCH_MODES)}")
        self._match = mode
        return self

    def per_video(self, n: int) -> Search:
        if n < 1:
            raise QueryError("per_video must be at least 1")
        self._per_video = n
        return self

    def where(self, path_prefix: str | None = None, video_id: int | list[int] | None = None,
              min_duration: float | None = None, max_duration: float | None = None,
              library_id: int | list[int] | None = None, added_after: float | None = None,
              added_before: float | None = None) -> Search:
        """Filter by path prefix, video id(s), library id(s), video duration (s) and date added (unix s)."""
        if path_prefix is not None:
            self._path_prefix = path_prefix
        if video_id is not None:
            self._video_ids = _ids("video_id", video_id)
        if library_id is not None:
            self._library_ids = _ids("library_id", library_id)
        if min_duration is not None:
            self._min_duration = min_duration
        if max_duration is not None:
            self._max_duration = max_duration
        if added_after is not None:
            self._added_after = added_after
        if added_before is not None:
            self._added_before = added_before
        return self

    # execution ----------------------------------------------------------------------------
    def _filtered(self) -> bool:
        return any(v is not None for v in (self._path_prefix, self._video_ids, self._min_duration,
                                            self._max_duration, self._added_after, self._added_before))

    def _keep(self, v: VideoRecord) -> bool:
        return not (
            (self._path_prefix and not v.path.startswith(self._path_prefix))
            or (self._video_ids is not None and v.id not in self._video_ids)
            or (self._library_ids is not None and v.library_id not in self._library_ids)
            or (self._min_duration is not None and v.duration < self._min_duration)
            or (self._max_duration is not None and v.duration > self._max_duration)
            or (self._added_after is not None and v.added_at < self._added_after)
            or (self._added_before is not None and v.added_at > self._added_before)
        )

    def _allowed(self) -> set[int]:
        """Ids of the tenant's indexed videos passing the filters (only computed when there are filters)."""
        return {v.id for v in self._deps.catalog.videos(self._tenant, status="done") if self._keep(v)}

    def _store_filter(self, allowed: set[int] | None) -> str:
        """Conditions pushed into Milvus besides the tenant (which the store always adds)."""
        parts = []
        if allowed is not None:  # unfiltered searches push no id list: it would be huge at 100k videos
            parts.append(f"video_id in {sorted(allowed)}")
        if self._library_ids is not None:
            parts.append(f"library_id in {[int(i) for i in self._library_ids]}")
        return " and ".join(parts)

    def _recall_text(self, routes: list[str], flt: str) -> list[ScoredHit]:
        query = QueryTerms.parse(self._text)
        embedder = self._embedder()
        if query.empty and embedder is None:
            return []
        if set(routes) != set(TEXT_ROUTES):  # a filter that matches every text row still costs ~10 ms
            flt = f"({flt}) and route in {routes}" if flt else f"route in {routes}"
        # Words (BM25, re-scored here, then the fuzzy retry if needed) run on a worker thread while this one
        # encodes the query and asks for its nearest embeddings: Milvus ranks words on one core while the
        # encoder uses the other (3-7 % lower p50 than one after the other; BENCHMARKS.md).
        k, store = self._deps.settings.recall_k, self._deps.store()
        words = None
        if self._match != "semantic" and not query.empty:
            words = _Job(lambda: self._recall_words(query, store, k, flt), background=embedder is not None)
        hits: list[ScoredHit] = []
        if embedder is not None:
            vector = embedder.encode_query(self._text)
            near = store.search_text_dense(vector, _dense_k(k), self._tenant, flt)
            hits = self._score_hybrid(query, near, embedder, vector)
        if words is not None:
            hits = _best_per_row(hits + words.result())
        self.trace.candidates["text"] = len(hits)
        return hits

    def _recall_words(self, query: QueryTerms, store: MilvusStore, k: int, flt: str) -> list[ScoredHit]:
        hits = self._score_text(query, store.search_text(self._text, k, self._tenant, flt), fuzzy=False)
        self.trace.candidates["text_words"] = len(hits)
        spelled = spelled_words(self._text)
        if not spelled or any(h.score >= self._min_score for h in hits):
            return hits
        # No exact word matched well: retry with trigrams to catch OCR/ASR misspellings, of the query's
        # longer words that no recalled row spells as the query does (a word the library already holds as
        # typed is not misspelt; a query without such words would only repeat the request).
        seen = frozenset().union(*(row_tokens(h.text or "") for h in hits))
        unseen = [w for w in spelled if w not in seen]
        if not unseen:
            return hits
        fuzzy = store.search_text(self._text, k, self._tenant, flt, fuzzy=unseen)
        self.trace.candidates["text_fuzzy"] = len(fuzzy)
        return _best_per_row(hits + self._score_text(query, fuzzy, fuzzy=True))

    def _embedder(self) -> Any | None:
        """The text embedder when this search matches by meaning (and any video has vectors), else None."""
        self.trace.text_match = self._match
        if self._match == "lexical":
            return None
        analyzers = self._deps.analyzers
        embedder = analyzers.embedder()
        if embedder is None:
            reason = analyzers.reason(TEXT_EMBEDDER) or "unavailable"
            self.trace.notes.append(f"matching by meaning is off, words only: {reason}")
        elif not self._deps.catalog.has_embedding(self._tenant, embedder.tag):
            self.trace.notes.append("matching by meaning is off, words only: no indexed video has text vectors "
                                    "from this text model yet; run `vidseek index` on your folders to add them")
            embedder = None
        if embedder is None:
            if self._match == "semantic":
                raise ModelUnavailableError(self.trace.notes[-1])
            self.trace.text_match = "lexical"
        return embedder

    @staticmethod
    def _score_text(query: QueryTerms, hits: list, fuzzy: bool) -> list[ScoredHit]:
        return [ScoredHit(h.video_id, h.route, h.start, h.end, text_score(query, h.text or "", fuzzy), h.text,
                          "lexical") for h in hits]

    def _score_hybrid(self, query: QueryTerms, hits: list[StoredHit], embedder: Any,
                      vector: np.ndarray) -> list[ScoredHit]:
        if not hits:
            return []
        texts = [h.text or "" for h in hits]
        semantic = embedder.score(vector, np.stack([h.vector for h in hits]), texts, self._text)
        numbers = _numbers(self._text)
        out = []
        for h, text, sem in zip(hits, texts, semantic):
            lexical = text_score(query, text, fuzzy=False) if self._match == "hybrid" else 0.0
            if numbers and (theirs := _numbers(text)) and not numbers & theirs:
                sem = 0.0  # "part 2" is not "PART1", however alike they embed: numbers are exact
            score, how = hybrid_score(lexical, float(sem))
            out.append(ScoredHit(h.video_id, h.route, h.start, h.end, score, h.text, how))
        return out

    def _recall_visual(self, flt: str) -> list[ScoredHit]:
        deps = self._deps
        if not deps.catalog.has_route(VISUAL, self._tenant):
            # Nothing was embedded (e.g. no model when indexing): don't load, or download, one.
            self.trace.routes_skipped[VISUAL] = _visual_off(deps.catalog.route_problem(VISUAL, self._tenant))
            return []
        encoder = deps.analyzers.get(VISUAL)
        if encoder is None:
            self.trace.routes_skipped[VISUAL] = f"off: {deps.analyzers.reason(VISUAL) or 'unavailable'}"
            return []
        out = []
        queries = []
        text = self._without_names(self._text)  # "Alice at the beach": the picture is of a beach
        if text:
            queries.append((encoder.encode_texts([normalize(text)])[0], encoder.calibrate))
        if self._image is not None:
            queries.append((encoder.encode_images([self._image])[0], encoder.calibrate_image))
        for vector, calibrate in queries:
            hits = deps.store().search_visual(vector, deps.settings.recall_k, self._tenant, flt)
            self.trace.candidates[VISUAL] = self.trace.candidates.get(VISUAL, 0) + len(hits)
            scores = calibrate([h.raw for h in hits]) if hits else []
            out += [ScoredHit(h.video_id, VISUAL, h.start, h.end, float(s)) for h, s in zip(hits, scores)]
        return out

    # faces -------------------------------------------------------------------------------
    def _named(self) -> dict[str, int]:
        """The tenant's named people whose name the text query mentions: name -> person id."""
        if not self._text:
            return {}
        if not hasattr(self, "_named_cache"):
            folded = self._text.casefold()
            self._named_cache = {name: pid for name, pid in self._deps.catalog.people_named(self._tenant).items()
                                 if _mentions(folded, name.casefold())}
        return self._named_cache

    def _without_names(self, text: str) -> str:
        for name in self._named():
            text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
        return " ".join(text.split())

    def _face_model(self) -> Any:
        model = self._deps.analyzers.get(FACE)
        if model is None:
            raise ModelUnavailableError(f"search by face is off: {self._deps.analyzers.reason(FACE) or 'unavailable'}")
        return model

    def _recall_faces(self, flt: str) -> list[ScoredHit]:
        """Face tracks of the person in the photo (nearest vectors above the calibrated cutoff), and of the
        named people the text mentions."""
        from vidseek.analyze.faces import similarity_score

        catalog = self._deps.catalog
        scored: dict[int, float] = {}
        if self._face is not None:
            model = self._face_model()
            faces = model.detect_photo(self._face)
            if not faces:
                raise QueryError("no face found in the photo: give one where the face is clearly visible, "
                                 "facing the camera, at least about 40 pixels wide")
            face = faces[0]  # the clearest (large and surely a face), as the detector ranks them
            self.face_box = tuple(int(b) for b in face.box)
            if len(faces) > 1:
                self.trace.notes.append(f"{len(faces)} faces in the photo: searched for the clearest, at "
                                        f"x {face.box[0]}-{face.box[2]}, y {face.box[1]}-{face.box[3]}; "
                                        "crop the photo to choose another")
            found = self._deps.store().search_faces(face.vector, self._deps.settings.recall_k, self._tenant, flt)
            self.trace.candidates[FACE] = len(found)
            for face_id, cos in found:
                score = float(similarity_score(cos))
                if score >= 0.5:  # below: not the same person (0.5 is the calibrated cutoff)
                    scored[face_id] = max(scored.get(face_id, 0.0), score)
        named = self._named()
        people = {p.id: p for p in catalog.people(self._tenant, with_faces=False)} if named else {}
        for name, person_id in named.items():
            centroid = people[person_id].centroid if person_id in people else None
            for f in catalog.faces(self._tenant, person_id=person_id):
                score = float(similarity_score(float(f.vector @ centroid))) if centroid is not None else 0.5
                scored[f.id] = max(scored.get(f.id, 0.0), max(score, 0.5))
            self.trace.notes.append(f"{name}: searched with their face")
        if not scored:
            return []
        if not people:
            people = {p.id: p for p in catalog.people(self._tenant, with_faces=False)}
        names = {pid: p.name for pid, p in people.items() if p.name}
        out = []
        for f in catalog.faces(self._tenant, ids=scored):
            who = names.get(f.person_id) if f.person_id is not None else None
            out.append(ScoredHit(f.video_id, FACE, f.start, f.end, scored[f.id], who, None, f.box, f.thumbnail,
                                 f.id))
        return out

    # copies ------------------------------------------------------------------------------
    def _copies(self, flt: str, allowed: set[int] | None, t0: float) -> list[Moment]:
        """Videos holding the clip's picture, best first, each with the range that matches."""
        from vidseek.analyze.dna import fingerprint_file
        from vidseek.search.copies import find_copies

        fp = fingerprint_file(self._clip)  # 8 frames a second, with crop codes: a query is short
        found = find_copies(self._deps.store(), self._deps.catalog, self._tenant, fp, limit=MAX_WINDOW, flt=flt)
        found = [c for c in found if c.score >= self._min_score and (allowed is None or c.video_id in allowed)]
        self.trace.routes_used = [DNA]
        self.trace.candidates[DNA] = len(found)
        moments = []
        for c in found:
            a = c.alignment
            moments.append(Moment(c.video_id, c.path, float(a.ref_start), float(a.ref_end), c.score,
                                  [Evidence(DNA, c.score, float(a.ref_start), float(a.ref_end), c.describe())],
                                  library_id=c.library_id))
        shots = self._deps.catalog.shots_for(self._deps.catalog.videos_by_ids([m.video_id for m in moments],
                                                                              self._tenant).values())
        for m in moments:
            s = shots.get(m.video_id)
            pos = s.at(m.start + 0.01) if s is not None and len(s) else None
            if pos is not None:
                m.thumbnail, m.shot = s.thumbnail(pos), s.idx[pos]
        self.total = len(moments)
        self.trace.seconds = time.perf_counter() - t0
        return moments[self._offset : self._offset + self._limit]

    def to_list(self) -> list[Moment]:
        """Run the search: ranked moments with score >= min_score (possibly empty), after offset/limit.

        `self.total` then holds how many moments passed the cutoff in all."""
        t0 = time.perf_counter()
        if self._offset + self._limit > MAX_WINDOW:
            raise QueryError(f"offset + limit is {self._offset + self._limit:,}; a search pages through at most "
                             f"the first {MAX_WINDOW:,} moments: narrow it with filters instead")
        catalog = self._deps.catalog
        self.total = 0
        if not catalog.done_count(self._tenant):
            return []
        allowed = self._allowed() if self._filtered() else None
        if allowed is not None and not allowed:
            return []
        flt = self._store_filter(allowed)
        if self._clip is not None:
            return self._copies(flt, allowed, t0)
        hits: list[ScoredHit] = []
        text_routes = [r for r in self._routes + self._optional if r in TEXT_ROUTES]
        if text_routes and self._text:
            hits += self._recall_text(text_routes, flt)
        if FACE in self._routes and (self._face is not None or self._text):
            hits += self._recall_faces(flt)
        if VISUAL in self._routes and (self._text or self._image is not None):
            hits += self._recall_visual(flt)
        self.trace.routes_used = [r for r in self._routes if r not in self.trace.routes_skipped]
        self.trace.routes_used += [r for r in self._optional if any(h.route == r for h in hits)]
        hits = promising(hits, self._min_score)
        videos = catalog.videos_by_ids((h.video_id for h in hits), self._tenant)
        paths = {i: v.path for i, v in videos.items()
                 if v.status == "done" and (allowed is None or i in allowed) and self._keep(v)}
        shots = catalog.shots_for(videos[i] for i in paths)
        moments = fuse(hits, paths, shots.__getitem__, self._per_video)
        moments = [m for m in moments if m.score >= self._min_score]
        self.total = len(moments)
        names = {lib.id: lib.name for lib in catalog.libraries(self._tenant)} if moments else {}
        for m in moments:
            m.library_id = videos[m.video_id].library_id
            m.library = names.get(m.library_id)
        self.trace.seconds = time.perf_counter() - t0
        return moments[self._offset : self._offset + self._limit]

    def to_dicts(self) -> list[dict]:
        return [m.to_dict() for m in self.to_list()]


_DIGITS = re.compile(r"\d+")


def _ids(name: str, value: int | Iterable[int]) -> list[int]:
    ids = [value] if isinstance(value, int) else list(value)
    if len(ids) > MAX_FILTER_IDS:
        raise QueryError(f"{name}: {len(ids):,} ids; a filter takes at most {MAX_FILTER_IDS:,}")
    return ids


def _mentions(folded_text: str, folded_name: str) -> bool:
    """Does the query name this person? Whole words for names in letters; anywhere for CJK names."""
    if not folded_name:
        return False
    if re.fullmatch(r"[\w .'-]+", folded_name, flags=re.ASCII):
        return re.search(r"(?<!\w)" + re.escape(folded_name) + r"(?!\w)", folded_text) is not None
    return folded_name in folded_text


def _numbers(text: str) -> set[str]:
    return set(_DIGITS.findall(text))


def _visual_off(problem: str | None) -> str:
    """What to tell a user whose library has no image embeddings: why, and the one thing that fixes it."""
    again = "then `vidseek index <your folders>` adds the visual route to what is indexed (nothing else is redone)"
    if problem is None:
        return f"off: no indexed video has image embeddings, so what is seen cannot be searched; {again}"
    why, _, fix = problem.partition(" Fix: ")
    fix = fix.rstrip(". ") or "set VIDSEEK_VISUAL_MODEL to a model that loads (`vidseek models list`)"
    return f"off: what is seen cannot be searched, {why.rstrip('.')}. Fix: {fix}; {again}"


class _Job:
    """`fn()` on its own thread (or right here when not `background`); `result()` waits and re-raises."""

    def __init__(self, fn: Callable[[], Any], background: bool = True):
        self._fn, self._value, self._error = fn, None, None
        self._thread = threading.Thread(target=self._run, name="vidseek-search", daemon=True) if background else None
        if self._thread is not None:
            self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> Any:
        if self._thread is None:
            self._run()
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _dense_k(recall_k: int) -> int:
    """Nearest text rows fetched with their vectors: a third of the words' candidates (each vector is
    3.5 KB on the wire), which still leaves many times more rows than a result page shows."""
    return max(recall_k // 3, 16)


def _best_per_row(hits: list[ScoredHit]) -> list[ScoredHit]:
    """One hit per stored row (the exact and the fuzzy pass may both return it): the better one."""
    best: dict[tuple, ScoredHit] = {}
    for h in hits:
        key = (h.video_id, h.route, h.start, h.end, h.text)
        if key not in best or h.score > best[key].score:
            best[key] = h
    return list(best.values())


__all__ = ["Search", "SearchDeps", "SearchTrace"]
