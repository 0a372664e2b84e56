#!/usr/bin/env python
"""Indexing throughput on Ray (`vidseek index --ray local`) with 1 and 2 workers, side by side with a
local run, on the real clips in ../shared/media.

    python benchmarks/ray_index.py                       # 3 copies of the clips, 2 rounds
    python benchmarks/ray_index.py --copies 1 --runs 1   # quick smoke run
    python benchmarks/ray_index.py --json /tmp/ray.json

Every mode indexes the same files into a fresh data dir, in its own process, all routes but
captions (visual, speech, OCR, title, faces, copies), with a random-weight ViT-B/32 CLIP exported
int8 (`benchmarks/_visual.py`: the cost of a real one; no CLIP weights reach this machine):

- local:      `engine.index(files)`, models on all cores (VIDSEEK_THREADS unset: 2 here);
- ray 1x2:    one Ray worker of 2 CPUs (VIDSEEK_RAY_WORKER_CPUS=2), its models on 2 threads;
- ray 2x1:    two Ray workers of 1 CPU each, their models on 1 thread each;
- local 1t:   a local run with VIDSEEK_THREADS=1, the one-core figure a 1-CPU worker is held to.

The corpus is the clips copied --copies times into separate folders (the catalog keys files by
path, so each copy is indexed). The modes run in a rotating order, --runs rounds. For each run:
whole-process wall time (Python start to exit, Ray started and stopped inside), the index call alone
(for Ray: workers started, their models loaded, every file analysed and written), and video seconds
per wall second. "Per CPU vs local" is throughput per CPU given to the workers against a local run's
throughput per core of this machine: 1.00 = a worker does as much with its CPUs as a local run
does with the same number of cores. Not a test: a shared machine is noisy; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import _visual as visual  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
ROUTES = "visual,speech,ocr,title,face,dna"
MODES = {  # name -> (ray workers or None, worker CPUs, VIDSEEK_THREADS)
    "local": (None, None, None),
    "ray 1x2": (1, 2.0, None),
    "ray 2x1": (2, 1.0, None),
    "local 1t": (None, None, "1"),
}


def corpus(work: Path, copies: int) -> tuple[Path, int, float]:
    """The clips (video files of ../shared/media), copied `copies` times; (folder, files, seconds)."""
    import av

    clips = sorted(MEDIA.glob("*/*.mp4"))
    if not clips:
        sys.exit(f"no clips under {MEDIA}: this benchmark reads ../shared/media beside the checkout")
    seconds = 0.0
    for clip in clips:
        with av.open(str(clip)) as c:
            seconds += (c.duration or 0) / 1e6
    root = work / f"corpus-x{copies}"
    if not (root / ".built").exists():
        shutil.rmtree(root, ignore_errors=True)
        for k in range(copies):
            folder = root / f"copy{k}"
            folder.mkdir(parents=True)
            for clip in clips:
                shutil.copy(clip, folder / clip.name)
        (root / ".built").write_text("ok")
    return root, len(clips) * copies, seconds * copies


def child(mode: str, data: str, folder: str, model: str) -> None:
    """One run, in this process: prints a JSON line."""
    sys.path.insert(0, os.environ.get("BENCH_CODE", str(REPO)))  # ahead of this checkout (--code)
    import vidseek

    workers, cpus, _ = MODES[mode]
    t0 = time.perf_counter()
    overrides = {"visual_model": model, "routes": ROUTES.split(",")}
    with vidseek.open(data, **overrides) as engine:
        t_open = time.perf_counter()
        if workers is None:
            report = engine.index([folder])
            t_ray = 0.0
        else:
            from vidseek.index.cluster import RayCluster

            with RayCluster.connect("local") as cluster:
                t_ray = time.perf_counter() - t_open
                report = engine.index([folder], ray=cluster)
        t_index = time.perf_counter() - t_open - t_ray
    print(json.dumps({"mode": mode, "indexed": report.count("indexed"), "failed": len(report.failed),
                      "unavailable": report.unavailable, "open_s": t_open - t0, "ray_start_s": t_ray,
                      "index_s": t_index, "code": str(Path(vidseek.__file__).parents[1])}))


def run(mode: str, work: Path, folder: Path, model: Path, code: Path = REPO) -> dict:
    workers, cpus, threads = MODES[mode]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEEK_")}
    env.update(VIDSEEK_RESIDENT_IDLE="0", NO_COLOR="1", PYTHONPATH=str(code), BENCH_CODE=str(code))
    if workers is not None:
        env.update(VIDSEEK_RAY_WORKERS=str(workers), VIDSEEK_RAY_WORKER_CPUS=str(cpus))
    if threads is not None:
        env["VIDSEEK_THREADS"] = threads
    data = Path(tempfile.mkdtemp(prefix="ray-bench-", dir=work))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(data), str(folder), str(model)],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    shutil.rmtree(data, ignore_errors=True)
    if done.returncode != 0:
        sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def cpus(mode: str) -> float:
    workers, per, _ = MODES[mode]
    return workers * per if workers is not None else float(os.cpu_count() or 1)


def summarize(results: dict[str, list[dict]], seconds: float) -> None:
    """The medians as a Markdown table; efficiency = throughput per CPU given, against a local run's."""
    med = {m: {k: statistics.median(o[k] for o in runs) for k in ("wall_s", "index_s", "ray_start_s")}
           for m, runs in results.items() if runs}
    print("\n| mode | CPUs | whole process s | index call s | video s per wall s | vs local | per CPU vs local |")
    print("|---|---|---|---|---|---|---|")
    base = med.get("local", {}).get("wall_s")
    for m, v in med.items():
        w = v["wall_s"]
        ratio = f"{base / w:.2f}" if base else "-"
        per_cpu = f"{base / w * cpus('local') / cpus(m):.2f}" if base else "-"
        print(f"| {m} | {cpus(m):g} | {w:.1f} | {v['index_s']:.1f} | {seconds / w:.1f}x | {ratio} | {per_cpu} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES), help="comma list of: " + ", ".join(MODES))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-bench")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--code", type=Path, default=REPO,
                    help="index with the vidseek in this checkout (an A/B of the local mode against another commit)")
    ap.add_argument("--summary", type=Path, help="print the table of an earlier --json and stop")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.summary:
        saved = json.loads(args.summary.read_text())
        summarize(saved["runs"], saved["seconds"])
        return
    if args.child:
        child(*args.child)
        return
    modes = [m.strip() for m in args.modes.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    model, note = visual.random_vitb32(args.work)
    if model is None:
        sys.exit(note)
    folder, files, seconds = corpus(args.work, args.copies)
    print(f"corpus: {files} files, {seconds:.0f} s of video ({folder}); visual model: {note}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(args.runs):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            out = run(mode, args.work, folder, model, args.code.resolve())
            if out["indexed"] != files or out["failed"]:
                sys.exit(f"{mode}: indexed {out['indexed']} of {files}, failed {out['failed']}")
            results[mode].append(out)
            print(f"  round {r + 1} {mode:9s} wall {out['wall_s']:6.1f} s  index {out['index_s']:6.1f} s  "
                  f"ray start {out['ray_start_s']:4.1f} s  load {os.getloadavg()[0]:.1f}", flush=True)

    summarize(results, seconds)
    if args.json:
        args.json.write_text(json.dumps({"files": files, "seconds": seconds, "runs": results},
                                        indent=2))


if __name__ == "__main__":
    main()
