#!/usr/bin/env python
"""Indexing with every route against bare faster-whisper on the same audio, side by side.

    python benchmarks/asr_ratio.py                     # the 10-minute bench video, 2 pairs (a b a b)
    python benchmarks/asr_ratio.py --pairs 3 --json /tmp/ratio.json
    python benchmarks/asr_ratio.py --asr-batch 8 --overlap false,true   # speech after the frames / beside them

Target (issue 12 §3): all routes take no longer than bare ASR, a ratio <= 1.0. Absolute "x realtime"
figures drift between machines and hours, so both runs alternate in one invocation and the ratio of
each pair is reported, with the mean.

- run a, bare ASR: faster-whisper's own `WhisperModel.transcribe` of the video file (it decodes the
  audio itself), Whisper base int8, VAD on, beam 1, `cpu_threads` = the machine's cores, every
  segment consumed; the model load is not timed.
- run b, vidseek: `lib.index([video])` into a fresh data dir with every route there is a model for
  (visual with a random-weight ViT-B/32 int8 export, ocr, speech, title, face, dna), models and the
  store loaded first and not timed (bench.py's index child, `preload`), once per combination of
  --asr-batch (VIDSEEK_ASR_BATCH_SIZE) and --overlap (VIDSEEK_INDEX_OVERLAP). Its per-stage seconds
  are printed: they say where the time above bare ASR goes. With overlap the speech stage runs
  beside the others, so the stages add up to more than the total.

Both run in child processes, one at a time. The video and the visual model come from bench.py's
cache (`--work`, default /tmp/vidseek-bench). Not a test: a shared machine is noisy; the load average
is printed with each run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import _visual as visual  # noqa: E402
from benchmarks._synthvideo import bench_video  # noqa: E402
from benchmarks.bench import STAGES, run_child, table  # noqa: E402

TARGET_RATIO = 1.0
ROUTES = ("visual", "ocr", "speech", "title", "face", "dna")


def child_bare(spec_path: str) -> int:
    """Runs in a child process: bare faster-whisper on the video; writes its timings as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    from faster_whisper import WhisperModel

    from vidseek.analyze.asr import ensure_whisper_base
    from vidseek.settings import Settings

    folder = ensure_whisper_base(Settings().model_dir)
    t = time.perf_counter()
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=spec["threads"])
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    segments, info = model.transcribe(spec["video"], beam_size=1, vad_filter=True)
    texts = [s.text for s in segments]
    asr_s = time.perf_counter() - t
    Path(spec["out"]).write_text(json.dumps({"load_s": load_s, "asr_s": asr_s, "segments": len(texts),
                                             "chars": sum(len(x) for x in texts), "language": info.language}))
    return 0


def run_bare(work: Path, name: str, video: Path, threads: int) -> dict[str, Any]:
    out = work / f"{name}.result.json"
    spec = work / f"{name}.spec.json"
    spec.write_text(json.dumps({"video": str(video), "threads": threads, "out": str(out)}))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, __file__, "--child-bare", str(spec)], env=env, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"bare ASR child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def available(model: Path | None) -> list[str]:
    routes = [r for r in ROUTES if r != "visual" or model is not None]
    if importlib.util.find_spec("dlib") is None:  # the face route's detector ("vidseek[faces]")
        routes.remove("face")
    return routes


def _label(batch: int, overlap: bool) -> str:
    return f"batch {batch}, {'overlap' if overlap else 'serial'}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/vidseek-bench"), help="bench.py's cache + data dirs")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the bench video")
    p.add_argument("--pairs", type=int, default=2, help="a/b pairs, run in the order a b a b ...")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="faster-whisper cpu_threads (run a)")
    p.add_argument("--asr-batch", default="8", help="comma list of VIDSEEK_ASR_BATCH_SIZE values, one run b each "
                   "per pair (e.g. 0,8: one window at a time, as before, and batched); the exit code judges the last")
    p.add_argument("--overlap", default="true", help="comma list of VIDSEEK_INDEX_OVERLAP values (true, false), "
                   "crossed with --asr-batch")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    p.add_argument("--child-bare", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_bare:
        return child_bare(args.child_bare)
    work = args.work.expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"vidseek all routes vs bare ASR: {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} cpus, loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    video, manifest = bench_video(work, args.minutes, log=print)
    duration = manifest["seconds"]
    model, note = visual.random_vitb32(work)
    routes = available(model)
    print(f"video {video} ({duration:.0f} s, {manifest['speech_seconds']:.0f} s of speech); visual model {model} "
          f"({note}); routes {','.join(routes)}")
    overrides: dict[str, Any] = {"routes": routes, "visual_model": str(model)}
    batches = [int(b) for b in args.asr_batch.split(",") if b.strip()]
    overlaps = [o.strip().lower() in ("1", "true", "yes", "on") for o in args.overlap.split(",") if o.strip()]
    variants = [(batch, overlap) for batch in batches for overlap in overlaps]
    pairs: list[dict[str, Any]] = []
    for i in range(args.pairs):
        bare = run_bare(work, f"ratio-bare-{i}", video, args.threads)
        load_a = os.getloadavg()[0]
        print(f"  pair {i + 1} a (bare faster-whisper): {bare['asr_s']:.1f} s, {bare['segments']} segments "
              f"(load1 {load_a:.2f})")
        for batch, overlap in variants:
            name = f"ratio-index-{i}-asr{batch}-{'overlap' if overlap else 'serial'}"
            data = work / name
            shutil.rmtree(data, ignore_errors=True)
            run = run_child(work, name, {"data": str(data), "video": str(video), "preload": True,
                                         "overrides": dict(overrides, asr_batch_size=batch,
                                                           index_overlap=overlap)})
            shutil.rmtree(data, ignore_errors=True)
            result = run["result"] or {}
            if result.get("status") not in ("indexed", "updated"):
                raise RuntimeError(f"the index run did not index the video: {result}")
            ratio = run["index_s"] / bare["asr_s"]
            pairs.append({"pair": i + 1, "asr_batch_size": batch, "index_overlap": overlap, "bare": bare,
                          "index_s": run["index_s"],
                          "stages": result["stage_seconds"], "ratio": ratio, "unavailable": run["unavailable"],
                          "load1": [load_a, os.getloadavg()[0]]})
            print(f"  pair {i + 1} b (vidseek, all routes, {_label(batch, overlap)}): {run['index_s']:.1f} s "
                  f"-> ratio {ratio:.2f} (load1 {os.getloadavg()[0]:.2f}); "
                  f"unavailable: {run['unavailable'] or 'none'}")
    names = [s for s in STAGES if any(s in p_["stages"] for p_ in pairs)]
    names += sorted({k for p_ in pairs for k in p_["stages"]} - set(names))
    rows = [[f"stage {s}"] + [f"{p_['stages'].get(s, 0.0):.1f}" for p_ in pairs] for s in names]
    rows.append(["vidseek lib.index() total"] + [f"{p_['index_s']:.1f}" for p_ in pairs])
    rows.append(["bare faster-whisper (same pair)"] + [f"{p_['bare']['asr_s']:.1f}" for p_ in pairs])
    rows.append(["ratio (target <= 1.0)"] + [f"{p_['ratio']:.2f}" for p_ in pairs])
    print()
    table(["seconds"] + [f"{p_['pair']}: {_label(p_['asr_batch_size'], p_['index_overlap'])}" for p_ in pairs], rows)
    mean_bare = statistics.mean({id(p_["bare"]): p_["bare"]["asr_s"] for p_ in pairs}.values())
    summary = {}
    for batch, overlap in variants:
        mean_index = statistics.mean(p_["index_s"] for p_ in pairs
                                     if (p_["asr_batch_size"], p_["index_overlap"]) == (batch, overlap))
        summary[_label(batch, overlap)] = ratio = mean_index / mean_bare
        print(f"means, {_label(batch, overlap)}: vidseek {mean_index:.1f} s, bare ASR {mean_bare:.1f} s: "
              f"ratio {ratio:.2f} ({'met' if ratio <= TARGET_RATIO else 'NOT met'}: target <= {TARGET_RATIO:g}); "
              f"{duration / mean_index:.1f}x and {duration / mean_bare:.1f}x realtime")
    print(f"took {time.perf_counter() - t0:.0f} s; loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"video": str(video), "duration": duration, "routes": routes,
                                         "pairs": pairs, "ratio": summary}, indent=1))
    return 0 if summary[_label(*variants[-1])] <= TARGET_RATIO else 1  # the last combination is the one judged


if __name__ == "__main__":
    sys.exit(main())
