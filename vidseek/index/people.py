"""Group face tracks into people, incrementally, as photo libraries do; numpy only, no store access.

A person is a centroid (the normalised mean of their tracks' unit vectors) and a count. New tracks
join the nearest person when the cosine to that centroid reaches the cutoff (`SAME_PERSON`, the
calibrated same-person cosine of `analyze.faces`); the rest form new people among themselves.

    result = assign(vectors, centroids, counts)     # labels >= len(centroids) are new people
    labels = cluster(vectors)                      # a full re-cluster, 0 = the largest person
    centroid, count = merge(c1, n1, c2, n2)        # two people found to be one
    halves = split(vectors)                        # one person's tracks in two (labels 0 / 1)

Cost, for n vectors of d dimensions and k people: every comparison is a matrix product over blocks
of at most TILE similarities (16 MB of float32), so memory is O((n + k) d) plus one block, never
an n x n or n x k matrix. `assign` is O(n k d) time (plus `cluster` of the unmatched);
`cluster` is O(n k d) for the leader pass and for one refinement pass, and O(k^2 d) to merge
people whose centroids meet. Measured on 2 cores (synthetic 128-d vectors): 100k into 5k people
2.6 s, into 30k people 22 s, 100k all different people (the worst case, k = n) 113 s; memory
stayed under 0.6 GB for the whole process. `assign` of 10k tracks to 30k people: 0.9 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from vidseek.analyze.faces import SAME_PERSON

TILE = 1 << 22  # similarities computed at once: 16 MB of float32
ROWS, COLUMNS = 1024, 4096  # the tile's shape (fewer rows: more columns, same size)
CHUNK = 1024  # vectors clustered at once in the leader pass (a CHUNK x CHUNK block among themselves)
SPLIT_ITERATIONS = 25
# Two groups are one person when their centroids reach 1 - (1 - cutoff) * GROUP_FACTOR (0.952 for
# 0.92): a mean is far less noisy than one track, so means of different people come closer than
# their tracks do. On the shared clips, centroids of one person's two halves met at 0.979-0.997;
# those of different people at <= 0.925 (a man with ~55 px faces and a woman with 73 px ones).
GROUP_FACTOR = 0.6


class Assignment(NamedTuple):
    """What `assign` decided. Unpacks as a tuple: `labels, centroids, counts, similarity = assign(...)`."""

    labels: np.ndarray  # (n,) int64: a row of `centroids`; >= the number of people passed in = a new person
    centroids: np.ndarray  # (k + new, d) float32, unit: the people passed in (updated), then the new ones
    counts: np.ndarray  # (k + new,) int64: tracks per person, the new ones included
    similarity: np.ndarray  # (n,) float32: cosine of each vector to its person's updated centroid


def group_cutoff(cutoff: float = SAME_PERSON) -> float:
    """The cosine two people's centroids must reach to be merged into one (0.952 for 0.92)."""
    return 1.0 - (1.0 - cutoff) * GROUP_FACTOR


def cutoffs(n: int, cutoff: float = SAME_PERSON, members: np.ndarray | None = None) -> np.ndarray:
    """Per-vector join cutoffs: `cutoff` for a single face's vector, stricter for a mean of several
    (`members` faces: a track's mean vector), reaching `group_cutoff` for many: 0.92 for 1 face,
    0.936 for 4, 0.941 for 9. On the shared clips the two halves of one person's faces (means of
    4-10) met at 0.979-0.997, so only means of mixed-up or tiny faces stay out."""
    if members is None:
        return np.full(n, cutoff, np.float32)
    m = np.maximum(np.asarray(members, dtype=np.float64).reshape(n), 1.0)
    return (1.0 - (1.0 - cutoff) * (GROUP_FACTOR + (1.0 - GROUP_FACTOR) / np.sqrt(m))).astype(np.float32)


def _rows(vectors: np.ndarray) -> np.ndarray:
    """Unit float32 rows (n, d) of a list/array of vectors (a single vector becomes one row)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None] if array.size else array.reshape(0, 0)
    return normalise(array)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def centroid_of(vectors: np.ndarray) -> np.ndarray:
    """A person's centroid: the normalised mean of their (unit) vectors, float32 (d,)."""
    return normalise(_rows(vectors).sum(axis=0))


def nearest(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each unit vector, the index of the most similar unit centroid and that cosine.

    Computed in ROWS x COLUMNS tiles (16 MB of similarities each), keeping a running best per
    row: memory stays at one tile whatever n and k are. With no centroids, every index is -1 and
    every cosine -inf."""
    n = len(vectors)
    index = np.full(n, -1, dtype=np.int64)
    best = np.full(n, -np.inf, dtype=np.float32)
    for lo, hi, c0, sims in _tiles(vectors, centroids):
        arg = np.argmax(sims, axis=1)
        top = sims[np.arange(len(sims)), arg]
        better = top > best[lo:hi]
        index[lo:hi] = np.where(better, arg + c0, index[lo:hi])
        best[lo:hi] = np.where(better, top, best[lo:hi])
    return index, best


def _tiles(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """(row start, row end, column start, a[rows] @ b[columns].T) over all tiles; square-ish tiles
    keep BLAS fast (a 41 x 100k product runs at half the speed of a 1024 x 4096 one)."""
    n, k = len(a), len(b)
    if n == 0 or k == 0:
        return
    rows = min(n, ROWS)
    columns = max(COLUMNS, TILE // rows)
    for lo in range(0, n, rows):
        block = a[lo : lo + rows]
        for c0 in range(0, k, columns):
            yield lo, lo + len(block), c0, block @ b[c0 : c0 + columns].T


def assign(vectors: np.ndarray, centroids: np.ndarray, counts: np.ndarray, cutoff: float = SAME_PERSON,
           members: np.ndarray | None = None) -> Assignment:
    """File new face-track vectors under the people known so far, incrementally.

    Each vector joins the nearest person if its cosine to their centroid is >= cutoff; the others
    are clustered among themselves (`cluster`), and a new group whose centroid reaches a known
    person's (at the stricter `group_cutoff`) joins that person after all. Known people are never
    merged with each other here (that is `merge`, or a full `cluster`). Centroids are updated as
    count-weighted means: pass the normalised centroids and track counts an earlier `assign` returned.
    `members`: how many face vectors each vector averages (`FaceTrack.vectors`); a mean must come
    closer to join (`cutoffs`), so that two people's blurry means do not meet. None: single faces.

        r = assign(track_vectors, people_centroids, people_counts)
        new_people = r.centroids[len(people_centroids):]
    """
    vectors = _rows(vectors)
    known = len(centroids)
    dim = vectors.shape[1] if vectors.size else (np.asarray(centroids).shape[1] if known else 0)
    old = normalise(np.asarray(centroids, dtype=np.float32).reshape(known, dim))
    old_counts = np.asarray(counts, dtype=np.int64).reshape(known)
    if len(vectors) == 0 or vectors.shape[1] == 0:
        return Assignment(np.zeros(0, np.int64), old, old_counts.copy(), np.zeros(0, np.float32))
    thresholds = cutoffs(len(vectors), cutoff, members)
    labels, sims = nearest(vectors, old)
    rest = np.flatnonzero(sims < thresholds)
    total = known
    if len(rest):
        groups = cluster(vectors[rest], cutoff, None if members is None else np.asarray(members).reshape(-1)[rest])
        group_centroids = normalise(_sums(vectors[rest], groups, int(groups.max()) + 1))
        target, close = nearest(group_centroids, old)
        fresh = close < group_cutoff(cutoff)
        labels[rest] = np.where(fresh, known + np.cumsum(fresh) - 1, target)[groups]
        total += int(fresh.sum())
    sums = np.zeros((total, vectors.shape[1]), np.float32)
    sums[:known] = old * np.maximum(old_counts, 0)[:, None]
    sums += _sums(vectors, labels, total)
    added = np.bincount(labels, minlength=total).astype(np.int64)
    new_counts = np.concatenate([old_counts, np.zeros(total - known, np.int64)]) + added
    new_centroids = normalise(sums)
    untouched = np.flatnonzero(added[:known] == 0)
    new_centroids[untouched] = old[untouched]  # exactly as given (and a count of 0 keeps its centroid)
    similarity = np.einsum("ij,ij->i", vectors, new_centroids[labels]).astype(np.float32)
    return Assignment(labels, new_centroids, new_counts, similarity)


def cluster(vectors: np.ndarray, cutoff: float = SAME_PERSON, members: np.ndarray | None = None) -> np.ndarray:
    """Group unit vectors into people from scratch; labels 0..p-1, 0 the largest group.

    1. Leader pass, CHUNK vectors at a time in the given order: a vector joins the nearest group
       whose mean it reaches (cosine >= cutoff); the chunk's leftovers group round leaders: the
       first leftover takes every other leftover within the cutoff of it, and so on. Groups are
       stars round a leader (radius = the cutoff), so look-alikes do not chain into one person.
    2. Refinement: every vector moves to the nearest group mean it reaches (k-means-like step).
    3. Mutually nearest groups whose means reach each other (`group_cutoff`: one person, seen in two
       lights) merge, in pairs: look-alike people do not chain into one.
    Put the best vectors first (the largest, sharpest faces): they become the leaders. `members`
    as in `assign`: vectors that are means of several faces must come closer (`cutoffs`).
    """
    vectors = _rows(vectors)
    n = len(vectors)
    if n == 0 or vectors.shape[1] == 0:
        return np.zeros(0, np.int64)
    thresholds = cutoffs(n, cutoff, members)
    labels = np.full(n, -1, dtype=np.int64)
    dim = vectors.shape[1]
    sums = np.zeros((min(n, CHUNK), dim), np.float32)  # grown by doubling; rows >= groups are unused
    means = np.zeros_like(sums)
    groups = 0
    for lo in range(0, n, CHUNK):
        chunk = vectors[lo : lo + CHUNK]
        index, sims = nearest(chunk, means[:groups])
        part = np.where(sims >= thresholds[lo : lo + CHUNK], index, -1)
        left = np.flatnonzero(part < 0)
        if len(left):
            part[left] = groups + _leaders(chunk[left], thresholds[lo : lo + CHUNK][left])
        labels[lo : lo + CHUNK] = part
        size = int(part.max()) + 1
        if size > len(sums):
            grow = max(size, 2 * len(sums))
            sums = np.concatenate([sums, np.zeros((grow - len(sums), dim), np.float32)])
            means = np.concatenate([means, np.zeros((grow - len(means), dim), np.float32)])
        touched, added = _group_sums(chunk, part)
        sums[touched] += added
        means[touched] = normalise(sums[touched])
        groups = max(groups, size)
    sums, means = sums[:groups], means[:groups]
    # 2. refinement against the means of step 1
    index, sims = nearest(vectors, means)
    labels = np.where(sims >= thresholds, index, labels)
    labels = _compact(labels)
    # 3. merge groups whose means meet
    means = normalise(_sums(vectors, labels, int(labels.max()) + 1))
    labels = _union(means, group_cutoff(cutoff))[labels]
    return _by_size(labels)


def merge(centroid_a: np.ndarray, count_a: int, centroid_b: np.ndarray, count_b: int) -> tuple[np.ndarray, int]:
    """Two people who are one: the count-weighted mean of their centroids (normalised) and the summed count."""
    a, b = normalise(centroid_a), normalise(centroid_b)
    wa, wb = max(int(count_a), 0), max(int(count_b), 0)
    if wa + wb == 0:
        wa = wb = 1
    return normalise(a * wa + b * wb), int(count_a) + int(count_b)


def split(vectors: np.ndarray) -> np.ndarray:
    """One person's vectors in two (people the clustering mixed up): k-means with k=2, labels 0/1.

    Seeds: the vector farthest from the centroid, and the one farthest from that; then assign and
    update until nothing moves. 0 is the larger half; all 0 when every vector is the same."""
    vectors = _rows(vectors)
    n = len(vectors)
    labels = np.zeros(n, dtype=np.int64)
    if n < 2:
        return labels
    first = vectors[np.argmin(vectors @ centroid_of(vectors))]
    second = vectors[np.argmin(vectors @ first)]
    if float(first @ second) >= 1.0 - 1e-6:
        return labels
    seeds = np.stack([first, second])
    for step in range(SPLIT_ITERATIONS):
        moved = np.argmax(vectors @ seeds.T, axis=1).astype(np.int64)
        if step and np.array_equal(moved, labels):
            break
        labels = moved
        for g in (0, 1):
            if np.any(labels == g):
                seeds[g] = centroid_of(vectors[labels == g])
    if np.count_nonzero(labels == 1) > np.count_nonzero(labels == 0):
        labels = 1 - labels
    return labels


# --------------------------------------------------------------------------- helpers


def _group_sums(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labels present (>= 0) and the sum of their vectors: one sort, no Python loop."""
    keep = labels >= 0
    lab, vec = labels[keep], vectors[keep]
    if len(lab) == 0:
        return np.zeros(0, np.int64), np.zeros((0, vectors.shape[1]), np.float32)
    order = np.argsort(lab, kind="stable")
    lab, vec = lab[order], vec[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    return lab[starts], np.add.reduceat(vec, starts, axis=0).astype(np.float32)


def _sums(vectors: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    """Per-label sums of vectors (labels < 0 ignored), (size, d)."""
    out = np.zeros((size, vectors.shape[1]), np.float32)
    present, sums = _group_sums(vectors, labels)
    out[present] = sums
    return out


def _leaders(vectors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Star groups of a chunk (at most CHUNK vectors): each leader takes the free vectors within the
    cutoff (the stricter of the two vectors' own)."""
    sims = vectors @ vectors.T
    labels = np.full(len(vectors), -1, dtype=np.int64)
    group = 0
    for i in range(len(vectors)):
        if labels[i] >= 0:
            continue
        joined = (labels < 0) & (sims[i] >= np.maximum(thresholds, thresholds[i]))
        joined[i] = True
        labels[joined] = group
        group += 1
    return labels


def _union(means: np.ndarray, cutoff: float) -> np.ndarray:
    """Map each group to a representative: two groups merge when each is the other's nearest group and
    their means reach `cutoff` (one person, seen in two lights). Only such mutual pairs merge, so
    look-alikes never chain into one person through a run of near pairs (A~B, B~C, C~D...)."""
    k = len(means)
    best = np.full(k, -1, dtype=np.int64)
    best_sim = np.full(k, -np.inf, dtype=np.float32)
    for lo, hi, c0, sims in _tiles(means, means):
        rows = np.arange(lo, hi)
        inside = (rows >= c0) & (rows < c0 + sims.shape[1])
        sims[np.flatnonzero(inside), rows[inside] - c0] = -np.inf  # a group is not its own neighbour
        j = np.argmax(sims, axis=1)
        s = sims[np.arange(len(rows)), j]
        better = s > best_sim[lo:hi]
        best[lo:hi][better] = j[better] + c0
        best_sim[lo:hi][better] = s[better]
    out = np.arange(k, dtype=np.int64)
    for i in range(k):
        j = int(best[i])
        if j > i and best[j] == i and best_sim[i] >= cutoff:
            out[j] = i
    return out


def _compact(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..p-1 (in order of first appearance of each value)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber so 0 is the largest group (ties: the earliest)."""
    values, first, inverse, sizes = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -sizes))
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    return rank[inverse.reshape(-1)]
