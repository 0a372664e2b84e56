"""Video DNA (vidseek.analyze.dna): transformed copies of the real shared clips find their original
first, with the right range, and distinct clips never match each other.

The copies are made here with PyAV (tests/dnautil.py) from ../shared/media; without those clips
the tests that need them are skipped. About 30 s on 2 cores (most of it decoding and encoding).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.dnautil import Edit, make_compilation, make_copy
from vidseek.analyze import dna
from vidseek.analyze.dna import (
    CODE_BITS,
    COPY_THRESHOLD,
    DNA_VERSION,
    Alignment,
    Fingerprint,
    FingerprintBuilder,
    align,
    fingerprint_file,
    index_codes,
    probe_codes,
    query_variants,
    shared_segments,
    vote_candidates,
)
from vidseek.errors import MediaError
from vidseek.media.frames import sample_frames
from vidseek.records import Frame

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = sorted(MEDIA.glob("*/*.mp4")) if MEDIA.is_dir() else []
needs_media = pytest.mark.skipif(len(CLIPS) < 10, reason=f"no shared real clips at {MEDIA}")
WATERMARKED = ("videollama_birthday", "videollama_boat", "videollama_silence_girl")  # the same stock mark


@dataclass(frozen=True)
class Case:
    name: str
    clip: str  # under MEDIA
    edit: Edit

    @property
    def source(self) -> str:
        return Path(self.clip).stem


CASES = [
    # 1. cropped ~15 %, scaled to another size, brighter
    Case("crop-sides-scale-bright", "msrvtt/video9770.mp4",
         Edit(crop=(0.075, 0.075, 0.075, 0.075), size=(416, 312), brightness=0.1, contrast=1.2)),
    Case("crop-one-side-stretch", "demo/videollama_dog_barking.mp4",
         Edit(crop=(0.15, 0.0, 0.0, 0.0), size=(640, 360), brightness=0.08, contrast=0.85)),
    # 2. a trimmed part (non-integer start), mirrored
    Case("trim-mirror", "demo/videollama_applausing.mp4", Edit(start=2.4, duration=5.5, mirror=True)),
    Case("trim-mirror-msrvtt", "msrvtt/video9771.mp4", Edit(start=3.4, duration=5.0, mirror=True)),
    # 3. another frame rate, text drawn on every frame
    Case("fps15-text", "demo/askanything_hitting_baseball.mp4", Edit(fps=15, text="LIKE & SUBSCRIBE")),
    Case("fps24-text-logo-trim", "msrvtt/video9771.mp4",
         Edit(fps=24, text="reupload 2024", logo=True, start=1.3)),
]  # fmt: skip


@pytest.fixture(scope="module")
def refs() -> dict[str, Fingerprint]:
    """Every shared clip fingerprinted as the index stores it: 1 fps, frames up to 960 px."""
    return {path.stem: fingerprint_file(path, fps=1.0, probes=False, max_side=960) for path in CLIPS}


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fingerprint]:
    """Each case's copy, fingerprinted as a query clip."""
    folder = tmp_path_factory.mktemp("dna-copies")
    out = {}
    for case in CASES:
        path = make_copy(MEDIA / case.clip, folder / f"{case.name}.mp4", case.edit)
        out[case.name] = fingerprint_file(path)
    return out


@pytest.fixture(scope="module")
def copy_alignments(
    refs: dict[str, Fingerprint], copies: dict[str, Fingerprint]
) -> dict[str, dict[str, Alignment | None]]:
    """The best alignment (even a weak one: min_score=0) of every copy against every shared clip."""
    return {name: {ref: align(fp, rfp, min_score=0.0) for ref, rfp in refs.items()} for name, fp in copies.items()}


@pytest.fixture(scope="module")
def ref_pairs(refs: dict[str, Fingerprint]) -> dict[tuple[str, str], Alignment | None]:
    return {(a, b): align(refs[a], refs[b], min_score=0.0) for a, b in itertools.permutations(refs, 2)}


def _score(x: Alignment | None) -> float:
    return x.score if x is not None else 0.0


@needs_media
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_copy_finds_its_original_first_with_the_right_range(case, refs, copy_alignments):
    found = copy_alignments[case.name]
    ranking = sorted(found, key=lambda ref: -_score(found[ref]))
    best = found[case.source]
    assert ranking[0] == case.source, [(r, _score(found[r])) for r in ranking[:3]]
    assert best is not None and best.score >= COPY_THRESHOLD, best
    start = case.edit.start
    length = refs[case.source].duration - start
    if case.edit.duration is not None:
        length = min(length, case.edit.duration)
    assert abs(best.query_start - 0.0) <= 1.0, best
    assert abs(best.query_end - length) <= 1.0, best
    assert abs(best.ref_start - start) <= 1.0, best
    assert abs(best.ref_end - (start + length)) <= 1.0, best
    assert best.mirrored == case.edit.mirror
    assert align(refs[case.source], refs[case.source]) is not None  # and a clip is a copy of itself


@needs_media
def test_distinct_shared_clips_never_match(refs, ref_pairs):
    false = {pair: x for pair, x in ref_pairs.items() if x is not None and x.score >= COPY_THRESHOLD}
    assert not false
    for a, b in itertools.permutations(WATERMARKED, 2):  # a shared static watermark is not a shared picture
        assert align(refs[a], refs[b]) is None
    # two single-slide clips of one template look alike: a still is never a copy, even as a query clip
    assert align(fingerprint_file(MEDIA / "speech/zh_aishell_2.mp4"), refs["zh_aishell_1"]) is None
    black = refs["jfk_black"]
    assert len(black) >= 10 and not black.weights.any()  # black frames weigh nothing...
    assert all(align(black, fp) is None and align(fp, black) is None for fp in refs.values())  # ...match nothing


@needs_media
def test_copies_never_match_other_clips(copy_alignments):
    for case in CASES:
        wrong = {ref: x for ref, x in copy_alignments[case.name].items() if ref != case.source and _score(x) >= 0.5}
        assert not wrong, (case.name, wrong)


@needs_media
def test_margin_between_true_copies_and_unrelated_pairs(copy_alignments, ref_pairs, capsys):
    worst_true = min(_score(copy_alignments[c.name][c.source]) for c in CASES)
    best_copy_vs_other = max(
        _score(x) for c in CASES for ref, x in copy_alignments[c.name].items() if ref != c.source
    )
    best_pair = max(_score(x) for x in ref_pairs.values())
    with capsys.disabled():
        print(
            f"\nvideo DNA margin: worst true copy {worst_true:.3f} > threshold {COPY_THRESHOLD} > "
            f"best copy-vs-other-clip {best_copy_vs_other:.3f}, best distinct-clip pair {best_pair:.3f}"
        )
    assert worst_true >= COPY_THRESHOLD + 0.1
    assert max(best_copy_vs_other, best_pair) <= COPY_THRESHOLD - 0.1


@needs_media
def test_same_strong_watermark_on_unrelated_clips_is_no_copy(tmp_path, refs):
    mark = Edit(watermark="stockmark", duration=7.0)
    a = make_copy(MEDIA / "msrvtt/video9770.mp4", tmp_path / "a.mp4", mark)
    b = make_copy(MEDIA / "demo/askanything_yoga.mp4", tmp_path / "b.mp4", mark)
    query_a, query_b = fingerprint_file(a), fingerprint_file(b)
    stored_a = fingerprint_file(a, fps=1.0, probes=False)
    stored_b = fingerprint_file(b, fps=1.0, probes=False)
    assert align(query_a, refs["video9770"]) is not None
    assert align(query_b, refs["askanything_yoga"]) is not None
    assert align(query_a, stored_b) is None and align(query_b, stored_a) is None
    assert align(stored_a, stored_b) is None


@needs_media
def test_shared_segments_of_a_compilation(tmp_path, refs):
    a, b = MEDIA / "msrvtt/video9770.mp4", MEDIA / "demo/videollama_applausing.mp4"
    mix = make_compilation([(a, 1.0, 4.0), (b, 2.0, 4.0), (a, 6.0, 4.0)], tmp_path / "mix.mp4")
    query = fingerprint_file(mix)
    parts = sorted(shared_segments(query, refs["video9770"]), key=lambda x: x.query_start)
    assert len(parts) == 2, parts
    for part, (q0, r0) in zip(parts, [(0.0, 1.0), (8.0, 6.0)]):
        assert abs(part.query_start - q0) <= 1.0 and abs(part.query_end - (q0 + 4.0)) <= 1.0, part
        assert abs(part.ref_start - r0) <= 1.0 and abs(part.ref_end - (r0 + 4.0)) <= 1.0, part
    other = shared_segments(query, refs["videollama_applausing"])
    assert len(other) == 1 and abs(other[0].query_start - 4.0) <= 1.0 and abs(other[0].ref_start - 2.0) <= 1.0
    assert other[0].score >= COPY_THRESHOLD and not other[0].mirrored
    # the stored side first: the same ranges, seen from the other video
    back = shared_segments(refs["videollama_applausing"], query)
    assert len(back) == 1 and abs(back[0].ref_start - 4.0) <= 1.0 and abs(back[0].query_start - 2.0) <= 1.0


@needs_media
def test_candidate_retrieval_votes_the_original_first(refs, copies):
    rows = [(name, t, code) for name, fp in refs.items() for t, code in index_codes(fp)]
    assert not any(name == "jfk_black" for name, _, _ in rows)  # nothing flat is indexed
    stored = np.unpackbits(np.frombuffer(b"".join(code for _, _, code in rows), np.uint8).reshape(len(rows), -1), 1)
    for case in CASES:
        probes = probe_codes(copies[case.name])
        asked = np.unpackbits(np.frombuffer(b"".join(c for _, c in probes), np.uint8).reshape(len(probes), -1), 1)
        distance = (asked[:, None, :] != stored[None, :, :]).sum(-1)  # what a HAMMING index answers
        hits = []
        for p, row in enumerate(distance):
            for k in np.argsort(row)[:10]:
                hits.append((probes[p][0], rows[k][0], rows[k][1], int(row[k])))
        ranked = vote_candidates(hits, limit=5)
        assert ranked and ranked[0][0] == case.source, (case.name, ranked)


def test_undecodable_file_raises_media_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError) as caught:
        fingerprint_file(junk)
    assert caught.value.problem and str(junk) in str(caught.value)


def test_round_trip_bytes(tmp_path):
    rng = np.random.default_rng(1)
    builder = FingerprintBuilder(probes=True)
    for t in range(6):  # coarse random patterns (fine noise has no low frequencies: it would weigh 0)
        coarse = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
        builder.add(Frame(time=t * 0.5, image=coarse.repeat(10, axis=0).repeat(10, axis=1)))
    builder.add(Frame(time=3.0, image=np.zeros((90, 160, 3), np.uint8)))
    fp = builder.finish(duration=3.5)
    assert fp.codes.shape == (7, CODE_BITS // 8) and fp.codes.dtype == np.uint8 and CODE_BITS % 8 == 0
    assert fp.weights[-1] == 0.0 and fp.weights[0] == 1.0
    for keep in (False, True):
        back = Fingerprint.from_bytes(fp.to_bytes(probes=keep))
        assert back.version == DNA_VERSION and back.duration == pytest.approx(3.5)
        np.testing.assert_array_equal(back.times, fp.times)
        np.testing.assert_array_equal(back.codes, fp.codes)
        np.testing.assert_allclose(back.weights, fp.weights, atol=1 / 255)
        assert (back.probes is not None) == keep
        if keep:
            np.testing.assert_array_equal(back.probes, fp.probes)
    blob = fp.to_bytes()
    with pytest.raises(ValueError, match="version"):
        Fingerprint.from_bytes(blob.replace(DNA_VERSION.encode(), b"x" * len(DNA_VERSION), 1))
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(blob[:-5])
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(b"not a fingerprint")
    empty = FingerprintBuilder().finish()
    assert len(Fingerprint.from_bytes(empty.to_bytes())) == 0 and align(empty, fp) is None


@needs_media
def test_mirrored_code_is_the_code_with_odd_frequencies_flipped():
    frame = next(iter(sample_frames(MEDIA / "msrvtt/video9770.mp4", fps=1.0, max_side=320)))
    plain, flipped = FingerprintBuilder(), FingerprintBuilder()
    plain.add(frame)
    flipped.add(Frame(frame.time, np.ascontiguousarray(frame.image[:, ::-1])))
    mirrored = [v for v in query_variants(plain.finish()) if v.mirrored]
    assert len(mirrored) == 1
    bits = np.unpackbits(mirrored[0].codes ^ flipped.finish().codes).sum()
    assert bits <= 3  # only rounding in the resampling differs


def test_flat_frames_weigh_nothing():
    ramp = np.tile(np.linspace(30, 200, 640, dtype=np.float32)[None, :, None], (360, 1, 3)).astype(np.uint8)
    builder = FingerprintBuilder()
    for k, image in enumerate([np.zeros((360, 640, 3), np.uint8), np.full((360, 640, 3), 200, np.uint8), ramp]):
        builder.add(Frame(float(k), image))
    assert not builder.finish().weights.any()
    assert dna.CODE_BYTES * 8 == CODE_BITS
