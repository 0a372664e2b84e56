"""Video DNA: perceptual fingerprints that find re-uploads and copies, and say which range matches which.

    ref = FingerprintBuilder()                 # indexing: fed the frames the pipeline samples (1 fps)
    for frame in frames:
        ref.add(frame)
    stored = ref.finish(duration).to_bytes()   # ~17 bytes a frame, for the catalog
    query = fingerprint_file("clip.mp4")       # a query clip: 8 fps, with crop hypotheses
    hit = align(query, Fingerprint.from_bytes(stored))   # Alignment(query 0-5.5 s = ref 2.4-7.9 s) or None

The code (96 bits a frame). Each frame is area-averaged onto a 64x64 grid of luma and two colour
differences (any size or aspect ratio lands on the same grid, so resizing and re-encoding change
little). A DCT-II is taken over a *window*, the central 70 % of the picture in each direction
(borders, where crops, letterboxes and corner logos live, stay out); the bits are the signs of
77+1 luma coefficients (u + v <= 11, DC excluded) and 9+9 colour-difference coefficients
(u + v <= 3). Signs do not move under brightness or contrast changes (they scale coefficients and
move only DC) nor under mild gamma; fine detail (text, watermarks, noise) sits above these
frequencies, so overlays flip only a few bits. Mirroring flips exactly the coefficients with an
odd horizontal frequency: the mirrored code is the code XOR a fixed mask, free at query time. Stored
codes are packed uint8, CODE_BITS a multiple of 8: a Milvus BINARY_VECTOR searched by HAMMING.

Weights. A frame's weight (0..1) is the RMS of its luma coefficients with u + v >= 3, from 0.45
(nothing) to 1.0 grey levels (full): black and uniform frames, deep fades, smooth gradients and
vignettes weigh 0 or nearly so and never vote or match, so two black intros cannot make a copy.

Crops. A crop moves and scales the picture under the window, and the code is shift-sensitive
(a 2.5 % shift flips ~13 bits). A query clip therefore also carries `probes`: the codes of 121
window hypotheses per frame, 11 per axis ("the query lost 7.5 % on both sides / 15 % or 7.5 % on
one side of the original", or the original lost that much of the query), each also mirrored:
242 variants. Crops between grid points are found by refining the window of the best candidate
alignments (steps of 2.5 % then 1.25 %), using the small grids a query fingerprint keeps.

Alignment (`align`, `shared_segments`). Frame pairs within 24 bits vote, per hypothesis, for
their time offset (0.25 s bins, neighbours smoothed); the best 12 offsets are followed along
their diagonal: each frame of the sparser side is compared with the other side's frames nearest
in time (the phase between two samplings of a trimmed copy, and a changed frame rate, do not
move the time axis), a frame matches within 22 bits, and runs of matches may skip 2 s of misses.
Rival alignments of a pair are ranked by how closely their frames match (`fit`); the range
reaches half-way to the nearest unmatched frames.

Score. A run's evidence counts each second once: the mean over its frames of weight x strength
(1 within 8 bits, 0 at 22 and beyond), times how new its picture is against the run's earlier
seconds (20 bits apart = all new). The first picture counts 0.4 only, and a run of a single
second is halved: a still (one slide, a title card, a logo or watermark on black) is never a
copy, however long it lasts and however well it matches, because two slides of one template or
two clips under one stock watermark look alike at this resolution; the picture has to change, in
step, on both sides. score = evidence / (evidence + 0.5) and COPY_THRESHOLD = 0.5: at least the
first picture and a clear change after it, fully textured and matched.

Threshold and margins, measured on the 18 shared clips: 120 copies (15 clips x 8 edits: crops of
7.5 % a side or 15 % off one side with aspect change, 160x90 at CRF 40, brightness/contrast,
mirror, text tickers, logos, 12/15/24 fps, trims at 0.9-4.3 s) fingerprinted as query clips
against 1 fps references: the original ranked first 120/120, range within 1 s 117/120; lowest
true-copy score 0.53 (a slow pan at 160x90, CRF 40), highest score against any other clip 0.10.
References also at 8 fps: lowest 0.55, highest 0.13, every range within 1 s. Between distinct
shared clips (three share a stock watermark, two a slide template, one is black): 0.00 at 1 fps,
0.44 at most with one side as a query clip (the two template slides: a still, capped). Per frame,
over 113 k unrelated frame pairs (minimum over all 242 variants) none was within 20 bits; 94 % of
true pairs were.

Limits. Stored fingerprints have no probes: stored-against-stored (both 1 fps) finds uncropped
copies only, so a duplicates report should re-fingerprint one side with `fingerprint_file`
(a 160 px decode, about as long as the pipeline's frame sampling). A query sampled at 1 fps
finds fewer originals and ranges (116 and 96 of 120; 2 fps: 118 and 102; 4 fps: 120 and 110;
8 fps: 120 and 117). Slow pans and near-still shots match at many offsets, so their range
can be off by more than a second. Videos that are one still picture are never reported.

Retrieval at scale: `index_codes` gives the textured, non-repeating (time, code) rows of a stored
fingerprint to put in the HAMMING index; `probe_codes` the rows to search with; and
`vote_candidates` turns the kNN hits into a short list of videos to `align` in full.
"""

from __future__ import annotations

import contextlib
import functools
import math
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vidseek.analyze.dna_format import CODE_BITS, DNA_VERSION  # here too: the format is this module's
from vidseek.errors import MediaError
from vidseek.records import Frame

CODE_BYTES = CODE_BITS // 8

# -- the per-frame code -----------------------------------------------------------------------
_GRID = 64  # frames are area-averaged onto a GRID x GRID colour grid before anything else
_MARGIN = 0.15  # the canonical window: the central 70 % of the picture in each direction
_LUMA_DIAG = 11  # luma DCT coefficients with u + v <= 11 (77 of them) ...
_CHROMA_DIAG = 3  # ... and colour-difference coefficients with u + v <= 3 (9 per channel)


def _coefficients() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    luma = [(v, u) for v in range(_LUMA_DIAG + 1) for u in range(_LUMA_DIAG + 1) if 0 < u + v <= _LUMA_DIAG]
    luma.append((6, 6))  # one more luma bit makes 96
    chroma = [(v, u) for v in range(_CHROMA_DIAG + 1) for u in range(_CHROMA_DIAG + 1) if 0 < u + v <= _CHROMA_DIAG]
    return luma, chroma


_LUMA, _CHROMA = _coefficients()
assert len(_LUMA) + 2 * len(_CHROMA) == CODE_BITS
_NFREQ = max(_LUMA_DIAG, 6) + 1
_LV = np.array([v for v, _ in _LUMA])
_LU = np.array([u for _, u in _LUMA])
_CV = np.array([v for v, _ in _CHROMA])
_CU = np.array([u for _, u in _CHROMA])
# Mirroring the picture left-right flips the sign of every coefficient with an odd horizontal frequency.
_MIRROR_MASK = np.packbits(np.concatenate([_LU % 2 == 1, _CU % 2 == 1, _CU % 2 == 1]))
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

# Texture: RMS of the luma coefficients with u + v >= 3 (a smooth gradient or vignette has next to
# none), in grey levels. Below _FLAT a frame says nothing (black, uniform, deep in a fade); full
# weight from _TEXTURED. Real footage measures 0.7-3.6 here, a linear ramp 0.35, a vignette 0.5.
_FLAT = 0.45
_TEXTURED = 1.0
_DETAIL = (_LU + _LV) >= 3

# Geometric hypotheses for a probe (query) clip, per axis: (l, r) = the fraction of the other video's
# width the probe lost on the left / right (positive), or the other lost of the probe's (negative).
_AXIS_HYPOTHESES: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.075, 0.075), (0.15, 0.0), (0.0, 0.15), (0.075, 0.0), (0.0, 0.075),
    (-0.075, -0.075), (-0.15, 0.0), (0.0, -0.15), (-0.075, 0.0), (0.0, -0.075),
)  # fmt: skip


def _axis_window(hypothesis: tuple[float, float]) -> tuple[float, float]:
    """Where the other video's canonical window lies along one axis of the probe (0..1 coordinates)."""
    left, right = hypothesis
    if left >= 0 and right >= 0:  # the probe is a crop of the other: the other reaches beyond it
        kept = 1.0 - left - right
        lo, hi = -left / kept, 1.0 + right / kept
    else:  # the other is a crop of the probe
        lo, hi = -min(left, 0.0), 1.0 + min(right, 0.0)
    return lo + (hi - lo) * _MARGIN, lo + (hi - lo) * (1.0 - _MARGIN)


def _basis(lo: float, hi: float) -> np.ndarray:
    """(NFREQ, GRID) DCT-II basis over the window [lo, hi] of one axis, weighted by pixel coverage."""
    edges = np.arange(_GRID + 1) / _GRID
    left = np.clip(edges[:-1], lo, hi)
    right = np.clip(edges[1:], lo, hi)
    cover = (right - left) * _GRID
    phase = ((left + right) / 2 - lo) / (hi - lo)
    basis = np.cos(np.pi * np.arange(_NFREQ)[:, None] * phase[None, :]) * cover[None, :]
    return (basis / max(cover.sum(), 1e-6)).astype(np.float32)


_CANONICAL = _basis(_MARGIN, 1.0 - _MARGIN)
_AXIS_BASES = np.stack([_basis(*_axis_window(h)) for h in _AXIS_HYPOTHESES])  # (A, NFREQ, GRID)
_FLAT_BASES = _AXIS_BASES.reshape(-1, _GRID)
_AXIS_MIRROR = np.array([_AXIS_HYPOTHESES.index((r, left)) for left, r in _AXIS_HYPOTHESES])
_NA = len(_AXIS_HYPOTHESES)
PROBE_HYPOTHESES = _NA * _NA  # probe codes per frame: (vertical, horizontal) window pairs
# probe index p = vertical * NA + horizontal; its mirror image uses the mirrored horizontal window
_PROBE_MIRROR = np.array([v * _NA + _AXIS_MIRROR[h] for v in range(_NA) for h in range(_NA)])
# YCbCr-like: luma and two colour differences (contrast scales them all; brightness only moves DC)
_TO_YUV = np.array([[0.299, 0.587, 0.114], [-0.169, -0.331, 0.5], [0.5, -0.419, -0.081]], dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """These matrices are tiny: BLAS threads only wait for each other (10x slower on a busy machine)."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def _grid(image: np.ndarray) -> np.ndarray:
    """(3, GRID, GRID) float32 luma + colour differences of an RGB uint8 frame, area-averaged."""
    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    small = picture.resize((_GRID, _GRID), Image.Resampling.BOX, reducing_gap=2.0)
    rgb = np.asarray(small, dtype=np.float32)
    return np.ascontiguousarray((rgb @ _TO_YUV.T).transpose(2, 0, 1))


def _bits(coef: np.ndarray) -> np.ndarray:
    """Sign bits of the selected coefficients. coef: (..., 3, NFREQ, NFREQ) as [channel, v, u]."""
    luma = coef[..., 0, _LV, _LU]
    cb = coef[..., 1, _CV, _CU]
    cr = coef[..., 2, _CV, _CU]
    return np.packbits(np.concatenate([luma, cb, cr], axis=-1) > 0, axis=-1)


def _canonical(grid: np.ndarray) -> tuple[np.ndarray, float]:
    coef = _CANONICAL @ grid @ _CANONICAL.T  # (3, NFREQ, NFREQ)
    texture = float(np.sqrt(np.mean(coef[0, _LV[_DETAIL], _LU[_DETAIL]] ** 2)))
    return _bits(coef), texture


def _probes(grid: np.ndarray) -> np.ndarray:
    """(PROBE_HYPOTHESES, CODE_BYTES) codes of every window hypothesis."""
    coef = _FLAT_BASES @ grid @ _FLAT_BASES.T  # (3, A * NFREQ, A * NFREQ): every window pair at once
    coef = coef.reshape(3, _NA, _NFREQ, _NA, _NFREQ).transpose(1, 3, 0, 2, 4)  # (A_v, A_h, 3, NFREQ, NFREQ)
    return _bits(coef).reshape(PROBE_HYPOTHESES, CODE_BYTES)


def _weight(texture: float) -> float:
    return float(np.clip((texture - _FLAT) / (_TEXTURED - _FLAT), 0.0, 1.0))


# -- fingerprints -----------------------------------------------------------------------------
_MAGIC = b"VDNA"


@dataclass(eq=False)
class Fingerprint:
    """Per-frame codes of one video. `weights` 0..1: how much texture a frame has (0 = flat/black).

    `probes` (only for query clips): codes of PROBE_HYPOTHESES crop hypotheses per frame,
    shape (PROBE_HYPOTHESES, n, CODE_BYTES); `align` tries them all, and their mirror images.
    """

    times: np.ndarray  # float32 seconds, increasing
    codes: np.ndarray  # uint8 (n, CODE_BYTES), canonical window
    weights: np.ndarray  # float32 (n,)
    duration: float  # seconds covered: the last frame's time plus one frame interval (or the video's duration)
    probes: np.ndarray | None = None
    grids: np.ndarray | None = None  # query clips: (n, 3, GRID, GRID) float16 pictures, to refine crops
    mirrored: bool = False  # a query variant made from the mirror image
    hypothesis: int = 0  # which probe window a query variant uses (0 = canonical)
    version: str = field(default=DNA_VERSION)

    def __len__(self) -> int:
        return len(self.times)

    def to_bytes(self, probes: bool = False) -> bytes:
        """Compact, versioned blob for a catalog: ~17 bytes a frame before zlib (~60 KB an hour at 1 fps)."""
        n = len(self.times)
        keep = probes and self.probes is not None
        header = struct.pack("<4sB", _MAGIC, len(self.version)) + self.version.encode()
        body = struct.pack("<IdB", n, float(self.duration), 1 if keep else 0)
        body += np.asarray(self.times, dtype="<f4").tobytes()
        body += np.round(np.asarray(self.weights) * 255).astype(np.uint8).tobytes()
        body += np.ascontiguousarray(self.codes, dtype=np.uint8).tobytes()
        if keep:
            body += np.ascontiguousarray(self.probes, dtype=np.uint8).tobytes()
        return header + zlib.compress(body, 6)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Fingerprint:
        """Inverse of to_bytes; ValueError for a blob of another DNA_VERSION (recompute it) or a damaged one."""
        try:
            magic, size = struct.unpack_from("<4sB", blob)
            version = blob[5 : 5 + size].decode()
        except (struct.error, UnicodeDecodeError) as exc:
            raise ValueError("not a vidseek fingerprint") from exc
        if magic != _MAGIC:
            raise ValueError("not a vidseek fingerprint")
        if version != DNA_VERSION:
            raise ValueError(f"fingerprint version {version!r}, this vidseek reads {DNA_VERSION!r}: recompute it")
        try:
            body = zlib.decompress(blob[5 + size :])
            n, duration, has_probes = struct.unpack_from("<IdB", body)
            at = struct.calcsize("<IdB")
            times = np.frombuffer(body, "<f4", n, at).astype(np.float32)
            at += 4 * n
            weights = np.frombuffer(body, np.uint8, n, at).astype(np.float32) / 255
            at += n
            codes = np.frombuffer(body, np.uint8, n * CODE_BYTES, at).reshape(n, CODE_BYTES).copy()
            at += n * CODE_BYTES
            probes = None
            if has_probes:
                count = PROBE_HYPOTHESES * n * CODE_BYTES
                probes = np.frombuffer(body, np.uint8, count, at).reshape(PROBE_HYPOTHESES, n, CODE_BYTES).copy()
                at += count
        except (zlib.error, struct.error, ValueError) as exc:
            raise ValueError("damaged vidseek fingerprint") from exc
        if at != len(body):
            raise ValueError("damaged vidseek fingerprint")
        return cls(times, codes, weights, duration, probes)


class FingerprintBuilder:
    """Feed frames in time order as they are sampled; `finish()` returns the Fingerprint.

        builder = FingerprintBuilder()
        for frame in sample_frames(path, fps=1.0):
            builder.add(frame)
        fp = builder.finish(duration=info.duration)

    `probes=True` (query clips) also computes the crop-hypothesis codes (~1 ms more a frame).
    """

    def __init__(self, probes: bool = False) -> None:
        self._probes = probes
        self._times: list[float] = []
        self._codes: list[np.ndarray] = []
        self._weights: list[float] = []
        self._probe_codes: list[np.ndarray] = []
        self._grids: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._times)

    def add(self, frame: Frame) -> None:
        """Fingerprint one frame (RGB uint8, upright); ~1 ms for a 960x540 frame, ~2 ms with probes."""
        with _one_thread():
            grid = _grid(frame.image)
            code, texture = _canonical(grid)
            self._times.append(float(frame.time))
            self._codes.append(code)
            self._weights.append(_weight(texture))
            if self._probes:
                self._probe_codes.append(_probes(grid))
                self._grids.append(grid.astype(np.float16))

    def finish(self, duration: float | None = None) -> Fingerprint:
        """The fingerprint of every frame added; `duration` defaults to the last frame + one interval."""
        times = np.array(self._times, dtype=np.float32)
        if duration is None:
            step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
            duration = float(times[-1]) + step if len(times) else 0.0
        codes = np.array(self._codes, dtype=np.uint8).reshape(-1, CODE_BYTES)
        probes = grids = None
        if self._probes:
            probes = np.array(self._probe_codes, dtype=np.uint8).reshape(-1, PROBE_HYPOTHESES, CODE_BYTES)
            probes = np.ascontiguousarray(probes.transpose(1, 0, 2))
            grids = np.array(self._grids, dtype=np.float16).reshape(-1, 3, _GRID, _GRID)
        weights = np.array(self._weights, dtype=np.float32)
        return Fingerprint(times, codes, weights, float(duration), probes, grids)


def fingerprint_file(path: str | Path, fps: float = 8.0, probes: bool = True, max_side: int = 160) -> Fingerprint:
    """Fingerprint a whole file, by default as a query clip: 8 frames a second, with crop hypotheses.

    Raises MediaError when nothing in the file decodes as video.
    """
    from vidseek.media.frames import sample_frames

    builder = FingerprintBuilder(probes=probes)
    for frame in sample_frames(path, fps=fps, max_side=max_side):
        builder.add(frame)
    if not len(builder):
        raise MediaError(path, "no video frame could be decoded for a fingerprint")
    return builder.finish(_container_duration(Path(path)))


def _container_duration(path: Path) -> float | None:
    from vidseek.media.probe import open_media

    try:
        with open_media(path) as container:
            return container.duration / 1_000_000 if container.duration else None
    except MediaError:
        return None


def query_variants(fp: Fingerprint) -> list[Fingerprint]:
    """The codes to look a query up with: every crop hypothesis (or just the canonical window), and
    each one's mirror image. Each variant has `mirrored` and `hypothesis` set and no probes."""
    if fp.probes is None:
        stack, mirror_of = fp.codes[None], np.array([0])
    else:
        stack, mirror_of = fp.probes, _PROBE_MIRROR
    out = []
    for mirrored in (False, True):
        for h in range(len(stack)):
            codes = stack[mirror_of[h]] ^ _MIRROR_MASK if mirrored else stack[h]
            out.append(replace(fp, codes=codes, probes=None, grids=None, mirrored=mirrored, hypothesis=h))
    return out


# -- alignment --------------------------------------------------------------------------------
@dataclass
class Alignment:
    """query[query_start, query_end) shows the same picture as ref[ref_start, ref_end) (seconds)."""

    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    score: float  # 0..1; >= COPY_THRESHOLD is a copy
    matched: int  # frames of the sparser side that matched
    mirrored: bool = False
    mean_distance: float = 0.0  # mean Hamming distance (bits) of the matched frames
    evidence: float = 0.0  # texture- and novelty-weighted count of matched frames (what `score` maps)
    fit: float = 0.0  # how closely the frames match along this diagonal; ranks rival alignments

    @property
    def offset(self) -> float:
        """ref time = query time + offset."""
        return self.ref_start - self.query_start


COPY_THRESHOLD = 0.5
VOTE_BITS = 24  # frame pairs this close vote for their time offset
_MATCH_BITS = 22  # a frame on the diagonal within this many bits matches
_STRONG_BITS = 8  # ... and counts fully within this many
_NOVEL_BITS = 20  # a matched frame this far from the run's earlier frames counts as new evidence
_MAX_GAP = 2.0  # seconds of unmatched frames a run may skip
_FIRST_PICTURE = 0.4  # evidence of a run's first picture (< _EVIDENCE_HALF: a still is never a copy)
_EVIDENCE_HALF = 0.5  # evidence at which score = 0.5 (= COPY_THRESHOLD)
_MIN_FRACTION = 0.6  # matched share of the textured frames inside a run
_CANDIDATES = 12  # offset peaks followed per pair
_VOTE_RATE = 4.0  # frames a second that vote
_REFINE_MIN = 0.1  # runs with this much evidence get their crop window refined (query clips with grids)
_REFINE_RUNS = 2
_BLOCK = 1 << 22  # distance entries computed at once


@dataclass
class _Run:
    alignment: Alignment
    pairs: np.ndarray  # (m, 2) matched (query index, ref index)
    hypothesis: int  # index into the query's hypothesis stack (mirrored ones after the plain ones)
    offset: float


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances (bits) between codes a (..., na, B) and b (nb, B) as (..., na, nb) int16."""
    pa = np.unpackbits(a, axis=-1).astype(np.float32) * 2 - 1
    pb = np.unpackbits(b, axis=-1).astype(np.float32) * 2 - 1
    dot = pa @ pb.T
    return np.rint((CODE_BITS - dot) / 2).astype(np.int16)


def _step(times: np.ndarray) -> float:
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def align(query: Fingerprint, ref: Fingerprint, min_score: float = COPY_THRESHOLD) -> Alignment | None:
    """The best temporal alignment of query against ref, or None unless it is a copy (score >= min_score)."""
    found = shared_segments(query, ref, min_score=min_score, limit=1)
    return found[0] if found else None


def shared_segments(
    a: Fingerprint, b: Fingerprint, min_score: float = COPY_THRESHOLD, limit: int = 10
) -> list[Alignment]:
    """Ranges that a and b share (query = a, ref = b), best first, not overlapping each other.

    Crop hypotheses come from whichever side has probes (a query clip); without any, only the
    canonical window and its mirror image are compared."""
    if len(a) == 0 or len(b) == 0:
        return []
    if a.probes is None and b.probes is not None:
        return [_swap(x) for x in shared_segments(b, a, min_score, limit)]
    with _one_thread():
        runs = _segments(a, b)
    found = [run.alignment for run in runs if run.alignment.score >= min_score]
    if a.mirrored != b.mirrored:  # a variant from query_variants: report against the unmirrored clip
        found = [replace(x, mirrored=not x.mirrored) for x in found]
    found.sort(key=lambda x: -x.fit)
    kept: list[Alignment] = []
    for x in found:
        if all(not _overlaps(x, k) for k in kept):
            kept.append(x)
        if len(kept) >= limit:
            break
    return kept


def _swap(x: Alignment) -> Alignment:
    return replace(x, query_start=x.ref_start, query_end=x.ref_end, ref_start=x.query_start, ref_end=x.query_end)


def _overlaps(x: Alignment, y: Alignment) -> bool:
    def inter(a0: float, a1: float, b0: float, b1: float) -> float:
        return max(0.0, min(a1, b1) - max(a0, b0)) / max(1e-6, min(a1 - a0, b1 - b0))

    return inter(x.query_start, x.query_end, y.query_start, y.query_end) > 0.5 or (
        inter(x.ref_start, x.ref_end, y.ref_start, y.ref_end) > 0.5
    )


def _hypothesis_codes(q: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
    """(H, nq, B) codes of every hypothesis of the query, and whether each is mirrored."""
    variants = query_variants(q)
    return np.stack([v.codes for v in variants]), np.array([v.mirrored for v in variants])


def _segments(q: Fingerprint, r: Fingerprint) -> list[_Run]:
    codes, mirrored = _hypothesis_codes(q)
    qw, rw = np.asarray(q.weights, np.float32), np.asarray(r.weights, np.float32)
    qt, rt = q.times.astype(np.float64), r.times.astype(np.float64)
    qi, rj = np.flatnonzero(qw > 0), np.flatnonzero(rw > 0)
    if len(qi) == 0 or len(rj) == 0:
        return []
    qstep, rstep = _step(qt), _step(rt)
    bin_width = max(0.25, min(qstep, rstep) / 2)
    qi, rj = _thin(qi, qt, _VOTE_RATE), _thin(rj, rt, _VOTE_RATE)  # voting needs no more (all frames align)
    # 1. vote: textured frame pairs that look alike, by hypothesis and time offset
    hs, iis, js, ds = [], [], [], []
    block = max(1, _BLOCK // max(1, len(codes) * len(qi)))
    for start in range(0, len(rj), block):
        part = rj[start : start + block]
        dist = _distances(codes[:, qi], r.codes[part])
        h, i, j = np.nonzero(dist <= VOTE_BITS)
        hs.append(h)
        iis.append(qi[i])
        js.append(part[j])
        ds.append(dist[h, i, j])
    h, i, j, d = (np.concatenate(x) for x in (hs, iis, js, ds))
    if len(h) == 0:
        return []
    strength = (1.0 - d / (VOTE_BITS + 1.0)) * np.minimum(qw[i], rw[j])
    bins = np.rint((rt[j] - qt[i]) / bin_width).astype(np.int64)
    base = int(bins.min()) - 1
    bins -= base
    nb = int(bins.max()) + 2
    cell = h * nb + bins
    # one vote per (hypothesis, offset, ref frame): the strongest pair
    order = np.lexsort((-strength, j, cell))
    cell, j, strength = cell[order], j[order], strength[order]
    first = np.ones(len(cell), dtype=bool)
    first[1:] = (cell[1:] != cell[:-1]) | (j[1:] != j[:-1])
    cells, votes = np.unique(cell[first], return_inverse=True)
    totals = np.bincount(votes, weights=strength[first])
    # a neighbouring offset bin catches the phase between the two samplings
    lookup = dict(zip(cells.tolist(), totals.tolist()))
    smooth = totals + 0.5 * np.array([lookup.get(c - 1, 0.0) + lookup.get(c + 1, 0.0) for c in cells.tolist()])
    runs: list[_Run] = []
    for k in np.argsort(-smooth)[:_CANDIDATES]:
        hyp, b = divmod(int(cells[k]), nb)
        offset = float(b + base) * bin_width
        runs.extend(_diagonal(q, r, codes[hyp], bool(mirrored[hyp]), hyp, offset, qstep, rstep))
    if q.grids is not None:
        runs.extend(_refined(q, r, runs, qstep, rstep))
    return runs


def _thin(index: np.ndarray, times: np.ndarray, rate: float) -> np.ndarray:
    """At most `rate` frames a second from `index` (sorted by time)."""
    if len(index) < 2 or _step(times[index]) >= 1.0 / rate - 1e-6:
        return index
    keep, last = [], -math.inf
    for k in index:
        if times[k] - last >= 1.0 / rate - 1e-3:
            keep.append(k)
            last = times[k]
    return np.array(keep, dtype=np.int64)


def _diagonal(
    q: Fingerprint,
    r: Fingerprint,
    qcodes: np.ndarray,
    mirrored: bool,
    hyp: int,
    offset: float,
    qstep: float,
    rstep: float,
) -> list[_Run]:
    """Runs of matching frames along ref time = query time + offset (tried +-a quarter frame)."""
    best: list[_Run] = []
    best_evidence = -1.0
    dist = _distances(qcodes, r.codes)  # (nq, nr)
    for shift in (-0.25, 0.0, 0.25):
        runs = _runs(q, r, dist, mirrored, hyp, offset + shift * min(qstep, rstep), qstep, rstep)
        total = sum(x.alignment.evidence for x in runs)
        if total > best_evidence:
            best, best_evidence = runs, total
    return best


def _runs(
    q: Fingerprint,
    r: Fingerprint,
    dist: np.ndarray,
    mirrored: bool,
    hyp: int,
    offset: float,
    qstep: float,
    rstep: float,
) -> list[_Run]:
    # The sparser side drives: each of its frames is compared with the other side's frames nearest in time.
    drive_ref = rstep >= qstep
    if drive_ref:
        dt, ot, dw, ow, dcodes, d = r.times, q.times, r.weights, q.weights, r.codes, dist.T
        shift, other_step, drive_len, other_len = -offset, qstep, r.duration, q.duration
    else:
        dt, ot, dw, ow, dcodes, d = q.times, r.times, q.weights, r.weights, q.codes, dist
        shift, other_step, drive_len, other_len = offset, rstep, q.duration, r.duration
    dt = dt.astype(np.float64)
    ot = ot.astype(np.float64)
    tol = 0.6 * other_step + 0.05
    mapped = dt + shift  # other time = drive time + shift
    lo_idx = np.searchsorted(ot, mapped - tol, side="left")
    hi_idx = np.searchsorted(ot, mapped + tol, side="right")
    status: list[tuple[int, int, float, float, int]] = []  # (drive index, state, distance, weight, other index)
    for k in np.flatnonzero(hi_idx > lo_idx).tolist():
        cand = np.arange(lo_idx[k], hi_idx[k])
        cand = cand[ow[cand] > 0]
        weight = float(dw[k])
        if len(cand) == 0 or weight <= 0:
            status.append((k, 0, 99.0, 0.0, -1))  # neutral: a flat frame on either side
            continue
        dk = d[k, cand]
        m = int(np.argmin(dk))
        weight = min(weight, float(ow[cand[m]]))
        status.append((k, 1 if dk[m] <= _MATCH_BITS else -1, float(dk[m]), weight, int(cand[m])))
    if not status:
        return []
    span_lo, span_hi = max(0.0, -shift), min(drive_len, other_len - shift)  # the overlap, in drive time
    # Evidence is counted in seconds, so that it means the same at any sampling rate.
    share = min(1.0, _step(dt))
    groups: list[list[int]] = []  # indexes into status of the matched frames of each run
    current: list[int] = []
    misses = 0.0
    for s, entry in enumerate(status):
        if entry[1] == 1:
            current.append(s)
            misses = 0.0
        elif entry[1] == -1 and current:
            misses += share
            if misses > _MAX_GAP + 1e-6:
                groups.append(current)
                current, misses = [], 0.0
    if current:
        groups.append(current)
    out = []
    for matched in groups:
        first, last = matched[0], matched[-1]
        inside = sum(1 for s in range(first, last + 1) if status[s][1] != 0)
        fraction = len(matched) / max(1, inside)
        # Evidence: the best matched frame of each second, counted as far as it shows something new
        # (a still shot is one picture however long it lasts), so it reads the same at any rate.
        # (Frames of a second that did not match pull its value down: a lucky frame is not a second.)
        seconds: dict[int, list[float]] = {}  # second -> [value sum, frames, best value, best frame]
        for s in range(first, last + 1):
            k, state, dk, weight, _ = status[s]
            if state == 0:
                continue
            value = weight * float(np.clip((_MATCH_BITS - dk) / (_MATCH_BITS - _STRONG_BITS), 0.0, 1.0))
            cell = seconds.setdefault(int(math.floor(dt[k] + 1e-3)), [0.0, 0, -1.0, k])
            cell[0] += value
            cell[1] += 1
            if state == 1 and value > cell[2]:
                cell[2], cell[3] = value, k
        seconds = {key: cell for key, cell in seconds.items() if cell[2] >= 0}
        evidence = 0.0
        counted: list[np.ndarray] = []
        for second in sorted(seconds):
            total, frames, _, k = seconds[second]
            value = total / frames
            # The first picture counts for _FIRST_PICTURE only: a still (one slide, a title card, a
            # logo on black) can never be a copy by itself; the picture has to change, in step.
            novelty = _FIRST_PICTURE
            if counted:
                novelty = min(1.0, int(_distances(dcodes[k][None], np.stack(counted)).min()) / _NOVEL_BITS)
            evidence += value * novelty
            counted.append(dcodes[k])
        if fraction < _MIN_FRACTION:
            evidence *= fraction / _MIN_FRACTION
        if len(seconds) < 2:
            evidence *= 0.5  # one frame (or one second) alone is never a copy
        fit = share * sum(status[s][3] * (_MATCH_BITS - status[s][2]) / _MATCH_BITS for s in matched)
        # the range reaches half-way to the nearest frames that did not match (flat ones say nothing)
        k0, k1 = status[first][0], status[last][0]
        before = [status[s][0] for s in range(first) if status[s][1] == -1]
        after = [status[s][0] for s in range(last + 1, len(status)) if status[s][1] == -1]
        start = 0.5 * (dt[before[-1]] + dt[k0]) if before else span_lo
        end = 0.5 * (dt[k1] + dt[after[0]]) if after else span_hi
        start, end = max(span_lo, min(start, dt[k0])), min(span_hi, max(end, dt[k1]))
        mean_d = float(np.mean([status[s][2] for s in matched]))
        score = evidence / (evidence + _EVIDENCE_HALF)
        pairs = np.array([(status[s][0], status[s][4]) for s in matched], dtype=np.int64)
        if drive_ref:
            pairs = pairs[:, ::-1]
            rs, re_, qs, qe = start, end, start - offset, end - offset
        else:
            qs, qe, rs, re_ = start, end, start + offset, end + offset
        found = Alignment(
            float(qs), float(qe), float(rs), float(re_), round(score, 4), len(matched), mirrored, mean_d, evidence, fit
        )
        out.append(_Run(found, np.ascontiguousarray(pairs), hyp, offset))
    return out


def _window_codes(grids: np.ndarray, wx: tuple[float, float], wy: tuple[float, float]) -> np.ndarray:
    bx, by = _basis(*wx), _basis(*wy)
    return _bits(by @ grids.astype(np.float32) @ bx.T)


def _refined(q: Fingerprint, r: Fingerprint, runs: list[_Run], qstep: float, rstep: float) -> list[_Run]:
    """Crops are rarely exactly on the hypothesis grid: move and resize the window of the best runs
    (steps of 2.5 then 1.25 % of the picture) while the matched frames get closer, then look again."""
    assert q.grids is not None
    best = sorted((x for x in runs if x.alignment.evidence >= _REFINE_MIN), key=lambda x: -x.alignment.evidence)
    out: list[_Run] = []
    seen: set[tuple[int, int]] = set()
    for run in best:
        key = (run.hypothesis, int(round(run.offset * 2)))
        if key in seen or len(seen) >= _REFINE_RUNS:
            continue
        seen.add(key)
        mirrored = run.hypothesis >= (len(q.probes) if q.probes is not None else 1)
        p = run.hypothesis % (len(q.probes) if q.probes is not None else 1)
        vertical, horizontal = divmod(p, _NA)
        grids = q.grids[:, :, :, ::-1] if mirrored else q.grids
        wx = _axis_window(_AXIS_HYPOTHESES[horizontal])
        wy = _axis_window(_AXIS_HYPOTHESES[vertical])
        wx, wy = _local_search(grids[run.pairs[:, 0]].astype(np.float32), r.codes[run.pairs[:, 1]], wx, wy)
        codes = _window_codes(grids, wx, wy)
        out.extend(_diagonal(q, r, codes, mirrored, run.hypothesis, run.offset, qstep, rstep))
    return out


def _local_search(
    grids: np.ndarray, target: np.ndarray, wx: tuple[float, float], wy: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    target_bits = np.unpackbits(target, axis=-1)

    def cost(bases_x: list[np.ndarray], bases_y: list[np.ndarray]) -> np.ndarray:
        by = np.stack(bases_y)[:, None, None]  # (m, 1, 1, NFREQ, GRID)
        bx = np.stack(bases_x)[:, None, None]
        coef = by @ grids[None] @ bx.swapaxes(-1, -2)  # (m, n, 3, NFREQ, NFREQ)
        bits = np.unpackbits(_bits(coef), axis=-1)
        return (bits != target_bits[None]).sum(axis=-1).mean(axis=-1)

    current = cost([_basis(*wx)], [_basis(*wy)])[0]
    for step in (0.025, 0.0125):
        for _ in range(6):
            moves = [(step, step), (-step, -step), (-step, step), (step, -step), (step, 0), (-step, 0), (0, step)]
            moves.append((0, -step))
            options = []
            for axis in (0, 1):
                for dlo, dhi in moves:
                    lo, hi = (wx if axis == 0 else wy)[0] + dlo, (wx if axis == 0 else wy)[1] + dhi
                    if hi - lo < 0.4 or lo < -0.3 or hi > 1.3:
                        continue
                    options.append(((lo, hi), wy) if axis == 0 else (wx, (lo, hi)))
            costs = cost([_basis(*o[0]) for o in options], [_basis(*o[1]) for o in options])
            k = int(np.argmin(costs))
            if costs[k] > current - 0.2:
                break
            current = costs[k]
            wx, wy = options[k]
    return wx, wy


# -- candidate retrieval at scale -------------------------------------------------------------
def index_codes(fp: Fingerprint, min_weight: float = 0.5, dedupe_bits: int = 8) -> list[tuple[float, bytes]]:
    """(time, code) rows worth indexing: textured frames, skipping ones that repeat the previous kept code."""
    rows: list[tuple[float, bytes]] = []
    last: np.ndarray | None = None
    for t, code, w in zip(fp.times, fp.codes, fp.weights):
        if w < min_weight:
            continue
        if last is not None and int(_BYTE_POPCOUNT[np.bitwise_xor(code, last)].sum()) <= dedupe_bits:
            continue
        rows.append((float(t), code.tobytes()))
        last = code
    return rows


def probe_codes(fp: Fingerprint, per_second: float = 1.0, min_weight: float = 0.5) -> list[tuple[float, bytes]]:
    """(query time, code) rows to search the HAMMING index with: up to `per_second` textured frames a
    second, each in every variant of `query_variants` (242 for a query clip with probes, else 2)."""
    keep = _thin(np.flatnonzero(fp.weights >= min_weight), fp.times.astype(np.float64), per_second)
    rows: list[tuple[float, bytes]] = []
    for variant in query_variants(fp):
        rows.extend((float(fp.times[k]), variant.codes[k].tobytes()) for k in keep)
    return rows


def vote_candidates(
    hits: Iterable[tuple[float, str, float, float]], limit: int = 20, max_bits: int = VOTE_BITS
) -> list[tuple[str, float]]:
    """Rank videos from per-frame Hamming kNN hits (query_time, video_id, ref_time, distance_bits).

    Hits of one video vote for their time offset; a video's score is its best offset's vote
    (each query second counts once per offset). Returns [(video_id, votes)], best first."""
    table: dict[tuple[str, int], dict[int, float]] = {}
    for qtime, video, rtime, distance in hits:
        if distance > max_bits:
            continue
        strength = 1.0 - distance / (max_bits + 1.0)
        key = (video, int(math.floor((rtime - qtime) / 1.0 + 0.5)))
        second = int(qtime)
        cell = table.setdefault(key, {})
        cell[second] = max(cell.get(second, 0.0), strength)
    scores: dict[str, float] = {}
    for (video, off), cell in table.items():
        total = sum(cell.values())
        # a neighbouring offset bin catches the half-second phase of 1 fps sampling
        for near in (off - 1, off + 1):
            other = table.get((video, near))
            if other:
                total += 0.5 * sum(other.values())
        scores[video] = max(scores.get(video, 0.0), total)
    return sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
