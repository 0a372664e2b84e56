"""The catalog on SQLite against PostgreSQL: what a search, a no-op re-index and the job queue pay.

Both catalogs get the same rows (VIDEOS videos of SHOTS shots each). Then it times:
- `get_by_path`, once per file of a no-op re-index;
- `videos_by_ids` and `shots_for` for 200 videos, what a search reads after Milvus answers (the
  shot cache is cleared each time, as a fresh process has it);
- jobs claimed and finished a second, by one and by two processes at once.

PostgreSQL is a real server on loopback (tests/pgserver.py, Debian's binaries, fsync off as in the
tests): this is the cost of the SQL and the round trips, not of a network or a disk.

    python benchmarks/catalog.py --videos 2000 --shots 30 --json /tmp/catalog.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import PgServer  # noqa: E402

from vidseek.store.catalog import Catalog, SegmentRecord  # noqa: E402


def fill(catalog: Catalog, videos: int, shots: int) -> float:
    lib = catalog.create_library("default", "default")
    t0 = time.perf_counter()
    for i in range(videos):
        rec = catalog.start_video(lib, f"/media/v{i:06d}.mp4", 1000 + i, 1.7e9 + i, f"{i:016x}")
        catalog.replace_segments(rec.id, [SegmentRecord(rec.id, k, 2.0 * k, 2.0 * k + 2, f"/t/{rec.id}/{k}.jpg")
                                          for k in range(shots)])
        catalog.finish_video(rec.id, {"speech": {"state": "done", "rows": 3, "version": "v"}}, "e5")
    return time.perf_counter() - t0


def _ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50": round(1000 * statistics.median(s), 3), "p95": round(1000 * s[int(0.95 * (len(s) - 1))], 3)}


def reads(catalog: Catalog, videos: int, rounds: int) -> dict[str, dict[str, float]]:
    lib = catalog.library_named("default", "default")
    by_path = []
    for i in range(0, videos, max(1, videos // rounds)):
        t0 = time.perf_counter()
        catalog.get_by_path(lib.id, f"/media/v{i:06d}.mp4")
        by_path.append(time.perf_counter() - t0)
    search = []
    ids = [v.id for v in catalog.videos("default")]
    for r in range(rounds):
        wanted = ids[(r * 37) % max(1, len(ids) - 200):][:200]
        catalog._shots = type(catalog._shots)()  # a fresh process: nothing cached
        t0 = time.perf_counter()
        found = catalog.videos_by_ids(wanted, "default")
        catalog.shots_for(found.values())
        search.append(time.perf_counter() - t0)
    return {"get_by_path": _ms(by_path), "search_reads_200_videos": _ms(search)}


CLAIMER = """
import sys, time
from pathlib import Path
from vidseek.store.catalog import Catalog
target = sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])
catalog = Catalog(target)
print("ready", flush=True)
sys.stdin.readline()
n = 0
while (job := catalog.claim_job(sys.argv[2])) is not None:
    catalog.update_job(job.id, sys.argv[2], state="done", finished_at=time.time())
    n += 1
print(n, flush=True)
"""


def queue(target: Path | str, jobs: int, workers: int) -> float:
    catalog = Catalog(target)
    lib = catalog.library_named("default", "default", create=True)
    for i in range(jobs):
        catalog.add_job(lib, f"/queue/{workers}/{i}.mp4", None)
    catalog.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(target), f"w{k}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env) for k in range(workers)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.close()
    done = [int(p.stdout.readline()) for p in procs]
    seconds = time.perf_counter() - t0
    for p in procs:
        p.wait(60)
    assert sum(done) == jobs, done
    return round(jobs / seconds, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=2000)
    ap.add_argument("--shots", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out: dict[str, dict] = {}
    with PgServer() as pg, tempfile.TemporaryDirectory() as tmp:
        for name, target in (("sqlite", Path(tmp) / "catalog.sqlite"), ("postgresql", pg.new_database())):
            catalog = Catalog(target)
            fill_s = fill(catalog, args.videos, args.shots)
            row = {"fill_videos_per_s": round(args.videos / fill_s, 1), **reads(catalog, args.videos, args.rounds)}
            catalog.close()
            row["jobs_per_s_1_process"] = queue(target, args.jobs, 1)
            row["jobs_per_s_2_processes"] = queue(target, args.jobs, 2)
            out[name] = row
            print(name, json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
