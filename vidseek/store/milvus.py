"""Searchable rows in Milvus: one dense collection (visual) and one text collection (speech/OCR/title/
caption) that holds BM25 terms and a dense text embedding side by side, searched together.

The same code talks to Milvus Lite (a file in the data dir, the embedded default) and to a Milvus
server or cluster (VIDSEEK_MILVUS_URI). Known Lite limits shape this module: float vectors only,
~65 ms per call (so rows are inserted in large batches), no collection rename, and freshly inserted
rows are only searchable once `pending_index_rows == 0` (see `wait_indexed`), and filters are not free
(a `route in [...]` condition cost ~10 ms per request at 300k rows, so callers leave it out when it
would match every row).

The text collection is named after its vector width (`vidseek_text_896`): a text model of another
width, or a data dir from before semantic search (`vidseek_text`, no vectors), is migrated by copying
its rows into the new collection with empty vectors; the index pipeline then embeds them video by
video (`vidseek.index.embed`). Each row's `ev` names the model that made its vector ("" = none yet).

With VIDSEEK_TEXT_COMPRESSION=binary the collection is `vidseek_text_896_bin`: each row also holds the
sign bits of its vector (`code`, 112 B), searched by Hamming distance for the best
VIDSEEK_TEXT_RERANK_DEPTH rows, which are re-ranked exactly by their float vectors. Switching the
setting copies the rows, vectors kept, into the collection of the other kind.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidseek.errors import StoreError
from vidseek.settings import Settings
from vidseek.store.catalog import check_name
from vidseek.text import search_terms

log = logging.getLogger(__name__)

_INSERT_BATCH = 500  # Lite ingests ~6.7k rows/s at 500 per call, ~2.5k at 2000
_DNA_BATCH = 512  # query codes per Hamming search request (a clip asks ~240 a second: crops x mirror)
_TEXT_MAX = 4000  # characters kept per text row; longer transcripts are split upstream
_TEXT_FIELDS = ["tenant", "library_id", "video_id", "route", "start", "end", "text", "terms"]
DEFAULT_TEXT_DIM = 896  # the default text model's width (e5-small-q4 384 + use-m3 512)
_BINARY_SUFFIX = "_bin"  # the text collection of VIDSEEK_TEXT_COMPRESSION=binary
# What Milvus Lite 2.5.1 builds for float vectors (measured: HNSW, IVF_SQ8 and the rest are refused).
LITE_INDEXES = ("AUTOINDEX", "FLAT", "IVF_FLAT")


@dataclass
class StoredHit:
    """A row returned by a recall query, before fusion."""

    video_id: int
    route: str
    start: float
    end: float
    raw: float  # cosine for visual, BM25 (negative on Lite) or fused rank for text
    text: str | None = None
    vector: np.ndarray | None = None  # the text row's embedding (zeros until it is embedded)


def _code_bits(dim: int) -> int:
    """A binary vector's width in Milvus is a multiple of 8: the code of a `dim`-wide vector, padded."""
    return -(-dim // 8) * 8


def scoped(tenant: str, flt: str = "") -> str:
    """The filter every read uses: the tenant's rows only, and then the caller's conditions."""
    check_name("tenant", tenant)  # also keeps the name from breaking out of the quoted literal
    own = f'tenant == "{tenant}"'
    return f"{own} and ({flt})" if flt else own


def sign_code(vector: np.ndarray | Sequence[float]) -> bytes:
    """The binary code of a vector: one bit per dimension, set where the value is positive (packed,
    first dimension in the high bit). Inner product order is roughly Hamming order on these."""
    return np.packbits(np.asarray(vector, dtype=np.float32) > 0).tobytes()


class MilvusStore:
    """Usage: `store = MilvusStore(settings); store.insert_text(rows); store.search_text("dog", 50)`."""

    def __init__(self, settings: Settings, text_dim: int | None = None):
        # milvus-lite 2.5 imports pkg_resources, which warns on every start; nothing for a user to do.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from pymilvus import MilvusClient  # imported lazily: it takes ~1 s

        self.settings = settings
        target = settings.milvus_target
        if settings.milvus_uri is None and settings.milvus_index not in LITE_INDEXES:
            raise StoreError(f"VIDSEEK_MILVUS_INDEX={settings.milvus_index} needs a Milvus server "
                             f"(VIDSEEK_MILVUS_URI): Milvus Lite builds {', '.join(LITE_INDEXES)} only")
        try:
            kwargs = {"token": settings.milvus_token} if settings.milvus_token else {}
            self.client = MilvusClient(target, **kwargs)
        except Exception as exc:  # pymilvus raises many types; all mean the same to a user
            raise StoreError(
                f"cannot open Milvus at {target}: {exc}. Check VIDSEEK_MILVUS_URI, or unset it to use "
                "the embedded Milvus Lite file in the data dir."
            ) from exc
        self.visual_name = f"{settings.collection_prefix}_visual"
        self.faces_name = f"{settings.collection_prefix}_faces"
        self.dna_name = f"{settings.collection_prefix}_dna"
        self._loaded: set[str] = set()
        self.binary = settings.text_compression == "binary"
        self.text_name = self._ensure_text(text_dim)
        self.text_dim = self._text_width(self.text_name) or DEFAULT_TEXT_DIM
        self._match_index(self.text_name, "dense")

    def _ready(self, name: str) -> bool:
        """Load a collection into memory once per process (a reopened Lite file starts released)."""
        if name in self._loaded:
            return True
        if not self.client.has_collection(name):
            return False
        self.client.load_collection(name)
        self._loaded.add(name)
        return True

    def warm(self) -> None:
        """Load every collection now (a reopened Lite file of 100k segments takes about a minute),
        so a long-lived process pays it before its first search, not during it."""
        for name in (self.text_name, self.visual_name, self.faces_name, self.dna_name):
            self._ready(name)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a dead Lite server must not mask the real error
            log.debug("milvus close failed", exc_info=True)
        if self.settings.milvus_uri is None:
            # pymilvus keeps the in-process Milvus Lite server, and its lock on milvus.db, until the
            # process exits; stop it so another process can use the data dir once we are closed.
            try:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.settings.milvus_target)
            except Exception:
                log.debug("releasing Milvus Lite failed", exc_info=True)

    # schema -------------------------------------------------------------------------------
    def _text_collections(self) -> list[str]:
        pattern = re.compile(re.escape(self.settings.collection_prefix) + r"_text(_\d+(" + _BINARY_SUFFIX + ")?)?")
        return [c for c in self.client.list_collections() if pattern.fullmatch(c)]

    def _text_width(self, name: str) -> int | None:
        """The vector width a text collection's name carries (None: the pre-vector `vidseek_text`)."""
        tail = name[len(self.settings.collection_prefix) + len("_text"):].removesuffix(_BINARY_SUFFIX)
        return int(tail[1:]) if tail else None

    def _ensure_text(self, dim: int | None) -> str:
        """The text collection for `dim`-wide vectors and the compression setting (made, or migrated from
        an older one, if needed)."""
        existing = self._text_collections()
        current = [c for c in existing if self._text_width(c) is not None]
        if dim is None:  # no text model: keep whatever width is there
            dim = self._text_width(current[0]) if current else DEFAULT_TEXT_DIM
        name = f"{self.settings.collection_prefix}_text_{dim}" + (_BINARY_SUFFIX if self.binary else "")
        sources = [c for c in existing if c != name]
        if name in existing and not sources:
            return name
        if name in existing:  # a migration was interrupted: the copy is incomplete, the source is whole
            self.client.drop_collection(name)
        self._create_text(name, dim)
        for source in sources:
            self._migrate(source, name)
        return name

    def _create_text(self, name: str, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        self._scope_fields(schema)
        schema.add_field("route", DataType.VARCHAR, max_length=16)
        schema.add_field("start", DataType.FLOAT)
        schema.add_field("end", DataType.FLOAT)
        # jieba segments Chinese and keeps latin words; Lite does not support `type: chinese`.
        analyzer = {"tokenizer": "jieba", "filter": ["lowercase"]}
        schema.add_field("text", DataType.VARCHAR, max_length=_TEXT_MAX * 4)  # as shown in evidence
        schema.add_field(  # what BM25 indexes: normalised text + trigrams (vidseek.text.search_terms)
            "terms", DataType.VARCHAR, max_length=_TEXT_MAX * 16, enable_analyzer=True, analyzer_params=analyzer
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)  # the text embedding; zeros until embedded
        schema.add_field("ev", DataType.VARCHAR, max_length=32)  # which model made `dense` ("" = none)
        if name.endswith(_BINARY_SUFFIX):  # the sign bits of `dense`: a coarse first stage, 1/32 of its bytes
            schema.add_field("code", DataType.BINARY_VECTOR, dim=_code_bits(dim))
        schema.add_function(
            Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                     output_field_names=["sparse"])
        )
        index = self.client.prepare_index_params()
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self._dense_index(index, "dense")
        if name.endswith(_BINARY_SUFFIX):
            index.add_index("code", index_type="BIN_FLAT", metric_type="HAMMING")
        self.client.create_collection(name, schema=schema, index_params=index)

    def _migrate(self, source: str, target: str) -> None:
        """Copy every row of an older text collection into `target`, then drop it. Vectors of the same
        width are kept (a change of VIDSEEK_TEXT_COMPRESSION); of another width they are left empty, and
        indexing embeds them again."""
        fields = {f["name"] for f in self.client.describe_collection(source)["fields"]}
        if not {"terms", "tenant"} <= fields:
            self.client.drop_collection(target)
            raise StoreError(
                f"collection {source} in {self.settings.milvus_target} was made by an older vidseek "
                "(no 'terms'/'tenant' fields); move that data dir away (or use a new VIDSEEK_COLLECTION_PREFIX) "
                "and index again"
            )
        width = self._text_width(target) or DEFAULT_TEXT_DIM
        keep = "dense" in fields and self._text_width(source) == width
        self.client.load_collection(source)
        total = int(self.client.get_collection_stats(source).get("row_count", 0))
        log.warning("moving the %d text rows of %s into %s (%s)", total, source, target,
                    "vectors kept" if keep else "semantic search needs a vector per row; indexing embeds them")
        zeros = [0.0] * width
        code = target.endswith(_BINARY_SUFFIX)
        moved, shown = 0, time.monotonic()
        for batch in self._scan(source, "", ["dense", "ev"] if keep else ()):
            rows = [{**{k: r[k] for k in _TEXT_FIELDS}, "dense": r["dense"] if keep else zeros,
                     "ev": r["ev"] if keep else ""} for r in batch]
            if code:
                for row in rows:
                    row["code"] = sign_code(row["dense"])
            self._insert(target, rows)
            moved += len(rows)
            if time.monotonic() - shown > 10:
                log.warning("moved %d of %d text rows into %s", moved, total, target)
                shown = time.monotonic()
        self._wait(target, "sparse", deadline=time.monotonic() + 3600)
        self.client.drop_collection(source)

    def _scope_fields(self, schema) -> None:
        """Every row carries its tenant, library and video. On a Milvus server the tenant is the
        partition key (rows of one tenant are stored and searched together); Milvus Lite has no
        partition keys, so there it is a plain field. Either way every read filters on it."""
        from pymilvus import DataType

        server = self.settings.milvus_uri is not None
        schema.add_field("tenant", DataType.VARCHAR, max_length=64, is_partition_key=server)
        schema.add_field("library_id", DataType.INT64)
        schema.add_field("video_id", DataType.INT64)

    def ensure_visual(self, dim: int) -> None:
        """Create the visual collection for `dim`-sized vectors; a different dim recreates it."""
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.visual_name):
            if self.visual_dim() == dim:
                self._match_index(self.visual_name, "vector")
                return
            log.warning("visual model dimension changed; dropping %s", self.visual_name)
            self.client.drop_collection(self.visual_name)
        schema = MilvusClient.create_schema(auto_id=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        self._scope_fields(schema)
        schema.add_field("start", DataType.FLOAT)
        schema.add_field("end", DataType.FLOAT)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self.client.prepare_index_params()
        self._dense_index(index, "vector")
        self.client.create_collection(self.visual_name, schema=schema, index_params=index)

    def visual_dim(self) -> int | None:
        if not self.client.has_collection(self.visual_name):
            return None
        for f in self.client.describe_collection(self.visual_name)["fields"]:
            if f["name"] == "vector":
                return int(f["params"]["dim"])
        return None

    def ensure_faces(self, dim: int) -> None:
        """The face collection: one row per face track, keyed by the catalog's track id."""
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.faces_name):
            self._match_index(self.faces_name, "vector", faces=True)
            return
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)  # = faces.id in the catalog
        self._scope_fields(schema)
        schema.add_field("start", DataType.FLOAT)
        schema.add_field("end", DataType.FLOAT)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self.client.prepare_index_params()
        self._dense_index(index, "vector", faces=True)
        self.client.create_collection(self.faces_name, schema=schema, index_params=index)

    # indexes ------------------------------------------------------------------------------
    def _index_kind(self, faces: bool = False) -> str:
        """VIDSEEK_MILVUS_INDEX, except that Lite's faces stay FLAT by default: exact (79 ms at 1M faces),
        where its AUTOINDEX (an interim IVF index) missed 10 % of a person's own faces (benchmarks/faces_dna.py).
        A server's AUTOINDEX (HNSW) is fine."""
        kind = self.settings.milvus_index
        if faces and kind == "AUTOINDEX" and self.settings.milvus_uri is None:
            return "FLAT"
        return kind

    def _dense_index(self, index, field: str, faces: bool = False) -> None:
        kind = self._index_kind(faces)
        params = dict(self.settings.milvus_index_params) if kind not in ("AUTOINDEX", "FLAT") else {}
        index.add_index(field, index_type=kind, metric_type="IP", params=params)

    def _match_index(self, name: str, field: str, faces: bool = False) -> None:
        """An existing collection whose vector index is not the one the settings name gets that index now
        (rows are kept; Milvus builds the new index from them)."""
        try:
            have = self.client.describe_index(name, field).get("index_type")
        except Exception:  # no index at all (made by hand): build ours
            have = None
        want = self._index_kind(faces)
        if have == want:
            return
        log.warning("re-indexing %s.%s as %s (was %s): VIDSEEK_MILVUS_INDEX", name, field, want, have)
        self.client.release_collection(name)
        self._loaded.discard(name)
        if have is not None:
            self.client.drop_index(name, field)
        index = self.client.prepare_index_params()
        self._dense_index(index, field, faces)
        self.client.create_index(name, index)
        self._wait(name, field, deadline=time.monotonic() + 3600)  # a big collection takes a while

    def _search_params(self) -> dict:
        params = {"metric_type": "IP"}
        if self.settings.milvus_search_params:
            params["params"] = dict(self.settings.milvus_search_params)
        return params

    def ensure_dna(self, bits: int) -> None:
        """The fingerprint collection: one binary code per informative sampled frame (Hamming search)."""
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.dna_name):
            fields = self.client.describe_collection(self.dna_name)["fields"]
            if any(f["name"] == "code" and int(f["params"]["dim"]) == bits for f in fields):
                return
            log.warning("fingerprint width changed; dropping %s", self.dna_name)
            self.client.drop_collection(self.dna_name)
        schema = MilvusClient.create_schema(auto_id=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        self._scope_fields(schema)
        schema.add_field("time", DataType.FLOAT)
        schema.add_field("code", DataType.BINARY_VECTOR, dim=bits)
        index = self.client.prepare_index_params()
        index.add_index("code", index_type="BIN_FLAT", metric_type="HAMMING")
        self.client.create_collection(self.dna_name, schema=schema, index_params=index)

    # writes -------------------------------------------------------------------------------
    def insert_text(self, rows: Sequence[dict]) -> int:
        """Rows: tenant, library_id, video_id, route, start, end, text, and optionally `dense` (a vector of
        `text_dim` floats) with `ev` (the model that made it); rows without one are stored with zeros."""
        zeros = [0.0] * self.text_dim
        clean = []
        for r in rows:
            if not r["text"].strip():
                continue
            vector = r.get("dense")
            row = {k: r[k] for k in ("tenant", "library_id", "video_id", "route", "start", "end")}
            row.update(text=r["text"][:_TEXT_MAX], terms=r.get("terms") or search_terms(r["text"][:_TEXT_MAX]),
                       dense=zeros if vector is None else np.asarray(vector, dtype=np.float32).tolist(),
                       ev=r.get("ev", "") if vector is not None else "")
            if self.binary:
                row["code"] = sign_code(row["dense"])
            clean.append(row)
        self._insert(self.text_name, clean)
        return len(clean)

    def text_rows(self, video_id: int) -> list[dict]:
        """Every text row of one video with its id and `ev` (which model embedded it), for re-embedding."""
        self._ready(self.text_name)
        return [row for batch in self._scan(self.text_name, f"video_id == {int(video_id)}", ["id", "ev"])
                for row in batch]

    def _scan(self, collection: str, flt: str, extra: Sequence[str] = ()) -> Iterable[list[dict]]:
        """Every row matching `flt`, in batches (Lite caps one query at 16384 rows)."""
        # The iterator warns on every Lite call that it falls back to a client timestamp: expected there.
        logging.getLogger("pymilvus.orm.iterator").setLevel(logging.ERROR)
        it = self._call(self.client.query_iterator, collection, batch_size=2000, filter=flt,
                        output_fields=[*extra, *_TEXT_FIELDS])
        try:
            while batch := it.next():
                yield batch
        finally:
            it.close()

    def delete_text_ids(self, ids: Sequence[int]) -> None:
        for i in range(0, len(ids), 1000):
            self._call(self.client.delete, self.text_name, filter=f"id in {[int(x) for x in ids[i : i + 1000]]}")

    def insert_visual(self, rows: Sequence[dict]) -> int:
        """Rows: tenant, library_id, video_id, start, end, vector (float32, L2-normalised)."""
        clean = [dict(r, vector=np.asarray(r["vector"], dtype=np.float32).tolist()) for r in rows]
        self._insert(self.visual_name, clean)
        return len(clean)

    def insert_faces(self, rows: Sequence[dict]) -> int:
        """Rows: id (the catalog's face track id), tenant, library_id, video_id, start, end, vector."""
        clean = [dict(r, vector=np.asarray(r["vector"], dtype=np.float32).tolist()) for r in rows]
        self._insert(self.faces_name, clean)
        return len(clean)

    def insert_dna(self, rows: Sequence[dict]) -> int:
        """Rows: tenant, library_id, video_id, time, code (packed uint8 bits)."""
        clean = [dict(r, code=bytes(r["code"]) if isinstance(r["code"], bytes)
                      else np.asarray(r["code"], dtype=np.uint8).tobytes()) for r in rows]
        self._insert(self.dna_name, clean)
        return len(clean)

    def _insert(self, collection: str, rows: list[dict]) -> None:
        for i in range(0, len(rows), _INSERT_BATCH):
            self._call(self.client.insert, collection, rows[i : i + _INSERT_BATCH])

    def delete_video(self, video_id: int, routes: Iterable[str] | None = None) -> None:
        """Remove every row of one video (optionally only some routes)."""
        flt = f"video_id == {int(video_id)}"
        own = {"visual": self.visual_name, "face": self.faces_name, "dna": self.dna_name}  # routes with a collection
        text_routes = [r for r in routes if r not in own] if routes is not None else None
        if text_routes is None or text_routes:
            rf = flt if text_routes is None else f'{flt} and route in {list(text_routes)}'
            self.client.delete(self.text_name, filter=rf)
        for route, name in own.items():
            if (routes is None or route in routes) and self.client.has_collection(name):
                self.client.delete(name, filter=flt)

    def wait_indexed(self, timeout: float = 120.0) -> None:
        """Block until inserted rows are searchable (Lite indexes asynchronously)."""
        deadline = time.monotonic() + timeout
        text = [(self.text_name, f) for f in ("sparse", "dense", *(("code",) if self.binary else ()))]
        for name, field in (*text, (self.visual_name, "vector"), (self.faces_name, "vector"), (self.dna_name, "code")):
            if self.client.has_collection(name):
                self._wait(name, field, deadline)

    def _wait(self, name: str, field: str, deadline: float | None = None) -> None:
        started = time.monotonic()
        deadline = deadline or started + 120.0
        self.client.flush(name)
        while self.client.describe_index(name, field).get("pending_index_rows", 0):
            if time.monotonic() > deadline:
                raise StoreError(f"Milvus did not finish indexing {name} within {deadline - started:.0f} s")
            time.sleep(0.1)

    # reads --------------------------------------------------------------------------------
    def search_text(self, query: str, limit: int, tenant: str, flt: str = "",
                    fuzzy: bool | Collection[str] = False) -> list[StoredHit]:
        """BM25 recall within one tenant; `query` is raw text, normalised here like the rows.

        `fuzzy` adds character trigrams to the query (of its longer words, or of those given) so misspelt
        rows are recalled too; it costs several times more on Milvus Lite (many more postings), so callers
        use it as a fallback.
        """
        query = search_terms(query, fuzzy=fuzzy)
        fields = ["video_id", "route", "start", "end", "text"]
        self._ready(self.text_name)
        res = self._call(
            self.client.search, self.text_name, data=[query], anns_field="sparse", limit=limit,
            filter=scoped(tenant, flt),
            output_fields=fields, search_params={"metric_type": "BM25"},
        )
        return [
            StoredHit(e["video_id"], e["route"], e["start"], e["end"], float(h["distance"]), e["text"])
            for h in res[0]
            for e in [h["entity"]]
        ]

    def search_text_dense(self, vector: np.ndarray, limit: int, tenant: str, flt: str = "") -> list[StoredHit]:
        """Text rows nearest to `vector` (a query's text embedding), each with its stored vector so the
        caller can calibrate per model and language. Lite's `hybrid_search` (BM25 + dense, RRF) took 151 ms
        for this at 300k rows, against ~25 ms for this request and `search_text` side by side.

        With binary codes: the VIDSEEK_TEXT_RERANK_DEPTH rows nearest by Hamming distance, re-ranked by
        the inner product of their stored vectors; `raw` is that inner product either way."""
        self._ready(self.text_name)
        if self.binary:
            return self._search_codes(np.asarray(vector, dtype=np.float32), limit, scoped(tenant, flt))
        res = self._call(
            self.client.search, self.text_name, data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="dense", limit=limit, filter=scoped(tenant, flt),
            output_fields=["video_id", "route", "start", "end", "text", "dense"], search_params=self._search_params(),
        )
        return [
            StoredHit(e["video_id"], e["route"], e["start"], e["end"], float(h["distance"]), e["text"],
                      np.asarray(e["dense"], dtype=np.float32))
            for h in res[0]
            for e in [h["entity"]]
        ]

    def _search_codes(self, vector: np.ndarray, limit: int, flt: str) -> list[StoredHit]:
        """Two requests: the `depth` nearest codes by Hamming distance (ids only: cheap), then the exact
        inner product over just those rows' float vectors. On Lite, returning 200 float vectors from the
        first request cost 17 ms against 8 ms for both requests at 5,000 rows; a filter this narrow makes
        Milvus score the listed rows one by one, so the second stage is exact. An index that still misses
        some of them (an IVF index searches nprobe lists only) is caught, and the first stage is re-run
        with the vectors and re-ranked here."""
        depth = min(max(self.settings.text_rerank_depth, limit), 16384)  # 16384: Milvus's most per search
        fields = ["video_id", "route", "start", "end", "text", "dense"]
        coarse = self._call(
            self.client.search, self.text_name, data=[sign_code(vector)], anns_field="code", limit=depth,
            filter=flt, search_params={"metric_type": "HAMMING"},
        )[0]
        ids = [int(h["id"]) for h in coarse]
        if not ids:
            return []
        res = self._call(
            self.client.search, self.text_name, data=[vector.tolist()], anns_field="dense", limit=min(limit, len(ids)),
            filter=f"id in {ids}", output_fields=fields, search_params={"metric_type": "IP"},
        )[0]
        if len(res) == min(limit, len(ids)):
            return [StoredHit(e["video_id"], e["route"], e["start"], e["end"], float(h["distance"]), e["text"],
                              np.asarray(e["dense"], dtype=np.float32)) for h in res for e in [h["entity"]]]
        log.debug("the dense index missed some of the %d candidates; re-ranking them here", len(ids))
        entities = [h["entity"] for h in self._call(
            self.client.search, self.text_name, data=[sign_code(vector)], anns_field="code", limit=depth,
            filter=flt, output_fields=fields, search_params={"metric_type": "HAMMING"})[0]]
        stored = np.asarray([e["dense"] for e in entities], dtype=np.float32)
        scores = stored @ vector
        return [StoredHit(e["video_id"], e["route"], e["start"], e["end"], float(scores[i]), e["text"], stored[i])
                for i in np.argsort(-scores, kind="stable")[:limit] for e in [entities[i]]]

    def search_visual(self, vector: np.ndarray, limit: int, tenant: str, flt: str = "") -> list[StoredHit]:
        """Nearest shots by inner product, within one tenant."""
        if not self._ready(self.visual_name):
            return []
        res = self._call(
            self.client.search, self.visual_name, data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=limit, filter=scoped(tenant, flt), output_fields=["video_id", "start", "end"],
            search_params=self._search_params(),
        )
        return [
            StoredHit(e["video_id"], "visual", e["start"], e["end"], float(h["distance"]))
            for h in res[0]
            for e in [h["entity"]]
        ]

    def search_faces(self, vector: np.ndarray, limit: int, tenant: str, flt: str = "") -> list[tuple[int, float]]:
        """Nearest face tracks by cosine, within one tenant: (track id, cosine)."""
        if not self._ready(self.faces_name):
            return []
        res = self._call(
            self.client.search, self.faces_name, data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector", limit=limit, filter=scoped(tenant, flt), output_fields=["video_id"],
            search_params=self._search_params(),
        )
        return [(int(h["id"]), float(h["distance"])) for h in res[0]]

    def search_dna(self, codes: Sequence[np.ndarray], limit: int, tenant: str,
                   flt: str = "", max_bits: int | None = None) -> list[list[tuple[int, float, int]]]:
        """For each query code, the nearest stored frame codes by Hamming distance: (video id, time, distance).

        `max_bits`: only codes at most this far (a range search: far fewer rows come back, and parsing
        them was most of the time; 512 codes took 34 ms against 295 ms with the plain kNN on Lite)."""
        if not codes or not self._ready(self.dna_name):
            return [[] for _ in codes]
        params: dict = {"metric_type": "HAMMING"}
        if max_bits is not None:
            params["params"] = {"radius": int(max_bits) + 1}  # Milvus: distance < radius
        out: list[list[tuple[int, float, int]]] = []
        for i in range(0, len(codes), _DNA_BATCH):  # far fewer round trips than one request a code
            data = [bytes(c) if isinstance(c, bytes) else np.asarray(c, dtype=np.uint8).tobytes()
                    for c in codes[i : i + _DNA_BATCH]]
            res = self._call(
                self.client.search, self.dna_name, data=data,
                anns_field="code", limit=limit, filter=scoped(tenant, flt), output_fields=["video_id", "time"],
                search_params=params,
            )
            out += [[(int(h["entity"]["video_id"]), float(h["entity"]["time"]), int(h["distance"])) for h in hits]
                    for hits in res]
        return out

    def texts_in(self, tenant: str, ranges: Sequence[tuple[int, float, float]], limit: int = 16384) -> list[StoredHit]:
        """Every text row of the tenant overlapping one of the (video_id, start, end) ranges: the
        context around cited moments (a sentence split over two OCR rows still reads whole)."""
        if not ranges or not self._ready(self.text_name):
            return []
        flt = " or ".join(f"(video_id == {int(v)} and start < {e + 0.01:.2f} and end > {s - 0.01:.2f})"
                          for v, s, e in ranges)
        rows = self._call(self.client.query, self.text_name, filter=scoped(tenant, flt), limit=limit,
                          output_fields=["video_id", "route", "start", "end", "text"])
        return [StoredHit(r["video_id"], r["route"], float(r["start"]), float(r["end"]), 0.0, r["text"]) for r in rows]

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MilvusException and gRPC errors alike
            raise StoreError(f"Milvus request failed ({self.settings.milvus_target}): {exc}") from exc

    def count(self, video_id: int | None = None, tenant: str | None = None) -> dict[str, int]:
        """Row counts per collection (optionally for one video or tenant); used by status and tests."""
        flt = f"video_id == {int(video_id)}" if video_id is not None else ""
        if tenant is not None:
            flt = scoped(tenant, flt)
        out = {}
        for name, key in ((self.text_name, "text"), (self.visual_name, "visual"), (self.faces_name, "faces"),
                          (self.dna_name, "dna")):
            if not self._ready(name):
                out[key] = 0
                continue
            res = self.client.query(name, filter=flt, output_fields=["count(*)"])
            out[key] = int(res[0]["count(*)"]) if res else 0
        return out
