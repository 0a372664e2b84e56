"""The fingerprint stage of indexing: perceptual codes of the sampled frames (`vidseek.analyze.dna`),
kept whole in the catalog for alignment and per frame in Milvus for finding candidate copies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vidseek.analyze.dna_format import CODE_BITS, DNA_VERSION

if TYPE_CHECKING:  # NumPy and the DCT tables load with the first frame, not for the version
    from vidseek.analyze.dna import Fingerprint
    from vidseek.records import Frame
    from vidseek.store.catalog import Catalog, VideoRecord
    from vidseek.store.milvus import MilvusStore

PROBE_SECONDS = 3600.0


class DnaSink:
    """Feeds the pipeline's frames to a fingerprint builder; `store()` files the result."""

    version = DNA_VERSION
    version_without_load = True

    def __init__(self, duration: float = 0.0) -> None:
        # Crop codes make the copy check at indexing find cropped copies too (~0.3 ms a frame, and a
        # 24 KB grid a frame held until the check): for videos up to an hour; longer ones go without.
        from vidseek.analyze.dna import FingerprintBuilder

        self._builder = FingerprintBuilder(probes=duration <= PROBE_SECONDS)
        self.fingerprint: Fingerprint | None = None

    def add(self, frame: Frame) -> None:
        self._builder.add(frame)

    def store(self, rec: VideoRecord, catalog: Catalog, store: MilvusStore, duration: float) -> dict[str, Any]:
        """Save the fingerprint (catalog) and its informative frame codes (Milvus); the route's state."""
        from vidseek.analyze.dna import index_codes

        fp = self.fingerprint = self._builder.finish(duration=duration or None)
        catalog.set_fingerprint(rec.id, DNA_VERSION, fp.to_bytes())
        rows = [{"tenant": rec.tenant, "library_id": rec.library_id, "video_id": rec.id, "time": float(t),
                 "code": code} for t, code in index_codes(fp)]
        if rows:
            store.ensure_dna(CODE_BITS)
            store.insert_dna(rows)
        return {"state": "done", "version": DNA_VERSION, "rows": len(rows)}


class Fingerprinter:
    """The DNA route's "model": no weights, so it is always available (the registry's interface)."""

    version = DNA_VERSION
    version_without_load = True

    def load(self) -> None:
        return None
