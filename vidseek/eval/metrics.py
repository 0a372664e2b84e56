"""Retrieval metrics as pure functions over ranks, intervals and timings (no engine, no I/O).

Usage::

    ranks = [1, 3, None]                      # rank of the first relevant video per query (None = not found)
    recall_at_k(ranks, 1), mrr(ranks), median_rank(ranks)      # 0.333, 0.444, 3.0
    iou((3.0, 8.5), (4.0, 9.0))               # temporal intersection over union of two ranges

Definitions (what `vidseek eval` reports):

* **Video level.** The ranked moments are collapsed to distinct videos in order of first
  appearance; a query's rank is the 1-based position of the first relevant video in that list
  (None when absent). R@k = share of queries with rank <= k; MRR = mean of 1/rank (0 when absent);
  medR = median rank with absent counted as infinity, None when that median is infinite (more than
  half absent, or exactly half with an even count).
* **Moment level** (queries with start/end), as Charades-STA scores it: take the top-1 moment
  overall; its IoU with the expected range counts only when it lies in the expected video, else 0
  (also 0 when nothing is returned). mR@1@t = share of queries with IoU >= t; mIoU = mean IoU.
* **Out-of-library** (queries with no expected video): the answer is correct when no moment is
  returned above the cutoff; no_match = share correct.
* **Latency**: wall-clock ms per query; p50/p95 by linear interpolation between order statistics.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)
RECALL_KS: tuple[int, ...] = (1, 5, 10)
# Metrics a --fail-under floor may name: higher is better for all of them.
FLOOR_METRICS: tuple[str, ...] = (
    *(f"R@{k}" for k in RECALL_KS), "MRR", *(f"mR@1@{t}" for t in IOU_THRESHOLDS), "mIoU", "no_match",
)


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU of two [start, end] ranges in seconds: `iou((0, 4), (2, 6))` -> 0.333.

    Disjoint or touching ranges give 0; two identical zero-length ranges give 1; a reversed range
    (end < start) is treated as empty."""
    a0, a1 = a[0], max(a)
    b0, b1 = b[0], max(b)
    if (a0, a1) == (b0, b1):
        return 1.0
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = (a1 - a0) + (b1 - b0) - inter
    return inter / union if union > 0 else 0.0


def distinct(items: Iterable[str]) -> list[str]:
    """Items in order of first appearance: `distinct(["a", "b", "a"])` -> ["a", "b"]."""
    return list(dict.fromkeys(items))


def first_relevant_rank(ranked_videos: Sequence[str], is_relevant: Callable[[str], bool]) -> int | None:
    """1-based rank of the first relevant item among distinct items, or None if none is relevant."""
    for rank, video in enumerate(distinct(ranked_videos), 1):
        if is_relevant(video):
            return rank
    return None


def recall_at_k(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of queries whose first relevant rank is <= k; None for no queries."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: Sequence[int | None]) -> float | None:
    """Mean reciprocal rank (0 for a missing rank); None for no queries."""
    if not ranks:
        return None
    return sum(1.0 / r for r in ranks if r is not None) / len(ranks)


def median_rank(ranks: Sequence[int | None]) -> float | None:
    """Median rank with missing = infinity; None when there are no queries or the median is infinite."""
    if not ranks:
        return None
    med = statistics.median(math.inf if r is None else float(r) for r in ranks)
    return None if math.isinf(med) else med


def top1_iou(top: tuple[str, float, float] | None, video_matches: Callable[[str], bool],
             expected: tuple[float, float]) -> float:
    """IoU of the top-1 moment (video, start, end) with the expected range; 0 for a wrong video or no result."""
    if top is None or not video_matches(top[0]):
        return 0.0
    return iou((top[1], top[2]), expected)


def share_at_least(values: Sequence[float], threshold: float) -> float | None:
    """Share of values >= threshold (mR@1 at an IoU threshold); None for no values."""
    if not values:
        return None
    return sum(1 for v in values if v >= threshold - 1e-9) / len(values)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def no_match_rate(returned_counts: Sequence[int]) -> float | None:
    """Share of out-of-library queries that returned nothing above the cutoff; None for no such queries."""
    if not returned_counts:
        return None
    return sum(1 for n in returned_counts if n == 0) / len(returned_counts)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100), linear between order statistics like numpy's default; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(ranks: Sequence[int | None], ious: Sequence[float], returned_out_of_library: Sequence[int],
              latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Every reported metric from the parts: ranks of in-library queries, top-1 IoUs of queries with a
    moment, result counts of out-of-library queries, and all latencies. Missing parts give None."""
    out: dict[str, Any] = {f"R@{k}": recall_at_k(ranks, k) for k in RECALL_KS}
    out["MRR"] = mrr(ranks)
    out["medR"] = median_rank(ranks)
    out.update({f"mR@1@{t}": share_at_least(ious, t) for t in IOU_THRESHOLDS})
    out["mIoU"] = mean(ious)
    out["no_match"] = no_match_rate(returned_out_of_library)
    out["p50_ms"] = percentile(latencies_ms, 50)
    out["p95_ms"] = percentile(latencies_ms, 95)
    out["N"] = len(latencies_ms)
    out["N_video"] = len(ranks)
    out["N_moment"] = len(ious)
    out["N_no_match"] = len(returned_out_of_library)
    return out
